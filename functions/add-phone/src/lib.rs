//! Flow 3, phone by SMS or voice:
//!
//! - `POST /v1/factors/phone` `{phone_number, channel}` (step-up) -> 201 pending, code sent
//! - `POST /v1/factors/phone/{factor_id}/resend` `{channel?}` -> 202 ("receive a call instead")
//! - `POST /v1/factors/phone/{factor_id}/verify` `{code}` -> 200 `{factor, recovery_code?}`
//! - `DELETE /v1/factors/phone/{factor_id}` (step-up) -> 204 ("Reset" next to the number)

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::factors::{self, VerifiedView};
use shared::http::wire::ChannelIn;
use shared::http::{
    caller, error_response, json, json_body, no_content, path_param, require_step_up, route_key,
};
use shared::phone::PhoneNumber;
use shared::phones::{self, PhoneEnrollment};
use shared::ports::{Channel, FactorKind};
use shared::types::{FactorId, OtpCode};
use shared::{App, Error, Result};

pub const ROUTES: &[&str] = &[
    "POST /v1/factors/phone",
    "POST /v1/factors/phone/{factor_id}/resend",
    "POST /v1/factors/phone/{factor_id}/verify",
    "DELETE /v1/factors/phone/{factor_id}",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/factors/phone") => start(app, &req).await,
        Some("POST /v1/factors/phone/{factor_id}/resend") => resend(app, &req).await,
        Some("POST /v1/factors/phone/{factor_id}/verify") => verify(app, &req).await,
        Some("DELETE /v1/factors/phone/{factor_id}") => delete(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    phone_number: String,
    channel: ChannelIn,
}

#[derive(Serialize)]
struct Pending {
    factor_id: String,
    status: &'static str,
    phone: String,
    channel: &'static str,
    expires_in: i64,
}

impl From<PhoneEnrollment> for Pending {
    fn from(e: PhoneEnrollment) -> Self {
        Pending {
            factor_id: e.factor_id.as_ref().to_owned(),
            status: "pending",
            phone: e.masked,
            channel: e.channel.as_str(),
            expires_in: e.expires_in,
        }
    }
}

async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: Start = json_body(req)?;
    let channel = Channel::from(body.channel);
    let phone = PhoneNumber::parse(&body.phone_number, channel, &app.config.phone_policy)?;
    require_step_up(app, req, &caller).await?;
    let started = phones::start(app, &caller, phone, channel).await?;
    Ok(json(201, &Pending::from(started)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resend {
    channel: Option<ChannelIn>,
}

async fn resend(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: Resend = json_body(req)?;
    let sent = phones::resend(app, &caller, &id, body.channel.map(Channel::from)).await?;
    Ok(json(202, &Pending::from(sent)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    code: String,
}

async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: Verify = json_body(req)?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let done = phones::verify(app, &caller, &id, &code).await?;
    let masked = phones::masked(app.keys().await?, &done.factor)?;
    Ok(json(200, &VerifiedView::of(done, Some(masked))))
}

async fn delete(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    require_step_up(app, req, &caller).await?;
    factors::remove(app, &caller, &id, FactorKind::Phone).await?;
    Ok(no_content())
}
