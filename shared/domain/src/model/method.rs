//! The ways to pass the second step, and what a step-up token proved.

use super::Channel;

/// A way to pass the second step (in JSON: `"webauthn"`, `"totp"`, `"sms"`, `"voice"`,
/// `"recovery_code"`), in the order a login offers them: the phishing-resistant one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// A security key or passkey.
    Webauthn,
    Totp,
    Sms,
    Voice,
    RecoveryCode,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Webauthn => "webauthn",
            Method::Totp => "totp",
            Method::Sms => "sms",
            Method::Voice => "voice",
            Method::RecoveryCode => "recovery_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Method::Webauthn,
            Method::Totp,
            Method::Sms,
            Method::Voice,
            Method::RecoveryCode,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// The method of a code sent by `channel`.
    pub fn of(channel: Channel) -> Self {
        match channel {
            Channel::Sms => Method::Sms,
            Channel::Voice => Method::Voice,
        }
    }

    /// The channel a code for this method goes by, if it is sent to a phone.
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Method::Sms => Some(Channel::Sms),
            Method::Voice => Some(Channel::Voice),
            Method::Webauthn | Method::Totp | Method::RecoveryCode => None,
        }
    }

    /// RFC 8176 authentication method reference for the assertion's `amr`.
    pub fn amr(&self) -> &'static str {
        match self {
            Method::Webauthn => "hwk",
            Method::Totp => "otp",
            Method::Sms => "sms",
            Method::Voice => "tel",
            Method::RecoveryCode => "kba",
        }
    }
}

/// What a step-up token proved (issue 18): the mailbox only, or a factor of the user's. Once
/// a user has an active factor, changing their 2FA needs `Factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepUpLevel {
    /// A code sent to the account email.
    Email,
    /// An active factor: a current app code, a code sent to the active phone, or the recovery
    /// code.
    Factor,
}

impl StepUpLevel {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepUpLevel::Email => "email",
            StepUpLevel::Factor => "factor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StepUpLevel::Email, StepUpLevel::Factor]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}
