//! Security keys and passkeys (WebAuthn) as a second factor. The shapes are in
//! `mfa_http::api::factors`; a login with a key is in `verify`.

use lambda_http::{Body, Request, Response};
use mfa_domain::model::FactorKind;
use mfa_domain::types::{FactorId, Label};
use mfa_domain::{factors, security_keys, App, Error, Result};
use mfa_http::api::common::StepUpHeader;
use mfa_http::api::error::ErrorBody;
use mfa_http::api::factors::{FactorView, KeyPending, Rename, StartKey, Verified, VerifyKey};
use mfa_http::{
    caller, error_response, json, json_body, no_content, path_param, rename_factor,
    require_step_up, route_key,
};

pub const ROUTES: &[&str] = &[
    "POST /v1/factors/webauthn",
    "POST /v1/factors/webauthn/{factor_id}/verify",
    "PATCH /v1/factors/webauthn/{factor_id}",
    "DELETE /v1/factors/webauthn/{factor_id}",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start, verify, rename, delete))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/factors/webauthn") => start(app, &req).await,
        Some("POST /v1/factors/webauthn/{factor_id}/verify") => verify(app, &req).await,
        Some("PATCH /v1/factors/webauthn/{factor_id}") => rename(app, &req).await,
        Some("DELETE /v1/factors/webauthn/{factor_id}") => delete(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn factor_id(req: &Request) -> Result<FactorId> {
    FactorId::parse(&path_param(req, "factor_id")?, "factor_id")
}

/// Starts adding a security key or passkey: the options for `navigator.credentials.create`.
///
/// The key stays pending until `verify` gets the browser's response; it lapses after 10
/// minutes. The user's keys are excluded, so the same key is not registered twice.
#[utoipa::path(post, path = "/v1/factors/webauthn", operation_id = "start_security_key", tag = "factors",
    request_body = StartKey,
    params(StepUpHeader),
    responses(
        (status = 201, description = "A pending key.", body = KeyPending),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`), or the service offers no security keys (`forbidden`).", body = ErrorBody),
        (status = 409, description = "At most 10 keys (`conflict`).", body = ErrorBody),
    ))]
async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartKey = json_body(req)?;
    let label = body.label.as_deref().map(Label::parse).transpose()?;
    require_step_up(app, req, &caller).await?;
    let e = security_keys::start(app, &caller, label).await?;
    Ok(json(201, &KeyPending::from(e)))
}

/// Verifies a pending key with the browser's response ("verify and save").
///
/// The first factor also gets the recovery code, shown once. A response that does not verify
/// for this site (origin, RP id, signature) uses one of the pending key's 5 tries.
#[utoipa::path(post, path = "/v1/factors/webauthn/{factor_id}/verify", operation_id = "verify_security_key", tag = "factors",
    request_body = VerifyKey,
    params(("factor_id" = String, Path, format = "uuid", description = "The pending key.")),
    responses(
        (status = 200, description = "The key is active.", body = Verified),
        (status = 400, description = "Not a registration response, or one for another ceremony (`invalid_request`); it does not verify (`invalid_credential`, with `attempts_remaining`).", body = ErrorBody),
        (status = 404, description = "No such pending key of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already verified, or this key is registered already (`conflict`).", body = ErrorBody),
        (status = 410, description = "The registration lapsed (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries (`too_many_attempts`).", body = ErrorBody),
    ))]
async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = factor_id(req)?;
    let body: VerifyKey = json_body(req)?;
    let response = security_keys::parse_registration(body.credential)?;
    let done = security_keys::verify(app, &caller, &id, &response).await?;
    Ok(json(200, &Verified::of(done, None)))
}

/// Renames a security key (with a step-up, like every change to the factors).
#[utoipa::path(patch, path = "/v1/factors/webauthn/{factor_id}", operation_id = "rename_security_key", tag = "factors",
    request_body = Rename,
    params(("factor_id" = String, Path, format = "uuid", description = "The key."), StepUpHeader),
    responses(
        (status = 200, description = "The key as renamed.", body = FactorView),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such key of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn rename(app: &App, req: &Request) -> Result<Response<Body>> {
    rename_factor(app, req, FactorKind::Webauthn).await
}

/// Removes a security key. Removing the last factor also removes the recovery code.
#[utoipa::path(delete, path = "/v1/factors/webauthn/{factor_id}", operation_id = "remove_security_key", tag = "factors",
    params(("factor_id" = String, Path, format = "uuid", description = "The key."), StepUpHeader),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such key of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn delete(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = factor_id(req)?;
    require_step_up(app, req, &caller).await?;
    factors::remove(app, &caller, &id, FactorKind::Webauthn).await?;
    Ok(no_content())
}
