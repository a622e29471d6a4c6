//! Flow 8, self-service reset (seed 004), for the owner of a paid account who lost every
//! factor: an emailed code, then a waiting period during which the request can be cancelled.
//! The shapes are in `mfa_http::api::resets`.

use lambda_http::{Body, Request, Response};
use mfa_domain::clock::rfc3339;
use mfa_domain::self_reset;
use mfa_domain::types::{ChallengeId, OtpCode};
use mfa_domain::{App, Error, Result};
use mfa_http::api::common::{CodeIn, Empty};
use mfa_http::api::error::ErrorBody;
use mfa_http::api::resets::{ResetConfirmed, ResetRequested};
use mfa_http::{caller, error_response, json, json_body, no_content, path_param, route_key};

pub const ROUTES: &[&str] = &[
    "POST /v1/mfa/reset-requests",
    "POST /v1/mfa/reset-requests/{request_id}/confirm",
    "DELETE /v1/mfa/reset-requests/{request_id}",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(request, confirm, cancel))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/mfa/reset-requests") => request(app, &req).await,
        Some("POST /v1/mfa/reset-requests/{request_id}/confirm") => confirm(app, &req).await,
        Some("DELETE /v1/mfa/reset-requests/{request_id}") => cancel(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Asks to reset one's own 2FA: a code goes to the account email (at most 3 a day).
#[utoipa::path(post, path = "/v1/mfa/reset-requests", operation_id = "request_self_reset", tag = "resets",
    request_body = Empty,
    responses(
        (status = 202, description = "The code is on its way.", body = ResetRequested),
        (status = 403, description = "Not the owner of a paid account (`forbidden`).", body = ErrorBody),
        (status = 409, description = "A reset is already waiting, or there is nothing to reset (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many requests today (`rate_limited`).", body = ErrorBody),
    ))]
async fn request(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let Empty {} = json_body(req)?;
    let sent = self_reset::request(app, &caller).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "self-service reset code emailed"
    );
    Ok(json(
        202,
        &ResetRequested {
            request_id: sent.challenge_id.as_ref().to_owned(),
            delivery: "email",
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

/// Confirms the request with the emailed code: the waiting period starts.
#[utoipa::path(post, path = "/v1/mfa/reset-requests/{request_id}/confirm", operation_id = "confirm_self_reset", tag = "resets",
    request_body = CodeIn,
    params(("request_id" = String, Path, format = "uuid", description = "The request.")),
    responses(
        (status = 202, description = "Confirmed; it completes at `completes_at` unless cancelled.", body = ResetConfirmed),
        (status = 403, description = "Not the owner of a paid account (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such request of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already confirmed, or another reset is waiting (`conflict`).", body = ErrorBody),
        (status = 410, description = "The code expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries (`too_many_attempts`).", body = ErrorBody),
    ))]
async fn confirm(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "request_id")?, "request_id")?;
    let body: CodeIn = json_body(req)?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let completes_at = self_reset::confirm(app, &caller, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "self-service reset confirmed");
    Ok(json(
        202,
        &ResetConfirmed {
            request_id: id.as_ref().to_owned(),
            completes_at: rfc3339(completes_at),
        },
    ))
}

/// Cancels a waiting reset: it never completes.
#[utoipa::path(delete, path = "/v1/mfa/reset-requests/{request_id}", operation_id = "cancel_self_reset", tag = "resets",
    params(("request_id" = String, Path, format = "uuid", description = "The request.")),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 404, description = "No such waiting request of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "It already completed or was cancelled (`conflict`).", body = ErrorBody),
    ))]
async fn cancel(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "request_id")?, "request_id")?;
    self_reset::cancel(app, &caller, &id).await?;
    tracing::info!(user = caller.user.as_ref(), "self-service reset cancelled");
    Ok(no_content())
}
