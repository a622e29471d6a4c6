//! Flow 7, settings:
//!
//! - `GET /v1/mfa` -> the overview a security page shows
//! - `PUT /v1/mfa/policy` `{remember?, default_method?}` (step-up) -> 200 the new policy
//! - `GET /v1/mfa/devices` -> the live remembered devices
//! - `DELETE /v1/mfa/devices` -> 204 (all), `DELETE /v1/mfa/devices/{device_id}` -> 204
//! - `GET /v1/mfa/events?limit=&cursor=` -> the user's security events, newest first
//! - `DELETE /v1/mfa` `{challenge_id, method, code}` (step-up and a current code) -> 204 on
//!   trial, 409 `mfa_required` on paid

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::devices::{self, DeviceView};
use shared::http::{
    caller, error_response, event_page_query, json, json_body, no_content, path_param,
    require_step_up, route_key,
};
use shared::login::Method;
use shared::ports::RememberPolicy;
use shared::settings::{self, PolicyChange};
use shared::types::{ChallengeId, DeviceId};
use shared::{App, Error, Result};

pub const ROUTES: &[&str] = &[
    "GET /v1/mfa",
    "DELETE /v1/mfa",
    "PUT /v1/mfa/policy",
    "GET /v1/mfa/devices",
    "DELETE /v1/mfa/devices",
    "DELETE /v1/mfa/devices/{device_id}",
    "GET /v1/mfa/events",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("GET /v1/mfa") => overview(app, &req).await,
        Some("DELETE /v1/mfa") => disable(app, &req).await,
        Some("PUT /v1/mfa/policy") => set_policy(app, &req).await,
        Some("GET /v1/mfa/devices") => list_devices(app, &req).await,
        Some("DELETE /v1/mfa/devices") => revoke_all(app, &req).await,
        Some("DELETE /v1/mfa/devices/{device_id}") => revoke(app, &req).await,
        Some("GET /v1/mfa/events") => events(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

async fn overview(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    Ok(json(200, &settings::overview(app, &caller).await?))
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RememberIn {
    #[serde(rename = "device_30_days")]
    Device30Days,
    EveryLogin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    #[serde(default)]
    remember: Option<RememberIn>,
    #[serde(default)]
    default_method: Option<Method>,
}

async fn set_policy(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    require_step_up(app, req, &caller).await?;
    let body: Policy = json_body(req)?;
    let change = PolicyChange {
        remember: body.remember.map(|r| match r {
            RememberIn::Device30Days => RememberPolicy::Device30Days,
            RememberIn::EveryLogin => RememberPolicy::EveryLogin,
        }),
        default_method: body.default_method,
    };
    let now = settings::set_policy(app, &caller, change).await?;
    Ok(json(
        200,
        &PolicyView {
            policy: now.remember.as_str(),
            default_method: now.default_method.map(|m| m.as_str()),
        },
    ))
}

/// The policy as it now is.
#[derive(Serialize)]
struct PolicyView {
    policy: &'static str,
    default_method: Option<&'static str>,
}

/// The live remembered devices.
#[derive(Serialize)]
struct Devices {
    devices: Vec<DeviceView>,
}

async fn list_devices(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let devices: Vec<DeviceView> = devices::list(app, &caller.user)
        .await?
        .iter()
        .map(DeviceView::of)
        .collect();
    Ok(json(200, &Devices { devices }))
}

async fn revoke(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = DeviceId::parse(&path_param(req, "device_id")?, "device_id")?;
    devices::revoke(app, &caller, &id).await?;
    Ok(no_content())
}

async fn revoke_all(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    devices::revoke_all(app, &caller).await?;
    Ok(no_content())
}

async fn events(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (limit, cursor) = event_page_query(req)?;
    let page = settings::events(app, &caller.user, limit, cursor.as_deref()).await?;
    Ok(json(200, &page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    challenge_id: String,
    method: Method,
    code: String,
}

async fn disable(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    settings::ensure_may_disable(&caller)?;
    require_step_up(app, req, &caller).await?;
    let body: Disable = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    settings::disable(app, &caller, &id, body.method, &body.code).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "two-factor authentication turned off"
    );
    Ok(no_content())
}
