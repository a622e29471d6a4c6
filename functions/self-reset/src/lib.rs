//! Flow 8, self-service reset (seed 004), for the owner of a paid account who lost every factor:
//!
//! - `POST /v1/mfa/reset-requests` -> 202 `{request_id, delivery:"email", to, expires_in}`
//!   (emails a code; at most 3 a day)
//! - `POST /v1/mfa/reset-requests/{request_id}/confirm` `{code}` -> 202 `{request_id,
//!   completes_at}`: the waiting period starts
//! - `DELETE /v1/mfa/reset-requests/{request_id}` -> 204: cancelled, it never completes

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::clock::rfc3339;
use shared::http::{caller, error_response, json, json_body, no_content, path_param, route_key};
use shared::self_reset;
use shared::types::{ChallengeId, OtpCode};
use shared::{App, Error, Result};

pub const ROUTES: &[&str] = &[
    "POST /v1/mfa/reset-requests",
    "POST /v1/mfa/reset-requests/{request_id}/confirm",
    "DELETE /v1/mfa/reset-requests/{request_id}",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/mfa/reset-requests") => request(app, &req).await,
        Some("POST /v1/mfa/reset-requests/{request_id}/confirm") => confirm(app, &req).await,
        Some("DELETE /v1/mfa/reset-requests/{request_id}") => cancel(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {}

async fn request(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let Start {} = json_body(req)?;
    let sent = self_reset::request(app, &caller).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "self-service reset code emailed"
    );
    Ok(json(
        202,
        &Requested {
            request_id: sent.challenge_id.as_ref().to_owned(),
            delivery: "email",
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

/// A request started: its code went to the account email.
#[derive(Serialize)]
struct Requested {
    request_id: String,
    delivery: &'static str,
    to: String,
    expires_in: i64,
}

/// A request confirmed: when the reset takes effect unless cancelled.
#[derive(Serialize)]
struct Confirmed {
    request_id: String,
    completes_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    code: String,
}

async fn confirm(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "request_id")?, "request_id")?;
    let body: Confirm = json_body(req)?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let completes_at = self_reset::confirm(app, &caller, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "self-service reset confirmed");
    Ok(json(
        202,
        &Confirmed {
            request_id: id.as_ref().to_owned(),
            completes_at: rfc3339(completes_at),
        },
    ))
}

async fn cancel(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "request_id")?, "request_id")?;
    self_reset::cancel(app, &caller, &id).await?;
    tracing::info!(user = caller.user.as_ref(), "self-service reset cancelled");
    Ok(no_content())
}
