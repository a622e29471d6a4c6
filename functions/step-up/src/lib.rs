//! Flow 1, step-up: a recent proof unlocks security settings for 15 minutes. An emailed code
//! gives an `email` step-up, enough only while the user has no factor; a factor (app, phone,
//! recovery code) gives a `factor` step-up.
//!
//! - `POST /v1/step-up/email` -> 202 `{challenge_id, delivery, to, expires_in}`
//! - `POST /v1/step-up/email/verify` `{challenge_id, code}` -> 200 `{step_up_token, level,
//!   expires_in}`
//! - `POST /v1/step-up/totp` `{code}` -> 200 (users with an app)
//! - `POST /v1/step-up/phone` `{channel}` -> 202 `{challenge_id, delivery, to, expires_in}`
//! - `POST /v1/step-up/phone/verify` `{challenge_id, code}` -> 200
//! - `POST /v1/step-up/recovery-code` `{recovery_code}` -> 200 with `new_recovery_code`

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::http::wire::ChannelIn;
use shared::http::{caller, error_response, json, json_body, route_key};
use shared::ports::Channel;
use shared::recovery::RecoveryCode;
use shared::step_up::IssuedStepUp;
use shared::types::{ChallengeId, OtpCode};
use shared::{factors, step_up, totp as totp_rules, App, Error, Result};

/// Routes this function serves, as the API (and the dev gateway) maps them.
pub const ROUTES: &[&str] = &[
    "POST /v1/step-up/email",
    "POST /v1/step-up/email/verify",
    "POST /v1/step-up/totp",
    "POST /v1/step-up/phone",
    "POST /v1/step-up/phone/verify",
    "POST /v1/step-up/recovery-code",
];

/// Entry point for every request routed to this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/step-up/email") => start_email(app, &req).await,
        Some("POST /v1/step-up/email/verify") => verify_email(app, &req).await,
        Some("POST /v1/step-up/totp") => totp(app, &req).await,
        Some("POST /v1/step-up/phone") => start_phone(app, &req).await,
        Some("POST /v1/step-up/phone/verify") => verify_phone(app, &req).await,
        Some("POST /v1/step-up/recovery-code") => recovery_code(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartEmail {}

/// A code on its way: `delivery` is `email`, `sms` or `voice`.
#[derive(Serialize)]
struct EmailSent {
    challenge_id: String,
    delivery: &'static str,
    to: String,
    expires_in: i64,
}

async fn start_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
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
    /// `email` or `factor`: what the token proved.
    level: &'static str,
    expires_in: i64,
    /// A recovery-code step-up used the code up: this one replaces it, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    new_recovery_code: Option<String>,
}

impl From<IssuedStepUp> for StepUpIssued {
    fn from(issued: IssuedStepUp) -> Self {
        StepUpIssued {
            step_up_token: issued.token.as_str().to_owned(),
            level: issued.level.as_str(),
            expires_in: issued.expires_in,
            new_recovery_code: None,
        }
    }
}

async fn verify_email(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: VerifyEmail = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let issued = step_up::verify_email(app, &caller.user, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up by email succeeded");
    Ok(json(200, &StepUpIssued::from(issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpStepUp {
    code: String,
}

async fn totp(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: TotpStepUp = json_body(req)?;
    let code = OtpCode::parse(&body.code, totp_rules::DIGITS)?;
    let issued = factors::step_up_with_totp(app, &caller, &code).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        "step-up by authenticator app succeeded"
    );
    Ok(json(200, &StepUpIssued::from(issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartPhone {
    channel: ChannelIn,
}

async fn start_phone(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: StartPhone = json_body(req)?;
    let channel = Channel::from(body.channel);
    let sent = step_up::start_phone(app, &caller, channel).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        channel = channel.as_str(),
        "step-up code sent to the phone"
    );
    Ok(json(
        202,
        &EmailSent {
            challenge_id: sent.challenge_id.as_ref().to_owned(),
            delivery: sent.channel.as_str(),
            to: sent.to_masked,
            expires_in: sent.expires_in,
        },
    ))
}

async fn verify_phone(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: VerifyEmail = json_body(req)?;
    let id = ChallengeId::parse(&body.challenge_id, "challenge_id")?;
    let code = OtpCode::parse(&body.code, app.config.code_length)?;
    let issued = step_up::verify_phone(app, &caller, &id, &code).await?;
    tracing::info!(user = caller.user.as_ref(), "step-up by phone succeeded");
    Ok(json(200, &StepUpIssued::from(issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryStepUp {
    recovery_code: String,
}

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
