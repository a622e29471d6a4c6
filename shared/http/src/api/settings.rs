//! Flow 7, settings: the security page, the login policy, remembered devices, the event trail
//! and turning 2FA off.

use mfa_domain::clock::rfc3339;
use mfa_domain::events::SecurityEvent;
use mfa_domain::model::{Device, RememberPolicy, Settings};
use mfa_domain::rules::DEVICE_IDLE_SECS;
use mfa_domain::settings::{EventsPage, Overview};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::MethodName;
use super::factors::FactorView;

/// What a user's security page shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewView {
    /// At least one active factor.
    pub enabled: bool,
    /// The plan (paid; a missing plan counts as paid) or the organisation's policy requires 2FA:
    /// it cannot be turned off.
    pub required: bool,
    pub policy: RememberName,
    pub default_method: Option<MethodName>,
    pub factors: Vec<FactorView>,
    pub recovery_code: Option<RecoveryView>,
    /// Live remembered devices (listed by `GET /v1/mfa/devices`).
    pub remembered_devices: usize,
    /// Required but not enabled, or no factor the organisation's policy allows: the next login
    /// asks the user to enroll.
    pub enrollment_required: bool,
    /// `allowed`, or `disabled` once 2FA is on (seed 003).
    pub api_basic_auth: &'static str,
    /// How the user can step up before changing these settings: `email` until they have a
    /// factor, then their factors' methods.
    pub step_up_methods: Vec<&'static str>,
}

/// That there is a recovery code, and since when (never the code).
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryView {
    pub created_at: String,
}

impl From<Overview> for OverviewView {
    fn from(o: Overview) -> Self {
        OverviewView {
            enabled: o.enabled,
            required: o.required,
            policy: o.settings.remember.into(),
            default_method: o.settings.default_method.map(MethodName::from),
            factors: o
                .factors
                .iter()
                .map(|(f, masked)| FactorView::of(f, masked.clone()))
                .collect(),
            recovery_code: o.recovery_created_at.map(|at| RecoveryView {
                created_at: rfc3339(at),
            }),
            remembered_devices: o.remembered_devices,
            enrollment_required: o.enrollment_required,
            api_basic_auth: if o.api_basic_auth_allowed() {
                "allowed"
            } else {
                "disabled"
            },
            step_up_methods: o.step_up_methods,
        }
    }
}

/// How often a login asks for the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RememberName {
    /// A remembered device skips the code for 30 days (7 days unused).
    #[serde(rename = "device_30_days")]
    Device30Days,
    /// Every login asks.
    #[serde(rename = "every_login")]
    EveryLogin,
}

impl From<RememberName> for RememberPolicy {
    fn from(r: RememberName) -> Self {
        match r {
            RememberName::Device30Days => RememberPolicy::Device30Days,
            RememberName::EveryLogin => RememberPolicy::EveryLogin,
        }
    }
}

impl From<RememberPolicy> for RememberName {
    fn from(r: RememberPolicy) -> Self {
        match r {
            RememberPolicy::Device30Days => RememberName::Device30Days,
            RememberPolicy::EveryLogin => RememberName::EveryLogin,
        }
    }
}

/// What to change: the remember policy, the default login method, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    #[serde(default)]
    pub remember: Option<RememberName>,
    /// `totp`, `sms` or `voice`, one the user has set up.
    #[serde(default)]
    pub default_method: Option<MethodName>,
}

/// The policy as it now is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub policy: RememberName,
    pub default_method: Option<MethodName>,
}

impl From<Settings> for PolicyView {
    fn from(s: Settings) -> Self {
        PolicyView {
            policy: s.remember.into(),
            default_method: s.default_method.map(MethodName::from),
        }
    }
}

/// A remembered device as the API shows it (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: String,
    /// When it stops working whatever its use (30 days after it was remembered).
    pub expires_at: String,
    /// When it lapses if it is not used before (7 days after its last use, capped by expiry).
    pub lapses_at: String,
}

impl DeviceView {
    pub fn of(d: &Device) -> Self {
        DeviceView {
            device_id: d.id.as_ref().to_owned(),
            name: d.name.clone(),
            created_at: rfc3339(d.created_at),
            last_used_at: rfc3339(d.last_used_at),
            expires_at: rfc3339(d.expires_at),
            lapses_at: rfc3339((d.last_used_at + DEVICE_IDLE_SECS).min(d.expires_at)),
        }
    }
}

/// The live remembered devices, most recently used first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Devices {
    pub devices: Vec<DeviceView>,
}

/// A page of security events, newest first; pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPageView {
    pub events: Vec<EventView>,
    pub next_cursor: Option<String>,
}

impl From<EventsPage> for EventPageView {
    fn from(page: EventsPage) -> Self {
        EventPageView {
            events: page.events.iter().map(EventView::of).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// A security event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub event_id: String,
    /// `factor_added`, `factor_removed`, `phone_changed`, `login_verified`, ...
    pub action: &'static str,
    /// The user id of who did it (the user, an admin, support).
    pub actor: String,
    pub target: String,
    pub detail: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    pub at: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl EventView {
    pub fn of(e: &SecurityEvent) -> Self {
        EventView {
            event_id: e.id.clone(),
            action: e.action.as_str(),
            actor: e.actor.clone(),
            target: e.target.as_ref().to_owned(),
            detail: e.detail.clone(),
            outcome: e.outcome,
            at: rfc3339(e.at),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
        }
    }
}

/// Turns 2FA off, proved by a current code on a login challenge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    #[schema(format = "uuid")]
    pub challenge_id: String,
    pub method: MethodName,
    /// The code, for every method but `webauthn`.
    #[serde(default)]
    pub code: Option<String>,
    /// Method `webauthn`: the security key's `credential.toJSON()` for the challenge's
    /// `webauthn.options`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}
