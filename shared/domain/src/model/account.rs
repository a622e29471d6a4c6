//! A user's other state: recovery code, settings, remembered devices, membership, resets,
//! and a page of their security events.

use crate::clock::UnixTime;
use crate::events::{EventCursor, SecurityEvent};
use crate::rules::DEVICE_IDLE_SECS;
use crate::types::{ChallengeId, DeviceId, Email, OrgRole, UserId};

use super::Method;

/// The user's recovery code, as stored: only its keyed hash.
#[derive(Debug, Clone)]
pub struct RecoveryRecord {
    pub hash: Vec<u8>,
    pub created_at: UnixTime,
}

/// How often a login asks for the second factor (seed 000: "once per computer" every 30 days,
/// or "every log-in").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RememberPolicy {
    /// A device remembered at login skips the code for 30 days (7 days unused). The default.
    #[default]
    Device30Days,
    /// Every login asks; remembered devices are ignored.
    EveryLogin,
}

impl RememberPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            RememberPolicy::Device30Days => "device_30_days",
            RememberPolicy::EveryLogin => "every_login",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "device_30_days" => Some(RememberPolicy::Device30Days),
            "every_login" => Some(RememberPolicy::EveryLogin),
            _ => None,
        }
    }
}

/// The user's 2FA settings (absent: the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub remember: RememberPolicy,
    /// The method a login offers first, when the user has it.
    pub default_method: Option<Method>,
}

/// A remembered device ("remember this computer"), as stored: the token only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    pub user: UserId,
    /// Hex HMAC of the device token (also the item's key).
    pub token_hash: String,
    pub name: String,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    /// 30 days after it was remembered, whatever its use.
    pub expires_at: UnixTime,
}

impl Device {
    /// Unexpired and used within the idle limit.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at && now < self.last_used_at + DEVICE_IDLE_SECS
    }
}

/// What the service last saw of a user's organisation membership (from their own token's
/// claims), so that an organisation's admins can act on them and they can be emailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user: UserId,
    pub email: Option<Email>,
    pub org_id: Option<String>,
    pub org_role: Option<OrgRole>,
    pub updated_at: UnixTime,
    /// Whether the member's entry under their organisation was written with this profile (a
    /// profile from before organisations kept their members has none yet).
    pub org_indexed: bool,
}

/// Left by a reset: the user must enroll a factor at their next login, whatever their plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetMarker {
    pub reset_at: UnixTime,
    /// Who reset it (a user id).
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfResetStatus {
    /// Confirmed by the emailed code; takes effect at `completes_at` unless cancelled.
    Waiting,
    Cancelled,
    Completed,
}

impl SelfResetStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SelfResetStatus::Waiting => "waiting",
            SelfResetStatus::Cancelled => "cancelled",
            SelfResetStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SelfResetStatus::Waiting,
            SelfResetStatus::Cancelled,
            SelfResetStatus::Completed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A user's latest confirmed self-service reset (one per user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfReset {
    pub user: UserId,
    pub request_id: ChallengeId,
    pub status: SelfResetStatus,
    pub confirmed_at: UnixTime,
    pub completes_at: UnixTime,
}

/// One page of security events, newest first, and where the next page starts.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub next: Option<EventCursor>,
}

/// The guard of an account's second step: consecutive wrong codes, and when it was locked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginGuard {
    pub failures: u32,
    pub locked_at: Option<UnixTime>,
}
