//! Flow 2, authenticator app by QR code:
//!
//! - `POST /v1/factors/totp` `{label?}` (step-up) -> 201 pending factor with secret, URI and QR
//! - `POST /v1/factors/totp/{factor_id}/verify` `{code}` -> 200 `{factor, recovery_code?}`
//! - `DELETE /v1/factors/totp/{factor_id}` (step-up) -> 204

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::factors::{self, VerifiedView};
use shared::http::{
    caller, error_response, json, json_body, no_content, path_param, require_step_up, route_key,
};
use shared::ports::FactorKind;
use shared::totp;
use shared::types::{FactorId, Label, OtpCode};
use shared::{App, Error, Result};

pub const ROUTES: &[&str] = &[
    "POST /v1/factors/totp",
    "POST /v1/factors/totp/{factor_id}/verify",
    "DELETE /v1/factors/totp/{factor_id}",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/factors/totp") => start(app, &req).await,
        Some("POST /v1/factors/totp/{factor_id}/verify") => verify(app, &req).await,
        Some("DELETE /v1/factors/totp/{factor_id}") => delete(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    label: Option<String>,
}

#[derive(Serialize)]
struct Enrollment {
    factor_id: String,
    status: &'static str,
    secret: String,
    otpauth_uri: String,
    qr_svg: String,
    qr_png_base64: String,
    digits: usize,
    period: i64,
    algorithm: &'static str,
    expires_in: i64,
}

async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: Start = json_body(req)?;
    let label = body.label.as_deref().map(Label::parse).transpose()?;
    require_step_up(app, req, &caller).await?;
    let e = factors::start_totp(app, &caller, label).await?;
    Ok(json(
        201,
        &Enrollment {
            factor_id: e.factor_id.as_ref().to_owned(),
            status: "pending",
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
            qr_png_base64: e.qr_png_base64,
            digits: totp::DIGITS,
            period: totp::PERIOD_SECS,
            algorithm: "SHA1",
            expires_in: e.expires_in,
        },
    ))
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
    let code = OtpCode::parse(&body.code, totp::DIGITS)?;
    let done = factors::verify_totp(app, &caller, &id, &code).await?;
    Ok(json(200, &VerifiedView::of(done, None)))
}

async fn delete(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    require_step_up(app, req, &caller).await?;
    factors::remove(app, &caller, &id, FactorKind::Totp).await?;
    Ok(no_content())
}
