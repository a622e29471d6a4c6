//! Flow 1, step-up: a recent proof unlocks security settings for 15 minutes. An emailed code
//! gives an `email` step-up, enough only while the user has no factor; a factor (app, phone,
//! security key, recovery code) gives a `factor` step-up. The shapes are in `mfa_http::api::step_up`.

use lambda_http::{Body, Request, Response};
use mfa_domain::model::Channel;
use mfa_domain::recovery::RecoveryCode;
use mfa_domain::types::{ChallengeId, OtpCode};
use mfa_domain::{factors, security_keys, step_up, totp as totp_rules, App, Error, Result};
use mfa_http::api::common::{CodeIn, Empty};
use mfa_http::api::error::ErrorBody;
use mfa_http::api::step_up::{
    CodeSent, KeyStepUpStarted, RecoveryStepUp, StartPhone, StepUpIssued, VerifyCode,
    VerifyKeyStepUp,
};
use mfa_http::{caller, error_response, json, json_body, optional_factor_id, route_key};

/// Routes this function serves, as the API (and the dev gateway) maps them.
pub const ROUTES: &[&str] = &[
    "POST /v1/step-up/email",
    "POST /v1/step-up/email/verify",
    "POST /v1/step-up/totp",
    "POST /v1/step-up/phone",
    "POST /v1/step-up/phone/verify",
    "POST /v1/step-up/recovery-code",
    "POST /v1/step-up/webauthn",
    "POST /v1/step-up/webauthn/verify",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    start_email,
    verify_email,
    totp,
    start_phone,
    verify_phone,
    recovery_code,
    start_key,
    verify_key
))]
pub struct Api;

/// Entry point for every request routed to this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/step-up/email") => start_email(app, &req).await,
        Some("POST /v1/step-up/email/verify") => verify_email(app, &req).await,
        Some("POST /v1/step-up/totp") => totp(app, &req).await,
        Some("POST /v1/step-up/phone") => start_phone(app, &req).await,
        Some("POST /v1/step-up/phone/verify") => verify_phone(app, &req).await,
        Some("POST /v1/step-up/recovery-code") => recovery_code(app, &req).await,
        Some("POST /v1/step-up/webauthn") => start_key(app, &req).await,
        Some("POST /v1/step-up/webauthn/verify") => verify_key(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Emails a step-up code to the account address.
///
/// The token it leads to has level `email`: enough only while the user has no active factor.
#[utoipa::path(post, path = "/v1/step-up/email", operation_id = "step_up_by_email", tag = "step-up",
    request_body = Empty,
    responses(
        (status = 202, description = "The code is on its way.", body = CodeSent),
        (status = 429, description = "Too many codes sent (`rate_limited`).", body = ErrorBody),
    ))]
async fn start_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let Empty {} = json_body(req)?;
    let sent = step_up::start_email(app, &caller.user, caller.require_email()?).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up code emailed");
    Ok(json(
        202,
        &CodeSent {
            challenge_id: sent.challenge_id.as_ref().to_owned(),
            delivery: "email",
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

/// Trades the emailed code for an `email` step-up token.
#[utoipa::path(post, path = "/v1/step-up/email/verify", operation_id = "verify_email_step_up", tag = "step-up",
    request_body = VerifyCode,
    responses(
        (status = 200, description = "A step-up token of level `email`.", body = StepUpIssued),
        (status = 404, description = "No such challenge of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "The code was already used (`conflict`).", body = ErrorBody),
        (status = 410, description = "The code expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries (`too_many_attempts`) or guesses (`rate_limited`).", body = ErrorBody),
    ))]
async fn verify_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: VerifyCode = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let issued = step_up::verify_email(app, &caller.user, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up by email succeeded");
    Ok(json(200, &StepUpIssued::from(issued)))
}

/// Steps up with a current code from one of the user's authenticator apps.
#[utoipa::path(post, path = "/v1/step-up/totp", operation_id = "step_up_by_app", tag = "step-up",
    request_body = CodeIn,
    responses(
        (status = 200, description = "A step-up token of level `factor`.", body = StepUpIssued),
        (status = 409, description = "No authenticator app is set up (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many wrong codes, or the second step is locked.", body = ErrorBody),
    ))]
async fn totp(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: CodeIn = json_body(req)?;
    let code = OtpCode::parse(&body.code, totp_rules::DIGITS)?;
    let issued = factors::step_up_with_totp(app, &caller, &code).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "step-up by authenticator app succeeded"
    );
    Ok(json(200, &StepUpIssued::from(issued)))
}

/// Sends a step-up code to the active phone, by text or by a call.
#[utoipa::path(post, path = "/v1/step-up/phone", operation_id = "step_up_by_phone", tag = "step-up",
    request_body = StartPhone,
    responses(
        (status = 202, description = "The code is on its way.", body = CodeSent),
        (status = 404, description = "No such phone of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "No phone is set up (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many codes sent (`rate_limited`), or the second step is locked.", body = ErrorBody),
    ))]
async fn start_phone(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartPhone = json_body(req)?;
    let channel = Channel::from(body.channel);
    let phone = optional_factor_id(body.factor_id.as_deref(), "factor_id")?;
    let sent = step_up::start_phone(app, &caller, channel, phone.as_ref()).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        channel = channel.as_str(),
        "step-up code sent to the phone"
    );
    Ok(json(
        202,
        &CodeSent {
            challenge_id: sent.challenge_id.as_ref().to_owned(),
            delivery: sent.channel.as_str(),
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

/// Trades the code sent to the phone for a `factor` step-up token.
#[utoipa::path(post, path = "/v1/step-up/phone/verify", operation_id = "verify_phone_step_up", tag = "step-up",
    request_body = VerifyCode,
    responses(
        (status = 200, description = "A step-up token of level `factor`.", body = StepUpIssued),
        (status = 404, description = "No such challenge of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "The code was already used (`conflict`).", body = ErrorBody),
        (status = 410, description = "The code expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries or guesses, or the second step is locked.", body = ErrorBody),
    ))]
async fn verify_phone(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: VerifyCode = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let issued = step_up::verify_phone(app, &caller, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up by phone succeeded");
    Ok(json(200, &StepUpIssued::from(issued)))
}

/// Starts a step-up with one of the user's security keys: the options for the browser.
#[utoipa::path(post, path = "/v1/step-up/webauthn", operation_id = "step_up_by_security_key", tag = "step-up",
    request_body = Empty,
    responses(
        (status = 201, description = "A key step-up to answer within 10 minutes.", body = KeyStepUpStarted),
        (status = 409, description = "No security key is set up (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many key step-ups started (`rate_limited`).", body = ErrorBody),
    ))]
async fn start_key(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let Empty {} = json_body(req)?;
    let started = step_up::start_key(app, &caller).await?;
    Ok(json(201, &KeyStepUpStarted::from(started)))
}

/// Trades a security key's response for a `factor` step-up token.
#[utoipa::path(post, path = "/v1/step-up/webauthn/verify", operation_id = "verify_security_key_step_up", tag = "step-up",
    request_body = VerifyKeyStepUp,
    responses(
        (status = 200, description = "A step-up token of level `factor`.", body = StepUpIssued),
        (status = 400, description = "A malformed response or one for another ceremony (`invalid_request`), or one that does not verify (`invalid_credential`, with `attempts_remaining`).", body = ErrorBody),
        (status = 403, description = "A security key whose signature counter went backwards (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such key step-up of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "This step-up was already used (`conflict`).", body = ErrorBody),
        (status = 410, description = "The step-up expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries or guesses, or the second step is locked.", body = ErrorBody),
    ))]
async fn verify_key(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: VerifyKeyStepUp = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let response = security_keys::parse_authentication(body.credential)?;
    let issued = step_up::verify_key(app, &caller, &id, &response).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "step-up by security key succeeded"
    );
    Ok(json(200, &StepUpIssued::from(issued)))
}

/// Steps up with the recovery code, which is used up and replaced in the same write.
#[utoipa::path(post, path = "/v1/step-up/recovery-code", operation_id = "step_up_by_recovery_code", tag = "step-up",
    request_body = RecoveryStepUp,
    responses(
        (status = 200, description = "A step-up token of level `factor`, and `new_recovery_code`.", body = StepUpIssued),
        (status = 409, description = "No factor or recovery code is set up (`conflict`).", body = ErrorBody),
        (status = 429, description = "Too many wrong codes, or the second step is locked.", body = ErrorBody),
    ))]
async fn recovery_code(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: RecoveryStepUp = json_body(req)?;
    let code = RecoveryCode::parse(&body.recovery_code)?;
    let (issued, next) = step_up::with_recovery_code(app, &caller, &code).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "step-up by recovery code succeeded"
    );
    let mut answer = StepUpIssued::from(issued);
    answer.new_recovery_code = Some(next.display());
    Ok(json(200, &answer))
}
