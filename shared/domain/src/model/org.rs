//! An organisation's 2FA policy, set by its owners and admins, and the members this service has
//! seen of it (so that its owners can be told when the policy changes).

use crate::clock::UnixTime;
use crate::error::{Error, Result};
use crate::rules::DEVICE_TTL_SECS;
use crate::types::{Email, OrgRole, UserId};

use super::Method;

/// The methods a policy may allow or leave out: every second factor. The recovery code is not
/// among them: it is the way back in beside an allowed factor, never a factor on its own.
pub const POLICY_METHODS: [Method; 4] =
    [Method::Webauthn, Method::Totp, Method::Sms, Method::Voice];

/// The longest a policy may let a device be remembered: the service's own limit, in days.
pub const MAX_REMEMBER_DAYS: u16 = (DEVICE_TTL_SECS / 86_400) as u16;

/// What an organisation asks of its members' second step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicy {
    /// Every member needs a second factor, whatever their plan.
    pub require_mfa: bool,
    /// The factors members may log in with (a subset of [`POLICY_METHODS`], never empty).
    pub allowed_methods: Vec<Method>,
    /// How long a remembered device skips the code, 0 (never) to [`MAX_REMEMBER_DAYS`].
    pub remember_device_max_days: u16,
}

impl Default for OrgPolicy {
    /// No policy set: what the service does for everyone.
    fn default() -> Self {
        OrgPolicy {
            require_mfa: false,
            allowed_methods: POLICY_METHODS.to_vec(),
            remember_device_max_days: MAX_REMEMBER_DAYS,
        }
    }
}

impl OrgPolicy {
    /// A policy as asked for, checked: at least one method, each a second factor, none twice,
    /// and a remembering time the service can honour. Kept in the order a login offers them.
    pub fn new(require_mfa: bool, methods: &[Method], remember_days: u16) -> Result<Self> {
        if methods.is_empty() {
            return Err(Error::invalid(
                "allowed_methods must name at least one method",
            ));
        }
        if methods.contains(&Method::RecoveryCode) {
            return Err(Error::invalid(
                "allowed_methods names second factors; the recovery code is always the way back in",
            ));
        }
        let mut allowed = methods.to_vec();
        allowed.sort();
        allowed.dedup();
        if allowed.len() != methods.len() {
            return Err(Error::invalid("allowed_methods names a method twice"));
        }
        if remember_days > MAX_REMEMBER_DAYS {
            return Err(Error::invalid(format!(
                "remember_device_max_days must be 0 to {MAX_REMEMBER_DAYS}"
            )));
        }
        Ok(OrgPolicy {
            require_mfa,
            allowed_methods: allowed,
            remember_device_max_days: remember_days,
        })
    }

    /// The allowed methods' names, comma-separated (`webauthn,totp`).
    pub fn method_list(&self) -> String {
        let names: Vec<&str> = self.allowed_methods.iter().map(Method::as_str).collect();
        names.join(",")
    }

    /// Whether a login may use `method` (the recovery code: always, beside an allowed factor).
    pub fn allows(&self, method: Method) -> bool {
        method == Method::RecoveryCode || self.allowed_methods.contains(&method)
    }

    /// Whether `methods` (a user's, as a login would offer them) hold a factor this policy
    /// allows; the recovery code alone is not one.
    pub fn allows_a_factor_of(&self, methods: &[Method]) -> bool {
        methods
            .iter()
            .any(|m| *m != Method::RecoveryCode && self.allows(*m))
    }

    /// Whether a device remembered at `remembered_at` still skips the code at `now`.
    pub fn still_remembers(&self, remembered_at: UnixTime, now: UnixTime) -> bool {
        now < remembered_at + i64::from(self.remember_device_max_days) * 86_400
    }
}

/// An organisation's policy as stored, with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrgPolicy {
    pub org_id: String,
    pub policy: OrgPolicy,
    pub updated_at: UnixTime,
    pub updated_by: UserId,
}

/// A member of an organisation as this service last saw them (from their token's claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub org_id: String,
    pub user: UserId,
    pub role: OrgRole,
    pub email: Option<Email>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_needs_a_factor_each_once_and_a_time_the_service_can_keep() {
        use Method::*;
        assert!(OrgPolicy::new(true, &[], 30).is_err());
        assert!(OrgPolicy::new(true, &[Totp, RecoveryCode], 30).is_err());
        assert!(OrgPolicy::new(true, &[Totp, Totp], 30).is_err());
        assert!(OrgPolicy::new(true, &[Totp], 31).is_err());
        let p = OrgPolicy::new(false, &[Sms, Webauthn, Totp], 0).unwrap();
        assert_eq!(p.allowed_methods, vec![Webauthn, Totp, Sms]);
        assert!(p.allows(RecoveryCode) && !p.allows(Voice));
        assert!(p.allows_a_factor_of(&[Voice, Sms, RecoveryCode]));
        assert!(!p.allows_a_factor_of(&[Voice, RecoveryCode]));
        assert!(!p.still_remembers(100, 100));
    }

    #[test]
    fn a_device_is_remembered_for_the_policys_days_only() {
        let p = OrgPolicy::new(false, &[Method::Totp], 7).unwrap();
        assert!(p.still_remembers(0, 7 * 86_400 - 1));
        assert!(!p.still_remembers(0, 7 * 86_400));
        assert!(OrgPolicy::default().still_remembers(0, 29 * 86_400));
    }
}
