//! An organisation's 2FA policy (issue 19, part 3): its owners and admins read and set it (a
//! change needs a step-up, is a security event on the caller's trail, and is emailed to the
//! organisation's owners), and every login of a member applies the policy of the organisation
//! the member logs in to (the token's `org_id`).

use crate::app::App;
use crate::clock::UnixTime;
use crate::error::{Error, Result};
use crate::events::{notify, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, Commit, Found, OrgPolicy, StoredOrgPolicy, Want};
use crate::reset::authorize_caller;
use crate::rules::MAX_ORG_OWNERS_NOTIFIED;
use crate::types::UserId;

/// An organisation's policy as its owners and admins see it: the default when none was set.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub org_id: String,
    pub policy: OrgPolicy,
    /// When and by whom it was last set (none for the default).
    pub updated: Option<(UnixTime, UserId)>,
}

impl PolicyView {
    fn of(org_id: &str, stored: Option<StoredOrgPolicy>) -> Self {
        match stored {
            Some(s) => PolicyView {
                org_id: s.org_id,
                policy: s.policy,
                updated: Some((s.updated_at, s.updated_by)),
            },
            None => PolicyView {
                org_id: org_id.to_owned(),
                policy: OrgPolicy::default(),
                updated: None,
            },
        }
    }
}

/// The policy of `org_id`, for an owner or admin of it.
pub async fn get(app: &App, caller: &Caller, org_id: &str) -> Result<PolicyView> {
    authorize_caller(caller, org_id)?;
    let stored = read(app, org_id).await?;
    Ok(PolicyView::of(org_id, stored))
}

/// The read of the caller's organisation's policy, to add to a batch read (none without an
/// organisation); take its answer with [`from_found`].
pub fn want(caller: &Caller) -> Option<Want> {
    caller.org_id.clone().map(Want::OrgPolicy)
}

/// The policy [`want`] read (next in `found`, if it was asked), or the defaults.
pub fn from_found(caller: &Caller, found: &mut Found) -> Result<OrgPolicy> {
    Ok(match caller.org_id {
        Some(_) => found.org_policy()?.map(|p| p.policy),
        None => None,
    }
    .unwrap_or_default())
}

/// The policy the caller's organisation (the token's `org_id`) sets, or the defaults.
pub async fn of_caller(app: &App, caller: &Caller) -> Result<OrgPolicy> {
    let wants: Vec<Want> = want(caller).into_iter().collect();
    if wants.is_empty() {
        return Ok(OrgPolicy::default());
    }
    from_found(caller, &mut Found::from(app.store.read_all(&wants).await?))
}

/// The stored policy of `org_id`, if one was set.
async fn read(app: &App, org_id: &str) -> Result<Option<StoredOrgPolicy>> {
    let wants = [Want::OrgPolicy(org_id.to_owned())];
    Found::from(app.store.read_all(&wants).await?).org_policy()
}

/// Sets the policy of `org_id`, for an owner or admin of it who has stepped up (the caller's
/// edge checks the step-up). The owners to tell are read first, so a failure leaves nothing
/// written; then the policy and its event are one transaction, and each owner is emailed.
pub async fn set(
    app: &App,
    caller: &Caller,
    org_id: &str,
    policy: OrgPolicy,
) -> Result<PolicyView> {
    authorize_caller(caller, org_id)?;
    let owners = app
        .store
        .org_owners(org_id, MAX_ORG_OWNERS_NOTIFIED)
        .await?;
    let stored = StoredOrgPolicy {
        org_id: org_id.to_owned(),
        policy,
        updated_at: app.clock.now(),
        updated_by: caller.user.clone(),
    };
    let event = SecurityEvent::by_caller(
        app,
        caller,
        Action::OrgPolicyChanged,
        describe(caller, &stored),
    );
    let changes = [
        Change::PutOrgPolicy(stored.clone()),
        Change::PutEvent(event.clone()),
    ];
    if let Commit::Refused(kind) = app.store.commit(&changes).await? {
        return Err(Error::Internal(format!(
            "an org policy write was refused: {kind:?}"
        )));
    }
    for owner in &owners {
        notify(app, owner.email.as_ref(), &event).await;
    }
    tracing::info!(
        org_id,
        owners_notified = owners.len(),
        "organisation policy set"
    );
    Ok(PolicyView::of(org_id, Some(stored)))
}

/// What the event and the owners' notice say of a policy.
fn describe(caller: &Caller, p: &StoredOrgPolicy) -> String {
    let who = caller.display_name();
    format!(
        "organisation {}: 2FA {}, methods allowed {}, devices remembered up to {} days; set by {who}",
        p.org_id,
        if p.policy.require_mfa { "required" } else { "not required" },
        p.policy.method_list(),
        p.policy.remember_device_max_days
    )
}
