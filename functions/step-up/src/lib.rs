//! Flow 1, email step-up: a code sent to the account email unlocks security settings.
//!
//! - `POST /v1/step-up/email` -> 202 `{challenge_id, delivery, to, expires_in}`
//! - `POST /v1/step-up/email/verify` `{challenge_id, code}` -> 200 `{step_up_token, expires_in}`
//! - `POST /v1/step-up/totp` `{code}` -> 200 `{step_up_token, expires_in}` (users with an app)

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::http::{error_response, json, json_body, route_key, Caller};
use shared::types::{ChallengeId, OtpCode};
use shared::{factors, step_up, totp as totp_rules, App, Error, Result};

/// Routes this function serves, as the API (and the dev gateway) maps them.
pub const ROUTES: &[&str] = &[
    "POST /v1/step-up/email",
    "POST /v1/step-up/email/verify",
    "POST /v1/step-up/totp",
];

/// Entry point for every request routed to this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/step-up/email") => start_email(app, &req).await,
        Some("POST /v1/step-up/email/verify") => verify_email(app, &req).await,
        Some("POST /v1/step-up/totp") => totp(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartEmail {}

#[derive(Serialize)]
struct EmailSent {
    challenge_id: String,
    delivery: &'static str,
    to: String,
    expires_in: i64,
}

async fn start_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = Caller::from_request(req)?;
    let StartEmail {} = json_body(req)?;
    let sent = step_up::start_email(app, &caller.user, caller.require_email()?).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up code emailed");
    Ok(json(
        202,
        &EmailSent {
            challenge_id: sent.challenge_id.as_ref().to_owned(),
            delivery: "email",
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyEmail {
    challenge_id: String,
    code: String,
}

#[derive(Serialize)]
struct StepUpIssued {
    step_up_token: String,
    expires_in: i64,
}

async fn verify_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = Caller::from_request(req)?;
    let body: VerifyEmail = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let issued = step_up::verify_email(app, &caller.user, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up by email succeeded");
    Ok(json(
        200,
        &StepUpIssued {
            step_up_token: issued.token.as_str().to_owned(),
            expires_in: issued.expires_in,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpStepUp {
    code: String,
}

async fn totp(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = Caller::from_request(req)?;
    let body: TotpStepUp = json_body(req)?;
    let code = OtpCode::parse(&body.code, totp_rules::DIGITS)?;
    let issued = factors::step_up_with_totp(app, &caller, &code).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "step-up by authenticator app succeeded"
    );
    Ok(json(
        200,
        &StepUpIssued {
            step_up_token: issued.token.as_str().to_owned(),
            expires_in: issued.expires_in,
        },
    ))
}
