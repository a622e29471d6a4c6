//! One-time code challenges: what a code is for, and a challenge as stored.

use crate::clock::UnixTime;
use crate::types::{ChallengeId, UserId};

use super::{Channel, KeyCeremony, Method};

/// What a one-time code challenge is for. Part of the item key, so a code issued for one purpose
/// can never be redeemed on another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    StepUpEmail,
    /// The second step of a console login.
    Login,
    /// The emailed code that confirms a self-service reset request.
    SelfReset,
    /// A step-up by a code sent to the user's active phone (SMS or call).
    StepUpPhone,
    /// A step-up by one of the user's security keys.
    StepUpKey,
}

impl Purpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            Purpose::StepUpEmail => "step-up-email",
            Purpose::Login => "login",
            Purpose::SelfReset => "self-reset",
            Purpose::StepUpPhone => "step-up-phone",
            Purpose::StepUpKey => "step-up-webauthn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Purpose::StepUpEmail,
            Purpose::Login,
            Purpose::SelfReset,
            Purpose::StepUpPhone,
            Purpose::StepUpKey,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    Open,
    Used,
}

/// A one-time code challenge as stored. Holds the code only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: ChallengeId,
    pub user: UserId,
    pub purpose: Purpose,
    /// The keyed hash of the code sent for this challenge (a login challenge has none until a
    /// code is sent by SMS or voice).
    pub code_hash: Option<Vec<u8>>,
    /// How the code of `code_hash` was sent, when it went to a phone (SMS or call).
    pub code_channel: Option<Channel>,
    /// Login: the methods offered, in order.
    pub methods: Vec<Method>,
    /// Login with a security key offered: the WebAuthn ceremony bound to this challenge.
    pub webauthn: Option<KeyCeremony>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub status: ChallengeStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Result of counting one verification attempt against a challenge or a pending factor.
#[derive(Debug)]
pub enum Attempt<T = Challenge> {
    /// The attempt was counted (open, unexpired, tries left); the item as it is after counting.
    Counted(T),
    /// The attempt was not counted; the item as it is (used, expired or out of tries).
    Refused(T),
    /// No such item for this user.
    Missing,
}
