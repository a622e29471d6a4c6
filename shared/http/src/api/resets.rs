//! Flows 6 and 8: an admin's reset of a member, and a user's own waiting-period reset.

use mfa_domain::clock::rfc3339;
use mfa_domain::reset::ResetDone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why the member's 2FA is reset (kept in the event trail).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetIn {
    /// At most 200 printable characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The member's 2FA is reset: they enroll again at their next login.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetView {
    pub user_id: String,
    /// Always `reset`.
    pub status: &'static str,
    pub reset_at: String,
}

impl From<ResetDone> for ResetView {
    fn from(done: ResetDone) -> Self {
        ResetView {
            user_id: done.user.as_ref().to_owned(),
            status: "reset",
            reset_at: rfc3339(done.reset_at),
        }
    }
}

/// A self-service reset started: its code went to the account email.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequested {
    pub request_id: String,
    /// Always `email`.
    pub delivery: &'static str,
    /// The address, masked.
    pub to: String,
    pub expires_in: i64,
}

/// A request confirmed: when the reset takes effect unless cancelled.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetConfirmed {
    pub request_id: String,
    pub completes_at: String,
}
