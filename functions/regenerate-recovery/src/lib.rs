//! Flow 5, recovery code. The shape is in `mfa_http::api::recovery`.

use lambda_http::{Body, Request, Response};
use mfa_domain::clock::rfc3339;
use mfa_domain::{recovery, App, Error, Result};
use mfa_http::api::common::StepUpHeader;
use mfa_http::api::error::ErrorBody;
use mfa_http::api::recovery::RecoveryIssued;
use mfa_http::{
    caller, error_response, json, require_step_up, route_key, text_attachment, wants_text,
};

pub const ROUTES: &[&str] = &["POST /v1/recovery-code"];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(regenerate))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/recovery-code") => regenerate(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Makes a new recovery code; the old one stops working at once.
///
/// The code is shown only here. With `Accept: text/plain` it comes as a `recovery-code.txt`
/// attachment.
#[utoipa::path(post, path = "/v1/recovery-code", operation_id = "regenerate_recovery_code", tag = "recovery",
    params(StepUpHeader),
    responses(
        (status = 201, description = "The new code.", content(
            (RecoveryIssued = "application/json"),
            (String = "text/plain"),
        )),
        (status = 403, description = "No step-up token of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 409, description = "No factor is set up (`conflict`).", body = ErrorBody),
    ))]
async fn regenerate(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    require_step_up(app, req, &caller).await?;
    let issued = recovery::regenerate(app, &caller).await?;
    let (code, created_at) = (issued.code.display(), rfc3339(issued.created_at));
    if wants_text(req) {
        let text = format!(
            "{} recovery code\n\n{code}\n\nCreated: {created_at}\n\n\
             Keep this code somewhere safe. It lets you sign in if you lose your two-factor \
             device, and it works once. Anyone who has it and your password can sign in.\n",
            app.config.service_name
        );
        return Ok(text_attachment(201, "recovery-code.txt", text));
    }
    Ok(json(
        201,
        &RecoveryIssued {
            recovery_code: code,
            created_at,
        },
    ))
}
