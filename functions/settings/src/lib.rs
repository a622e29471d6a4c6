//! Flow 7, settings: the security page, the login policy, remembered devices, the event trail,
//! and turning 2FA off (trial accounts only). The shapes are in `mfa_http::api::settings`.

use lambda_http::{Body, Request, Response};
use mfa_domain::devices;
use mfa_domain::login::Method;
use mfa_domain::settings::{self, PolicyChange};
use mfa_domain::types::{ChallengeId, DeviceId};
use mfa_domain::{App, Error, Result};
use mfa_http::api::common::{answer, StepUpHeader};
use mfa_http::api::error::ErrorBody;
use mfa_http::api::settings::{
    DeviceView, Devices, Disable, EventPageView, OverviewView, PolicyIn, PolicyView,
};
use mfa_http::{
    caller, error_response, event_page_query, json, json_body, no_content, path_param,
    require_step_up, route_key,
};

pub const ROUTES: &[&str] = &[
    "GET /v1/mfa",
    "DELETE /v1/mfa",
    "PUT /v1/mfa/policy",
    "GET /v1/mfa/devices",
    "DELETE /v1/mfa/devices",
    "DELETE /v1/mfa/devices/{device_id}",
    "GET /v1/mfa/events",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    overview,
    disable,
    set_policy,
    list_devices,
    revoke_all,
    revoke,
    events
))]
pub struct Api;

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

/// What the user's security page shows.
#[utoipa::path(get, path = "/v1/mfa", operation_id = "overview", tag = "settings",
    responses((status = 200, description = "The overview.", body = OverviewView)))]
async fn overview(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let overview = settings::overview(app, &caller).await?;
    Ok(json(200, &OverviewView::from(overview)))
}

/// Changes the remember policy and/or the default login method.
#[utoipa::path(put, path = "/v1/mfa/policy", operation_id = "set_policy", tag = "settings",
    request_body = PolicyIn,
    params(StepUpHeader),
    responses(
        (status = 200, description = "The policy as it now is.", body = PolicyView),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 409, description = "The default method is not set up (`conflict`).", body = ErrorBody),
    ))]
async fn set_policy(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    require_step_up(app, req, &caller).await?;
    let body: PolicyIn = json_body(req)?;
    let change = PolicyChange {
        remember: body.remember.map(Into::into),
        default_method: body.default_method.map(Method::from),
    };
    let now = settings::set_policy(app, &caller, change).await?;
    Ok(json(200, &PolicyView::from(now)))
}

/// The live remembered devices, most recently used first.
#[utoipa::path(get, path = "/v1/mfa/devices", operation_id = "list_devices", tag = "settings",
    responses((status = 200, description = "The devices.", body = Devices)))]
async fn list_devices(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let devices: Vec<DeviceView> = devices::list(app, &caller.user)
        .await?
        .iter()
        .map(DeviceView::of)
        .collect();
    Ok(json(200, &Devices { devices }))
}

/// Forgets one remembered device: its next login asks for a code.
#[utoipa::path(delete, path = "/v1/mfa/devices/{device_id}", operation_id = "forget_device", tag = "settings",
    params(("device_id" = String, Path, format = "uuid", description = "The device.")),
    responses(
        (status = 204, description = "Forgotten."),
        (status = 404, description = "No such device of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn revoke(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = DeviceId::parse(&path_param(req, "device_id")?, "device_id")?;
    devices::revoke(app, &caller, &id).await?;
    Ok(no_content())
}

/// Forgets every remembered device.
#[utoipa::path(delete, path = "/v1/mfa/devices", operation_id = "forget_all_devices", tag = "settings",
    responses((status = 204, description = "All forgotten.")))]
async fn revoke_all(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    devices::revoke_all(app, &caller).await?;
    Ok(no_content())
}

/// The user's security events, newest first.
#[utoipa::path(get, path = "/v1/mfa/events", operation_id = "list_events", tag = "settings",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before."),
    ),
    responses((status = 200, description = "A page of events.", body = EventPageView)))]
async fn events(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (limit, cursor) = event_page_query(req)?;
    let page = settings::events(app, &caller.user, limit, cursor.as_deref()).await?;
    Ok(json(200, &EventPageView::from(page)))
}

/// Turns 2FA off (trial accounts only), proved by a current code on a login challenge.
///
/// Every factor, the recovery code and every remembered device go.
#[utoipa::path(delete, path = "/v1/mfa", operation_id = "turn_off", tag = "settings",
    request_body = Disable,
    params(StepUpHeader),
    responses(
        (status = 204, description = "Two-factor authentication is off."),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such challenge of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "A paid account, or an organisation that requires 2FA (`mfa_required`), or 2FA is already off (`conflict`).", body = ErrorBody),
        (status = 410, description = "The challenge expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries or guesses, or the second step is locked.", body = ErrorBody),
    ))]
async fn disable(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    settings::ensure_may_disable(&caller)?;
    require_step_up(app, req, &caller).await?;
    let body: Disable = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let answer = answer(body.method, body.code, body.credential)?;
    settings::disable(app, &caller, &id, Method::from(body.method), answer).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "two-factor authentication turned off"
    );
    Ok(no_content())
}
