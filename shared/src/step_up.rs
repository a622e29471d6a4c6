//! Step-up: a recent proof (an emailed code, later a TOTP code) that unlocks security settings
//! for a short while through an opaque, hashed, user-bound token.

use crate::app::App;
use crate::challenge;
use crate::clock::UnixTime;
use crate::crypto::random_bytes;
use crate::email;
use crate::error::{Error, Result};
use crate::ports::Purpose;
use crate::rules::{STEP_UP_EMAIL_SENDS, STEP_UP_TOKEN_TTL_SECS};
use crate::types::{ChallengeId, Email, OpaqueToken, OtpCode, UserId};

/// Header that carries the step-up token on sensitive routes.
pub const HEADER: &str = "x-step-up-token";

pub use crate::challenge::EmailChallengeSent;

#[derive(Debug)]
pub struct IssuedStepUp {
    pub token: OpaqueToken,
    pub expires_in: i64,
}

/// Sends a step-up code to the account email. Either the email went out and the send counts,
/// or the caller gets an error and nothing is recorded (no challenge, no send counted).
pub async fn start_email(app: &App, user: &UserId, to: &Email) -> Result<EmailChallengeSent> {
    challenge::email_code(
        app,
        user,
        to,
        Purpose::StepUpEmail,
        &STEP_UP_EMAIL_SENDS,
        email::step_up_code,
    )
    .await
}

/// Redeems an emailed code and issues a step-up token.
pub async fn verify_email(
    app: &App,
    user: &UserId,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<IssuedStepUp> {
    challenge::redeem(app, user, Purpose::StepUpEmail, id, code).await?;
    issue(app, user).await
}

fn token_hash(app_keys: &crate::crypto::DataKeys, user: &UserId, token: &OpaqueToken) -> String {
    app_keys.mac_hex(
        "step-up-token",
        &[user.as_ref().as_bytes(), token.as_str().as_bytes()],
    )
}

/// Issues a new step-up token for `user`, stored only as its keyed hash.
pub async fn issue(app: &App, user: &UserId) -> Result<IssuedStepUp> {
    let keys = app.keys().await?;
    let token = OpaqueToken::from_bytes(&random_bytes::<32>());
    let expires_at: UnixTime = app.clock.now() + STEP_UP_TOKEN_TTL_SECS;
    app.store
        .put_step_up_token(user, &token_hash(keys, user, &token), expires_at)
        .await?;
    Ok(IssuedStepUp {
        token,
        expires_in: STEP_UP_TOKEN_TTL_SECS,
    })
}

/// Succeeds only if `header` holds an unexpired step-up token issued to `user`.
pub async fn require(app: &App, user: &UserId, header: Option<&str>) -> Result<()> {
    let token = header
        .and_then(|h| OpaqueToken::parse(h.trim()).ok())
        .ok_or(Error::StepUpRequired)?;
    let keys = app.keys().await?;
    match app
        .store
        .step_up_token_expiry(user, &token_hash(keys, user, &token))
        .await?
    {
        Some(expires_at) if expires_at > app.clock.now() => Ok(()),
        _ => Err(Error::StepUpRequired),
    }
}
