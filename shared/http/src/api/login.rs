//! Flow 4, the second step of a console login, and the keys that verify its assertion.

use mfa_domain::assertion::PublicJwk;
use mfa_domain::login::{Approved, LoginStart};
use mfa_domain::phones::PhoneChoice;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{ChannelName, MethodName};

/// Starts the second step of a login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLogin {
    /// The token a remembered device was given; an unknown or lapsed one is ignored.
    #[serde(default)]
    pub device_token: Option<String>,
}

/// Whether the login needs a second factor, tagged by `status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StartAnswer {
    /// No factor and the plan does not require one.
    NotRequired,
    /// The user must enroll a factor before going on: they have none, or none their
    /// organisation allows. `allowed_methods` are those they may enroll.
    EnrollmentRequired { allowed_methods: Vec<MethodName> },
    /// A remembered device: no code needed (200). The assertion's `acr` is
    /// `mfa-remembered-device`, `amr` `["mfa"]`, and `auth_time` when the login that remembered
    /// the device passed its second factor.
    Approved { assertion: String },
    /// A challenge to answer with one of `methods` (201).
    Pending {
        challenge_id: String,
        methods: Vec<MethodName>,
        default_method: MethodName,
        /// With `webauthn` among `methods`: what `navigator.credentials.get` needs.
        #[serde(skip_serializing_if = "Option::is_none")]
        webauthn: Option<KeyRequest>,
        /// With `sms` or `voice` among `methods`: the user's phones, to pick which one gets the
        /// code (`factor_id` of `POST /v1/challenges/{challenge_id}/send`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        phones: Vec<PhoneOption>,
        expires_in: i64,
    },
}

/// One of the user's phones a login code can go to.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneOption {
    #[schema(format = "uuid")]
    pub factor_id: String,
    /// The number, masked.
    #[schema(example = "+33*****0123")]
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The channels it takes (a landline takes `voice` only).
    pub channels: Vec<ChannelName>,
}

impl From<PhoneChoice> for PhoneOption {
    fn from(p: PhoneChoice) -> Self {
        PhoneOption {
            factor_id: p.factor_id.as_ref().to_owned(),
            phone: p.masked,
            label: p.label,
            channels: p.channels.into_iter().map(ChannelName::from).collect(),
        }
    }
}

/// A login's security key ceremony.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRequest {
    /// The `publicKey` member of `PublicKeyCredentialRequestOptions` in the WebAuthn Level 3
    /// JSON form, for `PublicKeyCredential.parseRequestOptionsFromJSON`: `allowCredentials`
    /// are the user's keys, `userVerification` is `preferred`, and the challenge is bound to
    /// this login challenge.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

impl From<LoginStart> for StartAnswer {
    fn from(start: LoginStart) -> Self {
        match start {
            LoginStart::NotRequired => StartAnswer::NotRequired,
            LoginStart::EnrollmentRequired { allowed_methods } => StartAnswer::EnrollmentRequired {
                allowed_methods: allowed_methods.into_iter().map(MethodName::from).collect(),
            },
            LoginStart::Approved { assertion } => StartAnswer::Approved { assertion },
            LoginStart::Pending {
                challenge_id,
                methods,
                default_method,
                webauthn,
                phones,
                expires_in,
            } => StartAnswer::Pending {
                challenge_id: challenge_id.as_ref().to_owned(),
                methods: methods.into_iter().map(MethodName::from).collect(),
                default_method: default_method.into(),
                webauthn: webauthn.map(|options| KeyRequest { options }),
                phones: phones.into_iter().map(PhoneOption::from).collect(),
                expires_in,
            },
        }
    }
}

/// Sends the login code to one of the user's phones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCode {
    pub channel: ChannelName,
    /// Which phone (`phones[].factor_id` of the challenge); by default the first that takes
    /// `channel`.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub factor_id: Option<String>,
}

/// A login code on its way to the phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginCodeSent {
    pub challenge_id: String,
    pub channel: ChannelName,
    /// The number, masked.
    pub to: String,
}

/// The answer to a login challenge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyLogin {
    pub method: MethodName,
    /// The app's or the sent code, or the recovery code (every method but `webauthn`).
    #[serde(default)]
    pub code: Option<String>,
    /// Method `webauthn`: the security key's `credential.toJSON()` (an
    /// AuthenticationResponseJSON) for this challenge's `webauthn.options`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    /// "Remember this computer" (ignored under the `every_login` policy).
    #[serde(default)]
    pub remember_device: bool,
    /// 1-64 printable characters; from the browser when left out.
    #[serde(default)]
    pub device_name: Option<String>,
}

/// The second step passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginApproved {
    /// Always `approved`.
    pub status: &'static str,
    /// An ES256 JWT (5 minutes) the console checks against the JWKS: `amr` `["mfa", m]` with
    /// `m` one of `hwk` (a security key), `otp`, `sms`, `tel`, `kba`; `acr` `phr` after a
    /// security key (phishing-resistant), `mfa` otherwise; and `auth_time` now.
    pub assertion: String,
    /// The remembered device's token, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// The recovery code was used: this one replaces it, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_recovery_code: Option<String>,
}

impl From<Approved> for LoginApproved {
    fn from(ok: Approved) -> Self {
        LoginApproved {
            status: "approved",
            assertion: ok.assertion,
            device_token: ok.device_token.map(|t| t.as_str().to_owned()),
            new_recovery_code: ok.new_recovery_code.map(|c| c.display()),
        }
    }
}

/// The keys that verify assertions (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A P-256 public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwk {
    #[schema(example = "EC")]
    pub kty: &'static str,
    #[schema(example = "P-256")]
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    /// The key's RFC 7638 thumbprint.
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: &'static str,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
}

impl From<Vec<PublicJwk>> for Jwks {
    fn from(keys: Vec<PublicJwk>) -> Self {
        Jwks {
            keys: keys
                .into_iter()
                .map(|k| Jwk {
                    kty: "EC",
                    crv: "P-256",
                    x: k.x,
                    y: k.y,
                    kid: k.kid,
                    alg: "ES256",
                    use_: "sig",
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwks_publishes_each_key_as_an_es256_signing_jwk_under_its_thumbprint() {
        let key = PublicJwk {
            key_id: "arn:aws:kms:key/1".into(),
            kid: "k".repeat(43),
            x: "x".repeat(43),
            y: "y".repeat(43),
        };
        let jwks = serde_json::to_value(Jwks::from(vec![key.clone()])).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], key.kid.as_str());
        assert_eq!(
            (jwk["x"].as_str(), jwk["y"].as_str()),
            (Some(&*key.x), Some(&*key.y))
        );
        assert_eq!(
            (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"]),
            (
                &"EC".into(),
                &"P-256".into(),
                &"ES256".into(),
                &"sig".into()
            )
        );
        // Which KMS key signs is not published.
        assert!(!jwks.to_string().contains("arn:aws:kms"));
    }
}
