//! Flows 6 and 8: an admin's reset of a member, and a user's own waiting-period reset.

use mfa_domain::clock::rfc3339;
use mfa_domain::error::Result;
use mfa_domain::model::{Method, OrgPolicy};
use mfa_domain::org_policy::PolicyView;
use mfa_domain::reset::ResetDone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::MethodName;

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

/// An organisation's 2FA policy, as its owners and admins set it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPolicyIn {
    /// Every member needs a second factor, whatever their plan.
    pub require_mfa: bool,
    /// The second factors members may log in with: at least one of `webauthn`, `totp`, `sms`,
    /// `voice`, each once (the recovery code is always the way back in beside one of them).
    pub allowed_methods: Vec<MethodName>,
    /// How long a remembered computer skips the code, 0 (never remembered) to 30 days.
    #[schema(minimum = 0, maximum = 30)]
    pub remember_device_max_days: u16,
}

impl OrgPolicyIn {
    /// The policy, checked (`400` with the reason otherwise).
    pub fn policy(&self) -> Result<OrgPolicy> {
        let methods: Vec<Method> = self
            .allowed_methods
            .iter()
            .map(|m| Method::from(*m))
            .collect();
        OrgPolicy::new(self.require_mfa, &methods, self.remember_device_max_days)
    }
}

/// An organisation's 2FA policy (the service's defaults until one is set).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPolicyView {
    pub org_id: String,
    pub require_mfa: bool,
    pub allowed_methods: Vec<MethodName>,
    pub remember_device_max_days: u16,
    /// When it was last set; absent while the defaults apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Who last set it (a user id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl From<PolicyView> for OrgPolicyView {
    fn from(v: PolicyView) -> Self {
        OrgPolicyView {
            org_id: v.org_id,
            require_mfa: v.policy.require_mfa,
            allowed_methods: v
                .policy
                .allowed_methods
                .into_iter()
                .map(MethodName::from)
                .collect(),
            remember_device_max_days: v.policy.remember_device_max_days,
            updated_at: v.updated.as_ref().map(|(at, _)| rfc3339(*at)),
            updated_by: v.updated.map(|(_, by)| by.as_ref().to_owned()),
        }
    }
}
