//! Security events: every change to a factor, the policy, the recovery code, a reset or a
//! lockout is recorded (who, whom, what, when, from where) and the account email is told.

use crate::app::App;
use crate::clock::{rfc3339, UnixTime};
use crate::crypto::{ct_eq, DataKeys};
use crate::email::notice;
use crate::error::{Error, Result};
use crate::identity::Caller;
use crate::model::{Change, Commit};
use crate::ports::EmailMessage;
use crate::types::{Email, UserId};

/// Events are kept 400 days (TTL).
pub const RETENTION_SECS: i64 = 400 * 86_400;

/// What happened. The string form is stable: it is stored and returned by the events API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    FactorAdded,
    FactorRemoved,
    PhoneChanged,
    RecoveryCodeRegenerated,
    RecoveryCodeUsed,
    LoginLocked,
    DeviceRemembered,
    DeviceRevoked,
    PolicyChanged,
    MfaDisabled,
    /// The account's 2FA was reset (by an admin, support, or a completed self-service reset).
    MfaReset,
    /// On the admin's own trail: they reset (or were refused resetting) a member's 2FA.
    MemberMfaReset,
    SelfResetRequested,
    SelfResetCancelled,
    /// A change to 2FA was refused because the step-up proved only the mailbox.
    StepUpRefused,
    /// A security key answered a login with a signature counter that went backwards: it may
    /// have been copied. The login was refused.
    SecurityKeyCloned,
    /// New numbers of one range were sent too many codes (SMS pumping): the range is blocked
    /// for a while; on the trail of the user whose send tripped it.
    PhoneRangeBlocked,
    /// On the trail of the owner or admin who set it: an organisation's 2FA policy changed
    /// (its owners are emailed).
    OrgPolicyChanged,
}

const ACTIONS: [Action; 18] = [
    Action::FactorAdded,
    Action::FactorRemoved,
    Action::PhoneChanged,
    Action::RecoveryCodeRegenerated,
    Action::RecoveryCodeUsed,
    Action::LoginLocked,
    Action::DeviceRemembered,
    Action::DeviceRevoked,
    Action::PolicyChanged,
    Action::MfaDisabled,
    Action::MfaReset,
    Action::MemberMfaReset,
    Action::SelfResetRequested,
    Action::SelfResetCancelled,
    Action::StepUpRefused,
    Action::SecurityKeyCloned,
    Action::PhoneRangeBlocked,
    Action::OrgPolicyChanged,
];

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::FactorAdded => "factor_added",
            Action::FactorRemoved => "factor_removed",
            Action::PhoneChanged => "phone_changed",
            Action::RecoveryCodeRegenerated => "recovery_code_regenerated",
            Action::RecoveryCodeUsed => "recovery_code_used",
            Action::LoginLocked => "login_locked",
            Action::DeviceRemembered => "device_remembered",
            Action::DeviceRevoked => "device_revoked",
            Action::PolicyChanged => "policy_changed",
            Action::MfaDisabled => "mfa_disabled",
            Action::MfaReset => "mfa_reset",
            Action::MemberMfaReset => "member_mfa_reset",
            Action::SelfResetRequested => "self_reset_requested",
            Action::SelfResetCancelled => "self_reset_cancelled",
            Action::StepUpRefused => "step_up_refused",
            Action::SecurityKeyCloned => "security_key_cloned",
            Action::PhoneRangeBlocked => "phone_range_blocked",
            Action::OrgPolicyChanged => "org_policy_changed",
        }
    }

    /// The action a stored string names.
    pub fn parse(s: &str) -> Option<Self> {
        ACTIONS.into_iter().find(|a| a.as_str() == s)
    }

    /// Subject and the sentence that opens the notice email.
    fn notice(&self, detail: &str) -> (String, String) {
        match self {
            Action::FactorAdded => (
                "A two-factor method was added to your account".into(),
                format!("A two-factor method was added to your account: {detail}."),
            ),
            Action::FactorRemoved => (
                "A two-factor method was removed from your account".into(),
                format!("A two-factor method was removed from your account: {detail}."),
            ),
            Action::PhoneChanged => (
                "Your two-factor phone number changed".into(),
                format!("The phone number used for two-factor codes changed: {detail}."),
            ),
            Action::RecoveryCodeRegenerated => (
                "Your recovery code was replaced".into(),
                "A new recovery code was created for your account; the old one no longer works."
                    .into(),
            ),
            Action::RecoveryCodeUsed => (
                "Your recovery code was used".into(),
                "Your recovery code was used to sign in, and a new one was issued.".into(),
            ),
            Action::LoginLocked => (
                "Two-factor sign-in to your account is locked".into(),
                format!(
                    "After {detail} wrong two-factor codes in a row, two-factor sign-in to your \
                     account was locked. An administrator of your organisation can reset it."
                ),
            ),
            Action::DeviceRemembered => (
                "A device was remembered for two-factor sign-in".into(),
                format!(
                    "A device was remembered after a two-factor sign-in: {detail}. For up to 30 \
                     days it can sign in without a code. If this was not you, forget the device \
                     in your security settings and change your password."
                ),
            ),
            Action::DeviceRevoked => (
                "A remembered device was forgotten".into(),
                format!("Remembered devices were forgotten: {detail}. They will be asked for a two-factor code at their next sign-in."),
            ),
            Action::PolicyChanged => (
                "Your two-factor settings changed".into(),
                format!("Your two-factor settings changed: {detail}."),
            ),
            Action::MfaReset => (
                "Two-factor authentication on your account was reset".into(),
                format!(
                    "Two-factor authentication on your account was reset {detail}. Its methods, \
                     recovery code and remembered devices were removed; at your next sign-in you \
                     will be asked to set up a two-factor method again."
                ),
            ),
            Action::MemberMfaReset => (
                "You reset a member's two-factor authentication".into(),
                format!("You reset two-factor authentication for {detail}."),
            ),
            Action::SelfResetRequested => (
                "Two-factor authentication on your account will be reset".into(),
                format!(
                    "A reset of two-factor authentication on your account was confirmed with a \
                     code sent to this address. It takes effect at {detail} unless it is \
                     cancelled before then. If this was not you, sign in and cancel it \
                     (DELETE /v1/mfa/reset-requests/<id>), change your password, and contact \
                     support."
                ),
            ),
            Action::SelfResetCancelled => (
                "The reset of your two-factor authentication was cancelled".into(),
                "The pending reset of two-factor authentication on your account was cancelled; \
                 nothing changed."
                    .into(),
            ),
            Action::StepUpRefused => (
                "A change to your two-factor settings was refused".into(),
                format!(
                    "A change to your two-factor settings was refused: {detail}. If this was not \
                     you, change your password and the password of your email account."
                ),
            ),
            Action::SecurityKeyCloned => (
                "A sign-in with a copied security key may have been tried".into(),
                format!(
                    "A sign-in to your account was refused because {detail} answered with a \
                     signature counter lower than before, which is what a copy of the key does. \
                     If you did not copy it, remove the key in your security settings and \
                     change your password."
                ),
            ),
            Action::MfaDisabled => (
                "Two-factor authentication was turned off".into(),
                "Two-factor authentication was turned off for your account: its methods, \
                 recovery code and remembered devices were removed."
                    .into(),
            ),
            Action::OrgPolicyChanged => (
                "Your organisation's two-factor policy changed".into(),
                format!(
                    "The two-factor policy of your organisation changed: {detail}. Members whose \
                     methods it no longer allows are asked to set up an allowed one at their \
                     next sign-in."
                ),
            ),
            Action::PhoneRangeBlocked => (
                "Codes to your phone number's range are paused".into(),
                format!(
                    "Codes could not be sent: {detail}. This guards against fraud that sends \
                     codes to many numbers; try again later or use another method."
                ),
            ),
        }
    }
}

/// Outcomes an event records. The string form is stable.
pub const OUTCOMES: [&str; 2] = ["success", "failure"];

/// Where a page of events continues: the last event shown (its time and id). Opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    pub at: UnixTime,
    pub id: String,
}

impl EventCursor {
    pub fn of(event: &SecurityEvent) -> Self {
        EventCursor {
            at: event.at,
            id: event.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        data_encoding::BASE64URL_NOPAD.encode(format!("{:012}#{}", self.at, self.id).as_bytes())
    }

    /// The cursor as handed out: its encoding and a MAC bound to the trail's owner, so a
    /// forged or another trail's cursor is refused rather than silently paging nowhere.
    pub fn seal(&self, keys: &DataKeys, owner: &UserId) -> String {
        let inner = self.encode();
        let mac = keys.mac(
            "events-cursor",
            &[owner.as_ref().as_bytes(), inner.as_bytes()],
        );
        format!(
            "{inner}.{}",
            data_encoding::BASE64URL_NOPAD.encode(&mac[..16])
        )
    }

    /// A cursor this service handed out for `owner`'s trail, or 400.
    pub fn open(s: &str, keys: &DataKeys, owner: &UserId) -> Result<Self> {
        let bad = || Error::invalid("cursor is not one this service returned");
        let (inner, mac) = s.split_once('.').ok_or_else(bad)?;
        let expected = keys.mac(
            "events-cursor",
            &[owner.as_ref().as_bytes(), inner.as_bytes()],
        );
        let given = data_encoding::BASE64URL_NOPAD
            .decode(mac.as_bytes())
            .map_err(|_| bad())?;
        if !ct_eq(&given, &expected[..16]) {
            return Err(bad());
        }
        Self::parse(inner)
    }

    /// The inner encoding back, or 400 (the MAC is checked by [`open`](Self::open)).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor is not one this service returned");
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(s.as_bytes())
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (at, id) = raw.split_once('#').ok_or_else(bad)?;
        if at.len() != 12 || !at.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let canonical = uuid::Uuid::parse_str(id).map_err(|_| bad())?.to_string();
        if canonical != id {
            return Err(bad());
        }
        Ok(EventCursor {
            at: at.parse().map_err(|_| bad())?,
            id: canonical,
        })
    }
}

/// One security event, as stored.
#[derive(Debug, Clone)]
pub struct SecurityEvent {
    pub id: String,
    /// Whose account it concerns.
    pub target: UserId,
    /// Who did it (a user id; for resets, the admin or operator).
    pub actor: String,
    pub action: Action,
    /// Short, non-secret description ("Authenticator app 'Phone'", "+1******0100").
    pub detail: String,
    pub outcome: &'static str,
    pub at: UnixTime,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SecurityEvent {
    /// An event the caller did to their own account.
    pub fn by_caller(
        app: &App,
        caller: &Caller,
        action: Action,
        detail: impl Into<String>,
    ) -> Self {
        SecurityEvent {
            // Time-ordered (v7), so events within one second still list in the order they happened.
            id: uuid::Uuid::now_v7().to_string(),
            target: caller.user.clone(),
            actor: caller.user.as_ref().to_owned(),
            action,
            detail: detail.into(),
            outcome: "success",
            at: app.clock.now(),
            source_ip: caller.source_ip.clone(),
            user_agent: caller.user_agent.clone(),
        }
    }
}

/// The one way a change to 2FA is made: `changes` and `event` in one transaction (the change
/// and its record cannot part), then, if it was written, a notice to `to`. A refusal is
/// returned, tagged, for the caller to name; nobody is emailed about a change that did not
/// happen.
pub async fn record(
    app: &App,
    mut changes: Vec<Change>,
    event: &SecurityEvent,
    to: Option<&Email>,
) -> Result<Commit> {
    changes.push(Change::PutEvent(event.clone()));
    let outcome = app.store.commit(&changes).await?;
    if outcome == Commit::Done {
        notify(app, to, event).await;
    }
    Ok(outcome)
}

/// Emails the account about an event that was already recorded. A failed notice is logged and
/// does not undo the change: the event stays in the trail either way.
pub async fn notify(app: &App, to: Option<&Email>, event: &SecurityEvent) {
    let Some(to) = to else {
        tracing::warn!(
            action = event.action.as_str(),
            "no email claim: notice not sent"
        );
        return;
    };
    let (subject, opening) = event.action.notice(&event.detail);
    let (text, html) = notice(
        &app.config.service_name,
        &opening,
        &rfc3339(event.at),
        event.source_ip.as_deref().unwrap_or("unknown"),
    );
    let message = EmailMessage {
        to: to.clone(),
        subject,
        text,
        html,
    };
    if let Err(e) = app.mailer.send(&message).await {
        crate::metrics::count(crate::metrics::Metric::DeliveryFailed);
        tracing::error!(action = event.action.as_str(), error = %e, "security notice not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_action_round_trips_through_its_stored_name() {
        for a in ACTIONS {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("factor-added"), None);
    }

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let c = EventCursor {
            at: 1_790_000_000,
            id: uuid::Uuid::new_v4().to_string(),
        };
        assert_eq!(EventCursor::parse(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "x",
            "MTIz",
            &data_encoding::BASE64URL_NOPAD.encode(b"12345678901#not-a-uuid"),
        ] {
            assert!(EventCursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sealed_cursor_opens_only_for_its_owner_and_unchanged() {
        let keys = DataKeys::derive(&[7u8; 32]).unwrap();
        let (me, other) = (
            UserId::parse("me").unwrap(),
            UserId::parse("other").unwrap(),
        );
        let c = EventCursor {
            at: 1_790_000_000,
            id: uuid::Uuid::now_v7().to_string(),
        };
        let sealed = c.seal(&keys, &me);
        assert_eq!(EventCursor::open(&sealed, &keys, &me).unwrap(), c);
        assert!(EventCursor::open(&sealed, &keys, &other).is_err());
        // The bare encoding of a well-formed cursor, with no MAC or another one, is refused.
        assert!(EventCursor::open(&c.encode(), &keys, &me).is_err());
        let forged = EventCursor {
            at: c.at - 1,
            ..c.clone()
        };
        let (_, mac) = sealed.split_once('.').unwrap();
        assert!(EventCursor::open(&format!("{}.{mac}", forged.encode()), &keys, &me).is_err());
    }

    proptest! {
        #[test]
        fn any_string_parses_as_a_cursor_only_if_it_re_encodes_to_itself(s in "[A-Za-z0-9_-]{0,80}") {
            if let Ok(c) = EventCursor::parse(&s) {
                prop_assert_eq!(c.encode(), s);
            }
        }
    }
}
