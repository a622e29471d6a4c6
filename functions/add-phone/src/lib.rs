//! Flow 3, phone by SMS or voice. The shapes are in `mfa_http::api::factors`.

use lambda_http::{Body, Request, Response};
use mfa_domain::model::{Channel, FactorKind};
use mfa_domain::phone::PhoneNumber;
use mfa_domain::phones;
use mfa_domain::types::{FactorId, OtpCode};
use mfa_domain::{factors, App, Error, Result};
use mfa_http::api::common::{CodeIn, StepUpHeader};
use mfa_http::api::error::ErrorBody;
use mfa_http::api::factors::{FactorView, PhonePending, Rename, Resend, StartPhone, Verified};
use mfa_http::{
    caller, error_response, json, json_body, no_content, optional_factor_id, path_param,
    rename_factor, require_step_up, route_key,
};

pub const ROUTES: &[&str] = &[
    "POST /v1/factors/phone",
    "POST /v1/factors/phone/{factor_id}/resend",
    "POST /v1/factors/phone/{factor_id}/verify",
    "PATCH /v1/factors/phone/{factor_id}",
    "DELETE /v1/factors/phone/{factor_id}",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start, resend, verify, rename, delete))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/factors/phone") => start(app, &req).await,
        Some("POST /v1/factors/phone/{factor_id}/resend") => resend(app, &req).await,
        Some("POST /v1/factors/phone/{factor_id}/verify") => verify(app, &req).await,
        Some("PATCH /v1/factors/phone/{factor_id}") => rename(app, &req).await,
        Some("DELETE /v1/factors/phone/{factor_id}") => delete(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Starts adding a phone (at most 3), or changing one's number with `replaces`: a pending phone
/// and a code by text or call.
///
/// A phone being replaced stays until the new one is verified.
#[utoipa::path(post, path = "/v1/factors/phone", operation_id = "start_phone", tag = "factors",
    request_body = StartPhone,
    params(StepUpHeader),
    responses(
        (status = 201, description = "The code is on its way to the pending phone.", body = PhonePending),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such phone of the caller's to replace (`not_found`).", body = ErrorBody),
        (status = 409, description = "Three phones already, the number is already one of them, or the enrollment changed at the same time (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many codes to this user or number, or a resend too soon (`rate_limited`).", body = ErrorBody),
    ))]
async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartPhone = json_body(req)?;
    let channel = Channel::from(body.channel);
    let phone = PhoneNumber::parse_input(
        &body.phone_number,
        body.country.as_deref(),
        channel,
        &app.config.phone_policy,
    )?;
    let replaces = optional_factor_id(body.replaces.as_deref(), "replaces")?;
    require_step_up(app, req, &caller).await?;
    let started = phones::start(app, &caller, phone, channel, replaces).await?;
    Ok(json(201, &PhonePending::from(started)))
}

/// Sends a new code to a pending phone ("receive a call instead" with `voice`).
#[utoipa::path(post, path = "/v1/factors/phone/{factor_id}/resend", operation_id = "resend_phone_code", tag = "factors",
    request_body = Resend,
    params(("factor_id" = String, Path, format = "uuid", description = "The pending phone.")),
    responses(
        (status = 202, description = "A new code is on its way; the old one stops working.", body = PhonePending),
        (status = 404, description = "No such pending phone of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already verified (`conflict`).", body = ErrorBody),
        (status = 410, description = "The enrollment lapsed (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries, or too many codes (`rate_limited`).", body = ErrorBody),
    ))]
async fn resend(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: Resend = json_body(req)?;
    let sent = phones::resend(app, &caller, &id, body.channel.map(Channel::from)).await?;
    Ok(json(202, &PhonePending::from(sent)))
}

/// Confirms a pending phone with the code it received; it replaces any other phone.
#[utoipa::path(post, path = "/v1/factors/phone/{factor_id}/verify", operation_id = "verify_phone", tag = "factors",
    request_body = CodeIn,
    params(("factor_id" = String, Path, format = "uuid", description = "The pending phone.")),
    responses(
        (status = 200, description = "The phone is active.", body = Verified),
        (status = 404, description = "No such pending phone of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already verified (`conflict`).", body = ErrorBody),
        (status = 410, description = "The enrollment lapsed (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries (`too_many_attempts`).", body = ErrorBody),
    ))]
async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: CodeIn = json_body(req)?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let done = phones::verify(app, &caller, &id, &code).await?;
    let masked = phones::masked(app.keys().await?, &done.factor)?;
    Ok(json(200, &Verified::of(done, Some(masked))))
}

/// Renames a phone (with a step-up, like every change to the factors).
#[utoipa::path(patch, path = "/v1/factors/phone/{factor_id}", operation_id = "rename_phone", tag = "factors",
    request_body = Rename,
    params(("factor_id" = String, Path, format = "uuid", description = "The phone."), StepUpHeader),
    responses(
        (status = 200, description = "The phone as renamed.", body = FactorView),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such phone of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn rename(app: &App, req: &Request) -> Result<Response<Body>> {
    rename_factor(app, req, FactorKind::Phone).await
}

/// Removes the phone ("Reset" next to the number).
#[utoipa::path(delete, path = "/v1/factors/phone/{factor_id}", operation_id = "remove_phone", tag = "factors",
    params(("factor_id" = String, Path, format = "uuid", description = "The phone."), StepUpHeader),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such phone of the caller's (`not_found`).", body = ErrorBody),
    ))]
async fn delete(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    require_step_up(app, req, &caller).await?;
    factors::remove(app, &caller, &id, FactorKind::Phone).await?;
    Ok(no_content())
}
