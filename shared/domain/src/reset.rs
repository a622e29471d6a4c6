//! Resetting an account's second factor (flow 6, admin reset, and the end of flow 8,
//! self-service reset): every factor, the recovery code, remembered devices, open challenges,
//! live step-up tokens and the lockout go in one DynamoDB transaction with the events, and the
//! account must enroll again at its next login, whatever its plan.

use crate::app::App;
use crate::clock::UnixTime;
use crate::error::{Error, Result};
use crate::events::{notify, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, Commit, Profile, ResetMarker};
use crate::rules::{MAX_TRANSACTION_ITEMS, WRONG_CODES_PER_DAY, WRONG_CODES_PER_HOUR};
use crate::types::{OrgRole, UserId};

/// The scope that lets operator staff reset any account.
pub const SUPPORT_SCOPE: &str = "mfa:support";

/// Records what the caller's token says about their membership, so their organisation's admins
/// can find them and they can be emailed. Called on every login.
/// The write that records what the caller's token says of them, if that changed since the
/// profile `seen` (a login that changes nothing writes nothing; `updated_at` is when it last
/// changed).
pub fn profile_change(caller: &Caller, seen: Option<&Profile>, now: UnixTime) -> Option<Change> {
    let same = seen.is_some_and(|p| {
        p.email == caller.email
            && p.org_id == caller.org_id
            && p.org_role == caller.org_role
            && p.org_indexed
    });
    (!same).then(|| {
        Change::PutProfile(Profile {
            user: caller.user.clone(),
            email: caller.email.clone(),
            org_id: caller.org_id.clone(),
            org_role: caller.org_role,
            updated_at: now,
            org_indexed: true,
        })
    })
}

/// The writes that record what the caller's token says of them, if it changed: the profile,
/// and their entry under their organisation and role (moved when either changed), by which an
/// organisation's owners are found.
pub fn profile_changes(caller: &Caller, seen: Option<&Profile>, now: UnixTime) -> Vec<Change> {
    let Some(put) = profile_change(caller, seen, now) else {
        return vec![];
    };
    let mut out = vec![put];
    let now_in = (caller.org_id.as_ref(), caller.org_role);
    if let Some(p) = seen.filter(|p| p.org_indexed) {
        if let (Some(org), Some(role)) = (&p.org_id, p.org_role) {
            if (Some(org), Some(role)) != now_in {
                out.push(Change::DeleteOrgMember {
                    org_id: org.clone(),
                    user: caller.user.clone(),
                    role,
                });
            }
        }
    }
    if let (Some(org), Some(role)) = now_in {
        out.push(Change::PutOrgMember(crate::model::OrgMember {
            org_id: org.clone(),
            user: caller.user.clone(),
            role,
            email: caller.email.clone(),
        }));
    }
    out
}

/// The changes that reset `user`'s second factor at `now`: deletions of everything that could
/// pass or bypass a login, and the marker that requires enrollment. Empty deletions and an
/// existing marker mean there is nothing to do (the reset is idempotent).
pub struct Wipe {
    pub changes: Vec<Change>,
    /// Something was removed.
    pub removed_anything: bool,
    pub already_marked: Option<ResetMarker>,
}

pub async fn wipe(app: &App, user: &UserId, by: &str, now: UnixTime) -> Result<Wipe> {
    let store = &app.store;
    let mut changes = Vec::new();
    // Only live factors: a lapsed pending enrollment can never be activated, TTL removes it,
    // and however many piled up they must not make the reset too large for one transaction.
    let live: Vec<_> = store
        .list_factors(user)
        .await?
        .into_iter()
        .filter(|f| f.is_live(now))
        .collect();
    changes.extend(crate::factors::deletions(&live));
    let has_recovery = store.get_recovery(user).await?.is_some();
    if has_recovery {
        changes.push(Change::DeleteRecovery { user: user.clone() });
    }
    changes.extend(crate::devices::deletions(&store.list_devices(user).await?));
    for c in store.list_open_challenges(user, now).await? {
        changes.push(Change::DeleteChallenge {
            user: user.clone(),
            purpose: c.purpose,
            id: c.id,
        });
    }
    for token_hash in store.list_step_up_tokens(user, now).await? {
        changes.push(Change::DeleteStepUpToken {
            user: user.clone(),
            token_hash,
        });
    }
    let locked = store.login_guard(user).await?.locked_at.is_some();
    let removed_anything = !changes.is_empty() || locked;
    changes.push(Change::DeleteLoginGuard { user: user.clone() });
    // The guessing budget starts afresh too: whoever reset the account vouched for the person
    // who now enrolls again.
    let scope = crate::limits::user_scope(user);
    for limit in [WRONG_CODES_PER_HOUR, WRONG_CODES_PER_DAY] {
        changes.push(Change::DeleteLimit {
            scope: scope.clone(),
            limit,
        });
    }
    changes.push(Change::PutResetMarker {
        user: user.clone(),
        marker: ResetMarker {
            reset_at: now,
            by: by.to_owned(),
        },
    });
    Ok(Wipe {
        changes,
        removed_anything,
        already_marked: store.get_reset_marker(user).await?,
    })
}

/// Commits a wipe with its events. Too many items for one transaction cannot happen within the
/// service's limits; if it does, nothing is written and the caller may retry later.
pub async fn commit_wipe(
    app: &App,
    mut changes: Vec<Change>,
    events: &[SecurityEvent],
) -> Result<()> {
    changes.extend(events.iter().cloned().map(Change::PutEvent));
    if changes.len() > MAX_TRANSACTION_ITEMS {
        tracing::error!(
            items = changes.len(),
            "a reset does not fit one transaction"
        );
        return Err(Error::unavailable("reset too large for one transaction"));
    }
    match app.store.commit(&changes).await? {
        Commit::Done => Ok(()),
        Commit::Refused(_) => Err(Error::Conflict(
            "the account's two-factor settings changed during the reset; nothing was changed, try again"
                .into(),
        )),
    }
}

/// What an admin reset did: whose 2FA was reset, and when.
#[derive(Debug)]
pub struct ResetDone {
    pub user: UserId,
    pub reset_at: UnixTime,
}

/// The caller may act on members of `org_id` at all: an owner or admin of that organisation, or
/// support staff. (Whether they may act on a given member is [`may_act_on`].)
pub fn authorize_caller(caller: &Caller, org_id: &str) -> Result<()> {
    if is_support(caller) {
        return Ok(());
    }
    let same_org = caller.org_id.as_deref() == Some(org_id);
    match caller.org_role {
        Some(OrgRole::Owner | OrgRole::Admin) if same_org => Ok(()),
        _ => Err(Error::Forbidden(
            "only an owner or admin of this organisation can do this".into(),
        )),
    }
}

fn is_support(caller: &Caller) -> bool {
    caller.scopes.iter().any(|s| s == SUPPORT_SCOPE)
}

/// The member as this service last saw them, if they belong to `org_id`: 404 otherwise, so an
/// admin learns nothing about accounts outside their organisation.
pub async fn member_of(app: &App, org_id: &str, member: &UserId) -> Result<Profile> {
    match app.store.get_profile(member).await? {
        Some(p) if p.org_id.as_deref() == Some(org_id) => Ok(p),
        _ => Err(Error::NotFound(
            "no such member in this organisation".into(),
        )),
    }
}

/// An admin may not reset an owner; nobody resets their own 2FA here (that is the self-service
/// reset, with its waiting period).
fn may_act_on(caller: &Caller, member: &Profile) -> Result<()> {
    if caller.user == member.user {
        return Err(Error::Forbidden(
            "you cannot reset your own two-factor authentication here; use the self-service reset"
                .into(),
        ));
    }
    if !is_support(caller)
        && caller.org_role == Some(OrgRole::Admin)
        && member.org_role == Some(OrgRole::Owner)
    {
        return Err(Error::Forbidden("an admin cannot reset an owner".into()));
    }
    Ok(())
}

/// Who did it, for the member's notice: "by jane@example.com (admin of your organisation)".
fn by_whom(caller: &Caller, reason: Option<&str>) -> String {
    let who = caller.display_name();
    let role = if is_support(caller) {
        "support".to_owned()
    } else {
        format!(
            "{} of your organisation",
            caller.org_role.map(|r| r.as_str()).unwrap_or("member")
        )
    };
    match reason {
        Some(r) => format!("by {who} ({role}); reason: {r}"),
        None => format!("by {who} ({role})"),
    }
}

/// Resets `member`'s 2FA on behalf of an owner, admin or support caller (who has stepped up).
/// Idempotent: resetting an already reset member changes nothing and emails no one. A refused
/// attempt on a member of the caller's own organisation is recorded on the caller's trail.
pub async fn admin_reset(
    app: &App,
    caller: &Caller,
    org_id: &str,
    member: &UserId,
    reason: Option<&str>,
) -> Result<ResetDone> {
    let profile = member_of(app, org_id, member).await?;
    if let Err(refused) = may_act_on(caller, &profile) {
        let mut event = SecurityEvent::by_caller(
            app,
            caller,
            Action::MemberMfaReset,
            format!("member {} (refused)", member.as_ref()),
        );
        event.outcome = "failure";
        if let Commit::Refused(_) = app.store.commit(&[Change::PutEvent(event)]).await? {
            tracing::error!("refusal event id collision");
        }
        return Err(refused);
    }
    let now = app.clock.now();
    let wipe = wipe(app, member, caller.user.as_ref(), now).await?;
    if let (false, Some(marker)) = (wipe.removed_anything, &wipe.already_marked) {
        return Ok(ResetDone {
            user: member.clone(),
            reset_at: marker.reset_at,
        });
    }
    let mut for_member =
        SecurityEvent::by_caller(app, caller, Action::MfaReset, by_whom(caller, reason));
    for_member.target = member.clone();
    let for_admin = SecurityEvent::by_caller(
        app,
        caller,
        Action::MemberMfaReset,
        format!("member {}", member.as_ref()),
    );
    commit_wipe(app, wipe.changes, &[for_member.clone(), for_admin.clone()]).await?;
    tracing::info!(
        member = member.as_ref(),
        by = caller.user.as_ref(),
        "two-factor authentication reset by an administrator"
    );
    notify(app, profile.email.as_ref(), &for_member).await;
    notify(app, caller.email.as_ref(), &for_admin).await;
    Ok(ResetDone {
        user: member.clone(),
        reset_at: now,
    })
}

/// A page of a member's security events, for an owner or admin of their organisation (or
/// support).
pub async fn member_events(
    app: &App,
    org_id: &str,
    member: &UserId,
    limit: usize,
    cursor: Option<&str>,
) -> Result<crate::settings::EventsPage> {
    member_of(app, org_id, member).await?;
    crate::settings::events(app, member, limit, cursor).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Email, OrgRole};

    fn caller(role: OrgRole) -> Caller {
        Caller {
            user: UserId::parse("user-1").unwrap(),
            email: Some(Email::parse("a@example.com").unwrap()),
            org_id: Some("org-1".into()),
            org_role: Some(role),
            plan: None,
            scopes: vec![],
            source_ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_login_that_changes_nothing_of_the_profile_writes_no_profile() {
        let first = profile_change(&caller(OrgRole::Member), None, 100);
        let Some(Change::PutProfile(seen)) = first else {
            panic!("a first login records the profile: {first:?}");
        };
        assert_eq!(seen.updated_at, 100);
        assert!(profile_change(&caller(OrgRole::Member), Some(&seen), 200).is_none());
        let promoted = profile_change(&caller(OrgRole::Admin), Some(&seen), 300);
        assert!(
            matches!(&promoted, Some(Change::PutProfile(p)) if p.org_role == Some(OrgRole::Admin) && p.updated_at == 300),
            "{promoted:?}"
        );
    }
}
