//! Flow 4, verification at login, and the JWKS that verifies its assertions. The shapes are in
//! `mfa_http::api::login`.

use lambda_http::{Body, Request, Response};
use mfa_domain::devices;
use mfa_domain::login::{self, LoginStart, Method};
use mfa_domain::model::Channel;
use mfa_domain::types::{ChallengeId, Label, OpaqueToken};
use mfa_domain::{assertion, App, Error, Result};
use mfa_http::api::common::answer;
use mfa_http::api::error::ErrorBody;
use mfa_http::api::login::{
    Jwks, LoginApproved, LoginCodeSent, SendCode, StartAnswer, StartLogin, VerifyLogin,
};
use mfa_http::{
    caller, error_response, json, json_body, optional_factor_id, path_param, route_key,
};

pub const ROUTES: &[&str] = &[
    "POST /v1/challenges",
    "POST /v1/challenges/{challenge_id}/send",
    "POST /v1/challenges/{challenge_id}/verify",
];

/// Routes without the JWT authorizer.
pub const PUBLIC_ROUTES: &[&str] = &["GET /.well-known/jwks.json"];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start, send, verify, jwks))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/challenges") => start(app, &req).await,
        Some("POST /v1/challenges/{challenge_id}/send") => send(app, &req).await,
        Some("POST /v1/challenges/{challenge_id}/verify") => verify(app, &req).await,
        Some("GET /.well-known/jwks.json") => jwks(app).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Starts the second step of a login, right after the password.
///
/// A remembered device under `device_30_days` is approved at once (200); a user with a factor
/// gets a challenge (201).
#[utoipa::path(post, path = "/v1/challenges", operation_id = "start_login", tag = "login",
    request_body = StartLogin,
    responses(
        (status = 200, description = "`not_required`, `enrollment_required` or `approved`.", body = StartAnswer),
        (status = 201, description = "`pending`: a challenge to answer.", body = StartAnswer),
    ))]
async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartLogin = json_body(req)?;
    let device_token = body
        .device_token
        .map(|t| OpaqueToken::parse(&t).map_err(|_| Error::invalid("device_token is malformed")))
        .transpose()?;
    let started = login::start(app, &caller, device_token.as_ref()).await?;
    let status = match &started {
        LoginStart::Approved { .. } => {
            tracing::info!(
                user = caller.user.as_ref(),
                "login approved by a remembered device"
            );
            200
        }
        LoginStart::NotRequired | LoginStart::EnrollmentRequired { .. } => 200,
        LoginStart::Pending { .. } => 201,
    };
    Ok(json(status, &StartAnswer::from(started)))
}

/// Sends the login code to the active phone, by text or by a call.
#[utoipa::path(post, path = "/v1/challenges/{challenge_id}/send", operation_id = "send_login_code", tag = "login",
    request_body = SendCode,
    params(("challenge_id" = String, Path, format = "uuid", description = "The login challenge.")),
    responses(
        (status = 202, description = "The code is on its way.", body = LoginCodeSent),
        (status = 404, description = "No such challenge or phone of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "No phone, or the challenge was answered (`conflict`).", body = ErrorBody),
        (status = 410, description = "The challenge expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Too many codes sent (`rate_limited`), or the second step is locked.", body = ErrorBody),
    ))]
async fn send(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "challenge_id")?, "challenge_id")?;
    let body: SendCode = json_body(req)?;
    let channel = Channel::from(body.channel);
    let phone = optional_factor_id(body.factor_id.as_deref(), "factor_id")?;
    let to = login::send(app, &caller, &id, channel, phone.as_ref()).await?;
    Ok(json(
        202,
        &LoginCodeSent {
            challenge_id: id.as_ref().to_owned(),
            channel: body.channel,
            to,
        },
    ))
}

/// Answers a login challenge: a security key, an app code, the sent code, or the recovery code.
///
/// Passing gives a signed assertion, and with `remember_device` a device token.
#[utoipa::path(post, path = "/v1/challenges/{challenge_id}/verify", operation_id = "verify_login", tag = "login",
    request_body = VerifyLogin,
    params(("challenge_id" = String, Path, format = "uuid", description = "The login challenge.")),
    responses(
        (status = 200, description = "Approved.", body = LoginApproved),
        (status = 400, description = "A malformed answer (`invalid_request`), a wrong code (`invalid_code`) or a security key response that does not verify (`invalid_credential`), with `attempts_remaining`.", body = ErrorBody),
        (status = 403, description = "A security key whose signature counter went backwards, which a copy of it does (`forbidden`); recorded as `security_key_cloned`.", body = ErrorBody),
        (status = 404, description = "No such challenge of the caller's (`not_found`).", body = ErrorBody),
        (status = 409, description = "Already answered, or the method is not set up (`conflict`); a security key's response for a login already approved.", body = ErrorBody),
        (status = 410, description = "The challenge expired (`expired`).", body = ErrorBody),
        (status = 429, description = "Out of tries or guesses, or the second step is locked.", body = ErrorBody),
    ))]
async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "challenge_id")?, "challenge_id")?;
    let body: VerifyLogin = json_body(req)?;
    let method = Method::from(body.method);
    let name = body
        .device_name
        .as_deref()
        .map(|n| {
            Label::parse(n)
                .map_err(|_| Error::invalid("device_name must be 1-64 printable characters"))
        })
        .transpose()?;
    let remember = body
        .remember_device
        .then(|| devices::name_for(name, caller.user_agent.as_deref()));
    let answer = answer(body.method, body.code, body.credential)?;
    let ok = login::verify(app, &caller, &id, method, answer, remember).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        method = method.as_str(),
        "login second step passed"
    );
    Ok(json(200, &LoginApproved::from(ok)))
}

/// The public keys that verify login assertions (no token needed).
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "login",
    security(()),
    responses((status = 200, description = "The JWKS.", body = Jwks)))]
async fn jwks(app: &App) -> Result<Response<Body>> {
    Ok(json(200, &Jwks::from(assertion::jwks(app).await?)))
}
