//! Flow 7, settings: what a user's security page shows, the remember policy and default login
//! method, the security event trail, and turning 2FA off (trial accounts only).

use crate::app::App;
use crate::devices;
use crate::error::{Error, Result};
use crate::events::{notify, record, Action, EventCursor, SecurityEvent};
use crate::identity::Caller;
use crate::login::{self, Method};

use crate::clock::UnixTime;
use crate::model::{Change, Commit, Factor, FactorStatus, Found, RememberPolicy, Settings, Want};
use crate::types::{ChallengeId, Plan, UserId};

/// What a user's security page shows (`GET /v1/mfa`).
#[derive(Debug)]
pub struct Overview {
    /// At least one active factor.
    pub enabled: bool,
    /// The plan (paid; a missing plan counts as paid) or the organisation requires 2FA.
    pub required: bool,
    pub settings: Settings,
    /// The active factors, a phone with its masked number.
    pub factors: Vec<(Factor, Option<String>)>,
    /// When the recovery code was made, if there is one.
    pub recovery_created_at: Option<UnixTime>,
    /// Live remembered devices.
    pub remembered_devices: usize,
    /// Required but not enabled, or no factor the organisation allows: the next login asks
    /// the user to enroll.
    pub enrollment_required: bool,
    /// How the user can step up before changing these settings: their factors' methods once
    /// they have one, else `email` (issue 18).
    pub step_up_methods: Vec<&'static str>,
}

impl Overview {
    /// Seed 003: once 2FA is on, API basic auth (username and password) is refused.
    pub fn api_basic_auth_allowed(&self) -> bool {
        !self.enabled
    }
}

/// Whether the caller's plan makes 2FA mandatory.
fn required(caller: &Caller) -> bool {
    caller.plan != Some(Plan::Trial)
}

pub async fn overview(app: &App, caller: &Caller) -> Result<Overview> {
    let user = &caller.user;
    // Three round trips at once: one batch of items, the factors and the devices. A
    // self-service reset that came due is completed first, and then all is read again.
    let mut wants = vec![
        Want::SelfReset(user.clone()),
        Want::Settings(user.clone()),
        Want::Recovery(user.clone()),
        Want::ResetMarker(user.clone()),
    ];
    // The organisation's policy, in the same read.
    wants.extend(crate::org_policy::want(caller));
    let (mut found, stored, devices) = loop {
        let (got, stored, devices) = tokio::try_join!(
            app.store.read_all(&wants),
            app.store.list_factors(user),
            devices::list(app, user)
        )?;
        let mut found = Found::from(got);
        if !crate::self_reset::complete_if_due_from(app, caller, found.self_reset()?).await? {
            break (found, stored, devices);
        }
    };
    let keys = app.keys().await?;
    let mut factors = Vec::new();
    for f in stored.iter().filter(|f| f.is_active()) {
        factors.push((f.clone(), crate::factors::masked_phone(keys, f)?));
    }
    let settings = found.settings()?.unwrap_or_default();
    let recovery = found.recovery()?;
    let remembered = devices.len();
    let enabled = !factors.is_empty();
    let reset = found.reset_marker()?.is_some();
    let policy = crate::org_policy::from_found(caller, &mut found)?;
    let required = required(caller) || policy.require_mfa;
    let methods = login::methods_of(keys, &stored, recovery.is_some())?;
    // A member whose factors the organisation leaves out must enroll an allowed one, as at
    // their next login.
    let none_allowed = enabled && !policy.allows_a_factor_of(&methods);
    Ok(Overview {
        enabled,
        required,
        settings,
        factors,
        recovery_created_at: recovery.as_ref().map(|r| r.created_at),
        remembered_devices: remembered,
        enrollment_required: ((required || reset) && !enabled) || none_allowed,
        // From the factors and recovery code read above: no second read.
        step_up_methods: crate::step_up::methods_for(&methods),
    })
}

/// What `PUT /v1/mfa/policy` asks to change.
#[derive(Debug, Default)]
pub struct PolicyChange {
    pub remember: Option<RememberPolicy>,
    pub default_method: Option<Method>,
}

/// Changes the remember policy and/or the default login method. The default method must be
/// one the user has set up; the recovery code is never a default. An actual change writes a
/// `policy_changed` event and emails the account; asking for the current settings changes
/// nothing.
pub async fn set_policy(app: &App, caller: &Caller, change: PolicyChange) -> Result<Settings> {
    if change.remember.is_none() && change.default_method.is_none() {
        return Err(Error::invalid("give remember or default_method (or both)"));
    }
    if let Some(m) = change.default_method {
        if m == Method::RecoveryCode {
            return Err(Error::invalid(
                "default_method must be \"totp\", \"sms\" or \"voice\"",
            ));
        }
        if !login::methods(app, caller).await?.contains(&m) {
            return Err(Error::Conflict(format!(
                "{} is not set up on this account",
                m.as_str()
            )));
        }
    }
    let current = app
        .store
        .get_settings(&caller.user)
        .await?
        .unwrap_or_default();
    let next = Settings {
        remember: change.remember.unwrap_or(current.remember),
        default_method: change.default_method.or(current.default_method),
    };
    let mut said = Vec::new();
    if next.remember != current.remember {
        said.push(match next.remember {
            RememberPolicy::Device30Days => "ask once per device every 30 days".to_owned(),
            RememberPolicy::EveryLogin => {
                "ask at every login (remembered devices are ignored)".to_owned()
            }
        });
    }
    if next.default_method != current.default_method {
        if let Some(m) = next.default_method {
            said.push(format!("default method {}", m.as_str()));
        }
    }
    if said.is_empty() {
        return Ok(current);
    }
    let event = SecurityEvent::by_caller(app, caller, Action::PolicyChanged, said.join(", "));
    let change = Change::PutSettings {
        user: caller.user.clone(),
        settings: next.clone(),
    };
    match record(app, vec![change], &event, caller.email.as_ref()).await? {
        Commit::Done => Ok(next),
        Commit::Refused(_) => Err(Error::Internal("event id collision".into())),
    }
}

/// A page of security events, newest first, and the opaque cursor of the next page.
#[derive(Debug)]
pub struct EventsPage {
    pub events: Vec<SecurityEvent>,
    pub next_cursor: Option<String>,
}

/// A page of `owner`'s security events, newest first, after `cursor` (one this service handed
/// out for this trail, else 400).
pub async fn events(
    app: &App,
    owner: &UserId,
    limit: usize,
    cursor: Option<&str>,
) -> Result<EventsPage> {
    let keys = app.keys().await?;
    let before = cursor
        .map(|c| EventCursor::open(c, keys, owner))
        .transpose()?;
    let page = app.store.list_events(owner, limit, before.as_ref()).await?;
    Ok(EventsPage {
        next_cursor: page.next.as_ref().map(|c| c.seal(keys, owner)),
        events: page.events,
    })
}

/// Refuses to turn 2FA off on a paid account (seeds 002, 004).
pub fn ensure_may_disable(caller: &Caller) -> Result<()> {
    if required(caller) {
        return Err(Error::MfaRequired(
            "two-factor authentication cannot be turned off on a paid account".into(),
        ));
    }
    Ok(())
}

/// Turns 2FA off (trial only), proved by a current code on a login challenge: every factor,
/// the recovery code and every remembered device go in one transaction with the event.
pub async fn disable(
    app: &App,
    caller: &Caller,
    challenge: &ChallengeId,
    method: Method,
    answer: login::Answer,
) -> Result<()> {
    crate::metrics::verification(async {
        ensure_may_disable(caller)?;
        // Two independent reads, at once.
        let (policy, factors) = tokio::try_join!(
            crate::org_policy::of_caller(app, caller),
            app.store.list_factors(&caller.user)
        )?;
        if policy.require_mfa {
            return Err(Error::MfaRequired(
                "your organisation requires two-factor authentication".into(),
            ));
        }
        if !factors.iter().any(|f| f.status == FactorStatus::Active) {
            return Err(Error::Conflict(
                "two-factor authentication is already off".into(),
            ));
        }
        // The code is used up in the same transaction that turns 2FA off (a recovery code is
        // deleted on its condition rather than replaced).
        let proof = login::pass(app, caller, challenge, method, answer)
            .await?
            .for_removal();
        let now = app.clock.now();
        let devices = app.store.list_devices(&caller.user).await?;
        let event = SecurityEvent::by_caller(app, caller, Action::MfaDisabled, "");
        let live: Vec<_> = factors.into_iter().filter(|f| f.is_live(now)).collect();
        let mut changes: Vec<Change> = crate::factors::deletions(&live).collect();
        if !proof.uses_recovery_code() {
            changes.push(Change::DeleteRecovery {
                user: caller.user.clone(),
            });
        }
        changes.extend(devices::deletions(&devices));
        changes.push(Change::PutEvent(event.clone()));
        match proof.commit(app, changes).await? {
            None => {
                notify(app, caller.email.as_ref(), &event).await;
                Ok(())
            }
            Some(_) => Err(Error::Conflict(
                "the account's two-factor settings changed meanwhile; try again".into(),
            )),
        }
    })
    .await
}
