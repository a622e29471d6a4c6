//! Flow 2, authenticator app by QR code. The shapes are in `mfa_http::api::factors`.

use lambda_http::{Body, Request, Response};
use mfa_domain::model::FactorKind;
use mfa_domain::totp;
use mfa_domain::types::{FactorId, Label, OtpCode};
use mfa_domain::{factors, App, Error, Result};
use mfa_http::api::common::{CodeIn, StepUpHeader};
use mfa_http::api::error::ErrorBody;
use mfa_http::api::factors::{FactorView, Rename, StartTotp, TotpPending, Verified};
use mfa_http::{
    caller, error_response, json, json_body, no_content, path_param, rename_factor,
    require_step_up, route_key,
};

pub const ROUTES: &[&str] = &[
    "POST /v1/factors/totp",
    "POST /v1/factors/totp/{factor_id}/verify",
    "PATCH /v1/factors/totp/{factor_id}",
    "DELETE /v1/factors/totp/{factor_id}",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start, verify, rename, delete))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/factors/totp") => start(app, &req).await,
        Some("POST /v1/factors/totp/{factor_id}/verify") => verify(app, &req).await,
        Some("PATCH /v1/factors/totp/{factor_id}") => rename(app, &req).await,
        Some("DELETE /v1/factors/totp/{factor_id}") => delete(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Starts enrolling an authenticator app: a secret and its QR code, shown once.
///
/// The app stays pending until `verify` gets a current code; it lapses after 10 minutes.
#[utoipa::path(post, path = "/v1/factors/totp", operation_id = "start_app", tag = "factors",
    request_body = StartTotp,
    params(StepUpHeader),
    responses(
        (status = 201, description = "A pending app.", body = TotpPending),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 409, description = "At most 5 apps (`conflict`).", body = ErrorBody),
    ))]
async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartTotp = json_body(req)?;
    let label = body.label.as_deref().map(Label::parse).transpose()?;
    require_step_up(app, req, &caller).await?;
    let e = factors::start_totp(app, &caller, label).await?;
    Ok(json(201, &TotpPending::from(e)))
}

/// Confirms a pending app with a current code ("verify and save").
///
/// The first factor also gets the recovery code, shown once.
#[utoipa::path(post, path = "/v1/factors/totp/{factor_id}/verify", operation_id = "verify_app", tag = "factors",
    request_body = CodeIn,
    params(("factor_id" = String, Path, format = "uuid", description = "The pending app.")),
    responses(
        (status = 200, description = "The app is active.", body = Verified),
        (status = 404, description = "No such pending app of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already verified, or the code was already used (`conflict`).", body = ErrorBody),
        (status = 410, description = "The enrollment lapsed (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries (`too_many_attempts`).", body = ErrorBody),
    ))]
async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: CodeIn = json_body(req)?;
    let code = OtpCode::parse(&body.code, totp::DIGITS)?;
    let done = factors::verify_totp(app, &caller, &id, &code).await?;
    Ok(json(200, &Verified::of(done, None)))
}

/// Renames an authenticator app (with a step-up, like every change to the factors).
#[utoipa::path(patch, path = "/v1/factors/totp/{factor_id}", operation_id = "rename_app", tag = "factors",
    request_body = Rename,
    params(("factor_id" = String, Path, format = "uuid", description = "The app."), StepUpHeader),
    responses(
        (status = 200, description = "The app as renamed.", body = FactorView),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such app of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn rename(app: &App, req: &Request) -> Result<Response<Body>> {
    rename_factor(app, req, FactorKind::Totp).await
}

/// Removes an authenticator app. Removing the last factor also removes the recovery code.
#[utoipa::path(delete, path = "/v1/factors/totp/{factor_id}", operation_id = "remove_app", tag = "factors",
    params(("factor_id" = String, Path, format = "uuid", description = "The app."), StepUpHeader),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such app of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn delete(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    require_step_up(app, req, &caller).await?;
    factors::remove(app, &caller, &id, FactorKind::Totp).await?;
    Ok(no_content())
}
