//! Flows 2 and 3: enrolling an authenticator app or a phone, and how a factor is shown.

use mfa_domain::clock::rfc3339;
use mfa_domain::factors::{Activated, TotpEnrollment};
use mfa_domain::model::{Factor, FactorStatus};
use mfa_domain::phones::PhoneEnrollment;
use mfa_domain::security_keys::KeyEnrollment;
use mfa_domain::totp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::ChannelName;

/// A factor as the API shows it: never a secret, a phone number only masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    pub factor_id: String,
    /// `totp`, `phone` or `webauthn` (a security key or passkey).
    #[serde(rename = "type")]
    #[schema(example = "totp")]
    pub kind: &'static str,
    /// `pending` or `active`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A phone's number, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A phone's default channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelName>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
    /// The factor's last use at a login or a step-up (absent until it is first used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// A security key: whether its credential is backed up (a synced passkey), whether it
    /// may be, and whether the key verified the user (PIN, biometrics) when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backed_up: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_eligible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_verified: Option<bool>,
}

impl FactorView {
    pub fn of(f: &Factor, masked_phone: Option<String>) -> Self {
        let key = f.security_key().and_then(|k| k.key.as_ref());
        FactorView {
            last_used_at: f.last_used_at.map(rfc3339),
            backed_up: key.map(|k| k.backup_state),
            backup_eligible: key.map(|k| k.backup_eligible),
            user_verified: key.map(|k| k.user_verified),
            factor_id: f.id.as_ref().to_owned(),
            kind: f.kind().as_str(),
            status: match f.status {
                FactorStatus::Pending => "pending",
                FactorStatus::Active => "active",
            },
            label: f.label.clone(),
            phone: masked_phone,
            channel: f.phone().map(|p| p.channel.into()),
            created_at: rfc3339(f.created_at),
            activated_at: f.activated_at.map(rfc3339),
        }
    }
}

/// A factor just verified, and the recovery code when it was the user's first ("verify and
/// save"): shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    pub factor: FactorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

impl Verified {
    pub fn of(done: Activated, masked_phone: Option<String>) -> Self {
        Verified {
            factor: FactorView::of(&done.factor, masked_phone),
            recovery_code: done.recovery_code.map(|c| c.display()),
        }
    }
}

/// Starts enrolling an authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTotp {
    /// 1-64 printable characters; "Authenticator app" when left out.
    #[serde(default)]
    pub label: Option<String>,
}

/// A pending app: the secret to scan or type, shown once. It lapses unless verified in time.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpPending {
    pub factor_id: String,
    /// Always `pending`.
    pub status: &'static str,
    /// Base32, for typing into the app.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
    pub qr_png_base64: String,
    pub digits: usize,
    pub period: i64,
    pub algorithm: &'static str,
    pub expires_in: i64,
}

impl From<TotpEnrollment> for TotpPending {
    fn from(e: TotpEnrollment) -> Self {
        TotpPending {
            factor_id: e.factor_id.as_ref().to_owned(),
            status: "pending",
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
            qr_png_base64: e.qr_png_base64,
            digits: totp::DIGITS,
            period: totp::PERIOD_SECS,
            algorithm: "SHA1",
            expires_in: e.expires_in,
        }
    }
}

/// Starts adding a security key or passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartKey {
    /// 1-64 printable characters; "Security key" when left out.
    #[serde(default)]
    pub label: Option<String>,
}

/// A pending security key: the options for `navigator.credentials.create`. It lapses unless
/// verified in time.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPending {
    pub factor_id: String,
    /// Always `pending`.
    pub status: &'static str,
    /// The `publicKey` member of `PublicKeyCredentialCreationOptions` in the WebAuthn Level 3
    /// JSON form (binary fields base64url), for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON`: `excludeCredentials` lists the
    /// user's keys, `userVerification` is `preferred`, attestation `none`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub expires_in: i64,
}

impl From<KeyEnrollment> for KeyPending {
    fn from(e: KeyEnrollment) -> Self {
        KeyPending {
            factor_id: e.factor_id.as_ref().to_owned(),
            status: "pending",
            options: e.options,
            expires_in: e.expires_in,
        }
    }
}

/// The browser's answer to the creation options.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyKey {
    /// `credential.toJSON()` of `navigator.credentials.create` (a RegistrationResponseJSON).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A factor's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// 1-64 printable characters.
    pub label: String,
}

/// Starts adding (or changing) the phone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPhone {
    /// `+` and the country code, then the number; spaces, dashes, dots and parentheses are
    /// fine (`+1 (415) 555-0134`). A national number (`06 12 34 56 78`) needs `country`.
    /// Stored and shown as E.164.
    #[schema(example = "+1 (415) 555-0134")]
    pub phone_number: String,
    /// ISO 3166 code of a national `phone_number` (`FR`); ignored after a `+`.
    #[serde(default)]
    #[schema(example = "FR")]
    pub country: Option<String>,
    pub channel: ChannelName,
    /// To change a number: the active phone this one replaces once verified (it keeps its
    /// place). Without it the phone is added next to the others (at most 3).
    #[serde(default)]
    #[schema(format = "uuid")]
    pub replaces: Option<String>,
}

/// Sends a new code to a pending phone, by the same or the other channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// Leave out for the phone's channel; `voice` is "receive a call instead".
    #[serde(default)]
    pub channel: Option<ChannelName>,
}

/// A pending phone and the code on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhonePending {
    pub factor_id: String,
    /// Always `pending`.
    pub status: &'static str,
    /// The number, masked.
    pub phone: String,
    pub channel: ChannelName,
    pub expires_in: i64,
}

impl From<PhoneEnrollment> for PhonePending {
    fn from(e: PhoneEnrollment) -> Self {
        PhonePending {
            factor_id: e.factor_id.as_ref().to_owned(),
            status: "pending",
            phone: e.masked,
            channel: e.channel.into(),
            expires_in: e.expires_in,
        }
    }
}
