//! Security events: every change to a factor, the policy, the recovery code, a reset or a
//! lockout is recorded (who, whom, what, when, from where) and the account email is told.

use crate::app::App;
use crate::clock::{rfc3339, UnixTime};
use crate::email::notice;
use crate::http::Caller;
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
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::FactorAdded => "factor_added",
            Action::FactorRemoved => "factor_removed",
            Action::PhoneChanged => "phone_changed",
            Action::RecoveryCodeRegenerated => "recovery_code_regenerated",
            Action::RecoveryCodeUsed => "recovery_code_used",
            Action::LoginLocked => "login_locked",
        }
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
        }
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
            id: uuid::Uuid::new_v4().to_string(),
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
        tracing::error!(action = event.action.as_str(), error = %e, "security notice not sent");
    }
}
