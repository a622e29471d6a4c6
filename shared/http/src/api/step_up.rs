//! Flow 1, step-up: a recent proof that unlocks the 2FA settings for 15 minutes.

use mfa_domain::step_up::{IssuedStepUp, KeyChallenge};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::ChannelName;

/// A code on its way to the account email or the active phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    pub challenge_id: String,
    /// `email`, `sms` or `voice`.
    #[schema(example = "email")]
    pub delivery: &'static str,
    /// Where it went, masked (`j***@example.com`, `+*******4567`).
    pub to: String,
    /// Seconds the code stays valid.
    pub expires_in: i64,
}

/// The code a challenge received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCode {
    #[schema(format = "uuid")]
    pub challenge_id: String,
    #[schema(example = "123456", pattern = "^[0-9]{6,8}$")]
    pub code: String,
}

/// A step-up by security key: the options for `navigator.credentials.get`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyStepUpStarted {
    pub challenge_id: String,
    /// `PublicKeyCredentialRequestOptions` in the WebAuthn Level 3 JSON form, for
    /// `PublicKeyCredential.parseRequestOptionsFromJSON`: `allowCredentials` are the user's
    /// keys, `userVerification` is `preferred`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub expires_in: i64,
}

impl From<KeyChallenge> for KeyStepUpStarted {
    fn from(c: KeyChallenge) -> Self {
        KeyStepUpStarted {
            challenge_id: c.challenge_id.as_ref().to_owned(),
            options: c.options,
            expires_in: c.expires_in,
        }
    }
}

/// A security key's answer to a key step-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyKeyStepUp {
    #[schema(format = "uuid")]
    pub challenge_id: String,
    /// `credential.toJSON()` of `navigator.credentials.get` (an AuthenticationResponseJSON).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Which way the code goes to the active phone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPhone {
    pub channel: ChannelName,
    /// Which of the user's phones (`factor_id` from `GET /v1/mfa`); by default the first that
    /// takes `channel`.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub factor_id: Option<String>,
}

/// The recovery code, as printed (`XXXX-XXXX-XXXX-XXXX`; case and dashes do not matter).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryStepUp {
    pub recovery_code: String,
}

/// A step-up token: send it as `X-Step-Up-Token` on the routes that change 2FA.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepUpIssued {
    pub step_up_token: String,
    /// What the token proved: `email` (the mailbox) or `factor` (an app, the phone or the
    /// recovery code).
    #[schema(example = "factor")]
    pub level: &'static str,
    /// Seconds the token stays valid.
    pub expires_in: i64,
    /// A recovery-code step-up used the code up: this one replaces it, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_recovery_code: Option<String>,
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
