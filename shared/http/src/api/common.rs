//! Wire types several flows share.

use mfa_domain::model::{Channel, Method};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a code goes to a phone: by text message or by a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelName {
    Sms,
    Voice,
}

impl From<ChannelName> for Channel {
    fn from(c: ChannelName) -> Self {
        match c {
            ChannelName::Sms => Channel::Sms,
            ChannelName::Voice => Channel::Voice,
        }
    }
}

impl From<Channel> for ChannelName {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Sms => ChannelName::Sms,
            Channel::Voice => ChannelName::Voice,
        }
    }
}

/// A way to pass the second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    /// A security key or passkey.
    Webauthn,
    Totp,
    Sms,
    Voice,
    RecoveryCode,
}

impl From<MethodName> for Method {
    fn from(m: MethodName) -> Self {
        match m {
            MethodName::Webauthn => Method::Webauthn,
            MethodName::Totp => Method::Totp,
            MethodName::Sms => Method::Sms,
            MethodName::Voice => Method::Voice,
            MethodName::RecoveryCode => Method::RecoveryCode,
        }
    }
}

impl From<Method> for MethodName {
    fn from(m: Method) -> Self {
        match m {
            Method::Webauthn => MethodName::Webauthn,
            Method::Totp => MethodName::Totp,
            Method::Sms => MethodName::Sms,
            Method::Voice => MethodName::Voice,
            Method::RecoveryCode => MethodName::RecoveryCode,
        }
    }
}

/// How a login challenge is answered: `code` (an app's, a sent or a recovery code) for every
/// method but `webauthn`, which is answered with `credential`.
pub fn answer(
    method: MethodName,
    code: Option<String>,
    credential: Option<serde_json::Value>,
) -> mfa_domain::Result<mfa_domain::login::Answer> {
    use mfa_domain::login::Answer;
    use mfa_domain::Error;
    match (method, code, credential) {
        (_, Some(_), Some(_)) => Err(Error::invalid("give `code` or `credential`, not both")),
        (MethodName::Webauthn, _, Some(c)) => Ok(Answer::Credential(c)),
        (MethodName::Webauthn, _, None) => Err(Error::invalid(
            "missing field `credential` (method webauthn)",
        )),
        (_, Some(code), None) => Ok(Answer::Code(code)),
        (_, None, Some(_)) => Err(Error::invalid("`credential` answers method webauthn only")),
        (_, None, None) => Err(Error::invalid("missing field `code`")),
    }
}

/// A request with no fields (`{}` or an empty body).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A one-time code typed by the user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeIn {
    /// The digits, as typed (spaces and dashes are not accepted).
    #[schema(example = "123456", pattern = "^[0-9]{6,8}$")]
    pub code: String,
}

/// The step-up proof a route that changes 2FA needs.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct StepUpHeader {
    /// A step-up token from `POST /v1/step-up/...`, valid for 15 minutes. Once the user has an
    /// active factor it must be of level `factor`: an `email` token then answers
    /// `403 step_up_required` with `required_level` and `methods`.
    #[serde(rename = "X-Step-Up-Token")]
    pub step_up_token: String,
}
