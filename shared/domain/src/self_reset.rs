//! Flow 8, self-service reset (seed 004): the owner of a paid account who lost every factor
//! proves the mailbox with an emailed code, then waits (24 hours by default) while the account
//! email can cancel; the reset takes effect at the user's first request after the wait (their
//! next login, settings view, or reset request), not by a scheduled job.

use crate::app::App;
use crate::challenge;
use crate::clock::{rfc3339, UnixTime};
use crate::email;
use crate::error::{Error, Result};
use crate::events::{notify, record, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, ChangeKind, Commit, Purpose, SelfReset, SelfResetStatus};
use crate::reset;
use crate::rules::SELF_RESET_REQUESTS;
use crate::step_up::EmailChallengeSent;
use crate::types::{ChallengeId, OrgRole, OtpCode, Plan};

/// Only the owner of a paid account may reset their own 2FA this way; others ask an owner or
/// admin of their organisation (flow 6). Trial accounts can simply turn 2FA off.
fn ensure_eligible(caller: &Caller) -> Result<()> {
    if caller.org_role != Some(OrgRole::Owner) || caller.plan == Some(Plan::Trial) {
        return Err(Error::Forbidden(
            "only the owner of a paid account can reset two-factor authentication this way; \
             ask an owner or admin of your organisation"
                .into(),
        ));
    }
    Ok(())
}

/// Starts a request: emails a code to the account address (at most 3 a day).
pub async fn request(app: &App, caller: &Caller) -> Result<EmailChallengeSent> {
    ensure_eligible(caller)?;
    let to = caller.require_email()?;
    complete_if_due(app, caller).await?;
    if let Some(r) = waiting(app, caller).await? {
        return Err(Error::Conflict(format!(
            "a reset is already waiting and completes at {}",
            rfc3339(r.completes_at)
        )));
    }
    if !crate::factors::any_active(app, &caller.user).await? {
        return Err(Error::Conflict(
            "two-factor authentication has no method to reset".into(),
        ));
    }
    challenge::email_code(
        app,
        &caller.user,
        to,
        Purpose::SelfReset,
        &SELF_RESET_REQUESTS,
        email::self_reset_code,
    )
    .await
}

async fn waiting(app: &App, caller: &Caller) -> Result<Option<SelfReset>> {
    Ok(app
        .store
        .get_self_reset(&caller.user)
        .await?
        .filter(|r| r.status == SelfResetStatus::Waiting))
}

/// Confirms a request with its emailed code: the waiting period starts; the account is emailed
/// when it ends. Returns when the reset completes.
pub async fn confirm(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<UnixTime> {
    crate::metrics::verification(async {
        ensure_eligible(caller)?;
        let guess = challenge::check(app, &caller.user, Purpose::SelfReset, id, code).await?;
        let now = app.clock.now();
        let completes_at = now + app.config.self_reset_wait_secs;
        let event = SecurityEvent::by_caller(
            app,
            caller,
            Action::SelfResetRequested,
            rfc3339(completes_at),
        );
        // The code is used up in the same write that starts the wait.
        let mut changes = guess.consume();
        changes.extend([
            Change::PutSelfReset(SelfReset {
                user: caller.user.clone(),
                request_id: id.clone(),
                status: SelfResetStatus::Waiting,
                confirmed_at: now,
                completes_at,
            }),
            Change::PutEvent(event.clone()),
        ]);
        let outcome = match crate::limits::commit(app, &changes).await {
            Ok(Commit::Done) => {
                notify(app, caller.email.as_ref(), &event).await;
                return Ok(completes_at);
            }
            Ok(Commit::Refused(ChangeKind::ConsumeChallenge)) => {
                return Err(challenge::already_used())
            }
            Ok(Commit::Refused(ChangeKind::PutSelfReset)) => {
                Error::Conflict("another reset is already waiting".into())
            }
            Ok(Commit::Refused(_)) => Error::Internal("event id collision".into()),
            Err(e) => e,
        };
        Err(outcome)
    })
    .await
}

/// Cancels a request: a waiting reset never completes; an unconfirmed one's code stops
/// working. The account is emailed either way.
pub async fn cancel(app: &App, caller: &Caller, id: &ChallengeId) -> Result<()> {
    complete_if_due(app, caller).await?;
    let event = SecurityEvent::by_caller(app, caller, Action::SelfResetCancelled, "");
    match app.store.get_self_reset(&caller.user).await? {
        Some(r) if &r.request_id == id => {
            if r.status != SelfResetStatus::Waiting {
                return Err(Error::Conflict(format!(
                    "this reset was already {}",
                    r.status.as_str()
                )));
            }
            let end = Change::EndSelfReset {
                user: caller.user.clone(),
                request_id: id.clone(),
                to: SelfResetStatus::Cancelled,
                due_at: None,
            };
            match record(app, vec![end], &event, caller.email.as_ref()).await? {
                Commit::Done => Ok(()),
                Commit::Refused(_) => {
                    Err(Error::Conflict("this reset is no longer waiting".into()))
                }
            }
        }
        _ => {
            // Not confirmed yet: the request is its open code challenge.
            let open = app
                .store
                .list_open_challenges(&caller.user, app.clock.now())
                .await?
                .into_iter()
                .any(|c| c.purpose == Purpose::SelfReset && &c.id == id);
            if !open {
                return Err(Error::NotFound("no such reset request".into()));
            }
            let delete = Change::DeleteChallenge {
                user: caller.user.clone(),
                purpose: Purpose::SelfReset,
                id: id.clone(),
            };
            match record(app, vec![delete], &event, caller.email.as_ref()).await? {
                Commit::Done => Ok(()),
                Commit::Refused(_) => Err(Error::Internal("event id collision".into())),
            }
        }
    }
}

/// Applies the caller's waiting reset if its period is over: the reset, its completion and its
/// event in one transaction (the completion is conditional, so it happens once), then the
/// account is emailed. Called at the start of the caller's login, settings view and reset
/// requests.
pub async fn complete_if_due(app: &App, caller: &Caller) -> Result<bool> {
    let seen = app.store.get_self_reset(&caller.user).await?;
    complete_if_due_from(app, caller, seen).await
}

/// As [`complete_if_due`], with the self-service reset already read (`seen`).
pub async fn complete_if_due_from(
    app: &App,
    caller: &Caller,
    seen: Option<SelfReset>,
) -> Result<bool> {
    let now = app.clock.now();
    let Some(r) = seen else {
        return Ok(false);
    };
    if r.status != SelfResetStatus::Waiting || r.completes_at > now {
        return Ok(false);
    }
    let mut wipe = reset::wipe(app, &caller.user, caller.user.as_ref(), now).await?;
    wipe.changes.push(Change::EndSelfReset {
        user: caller.user.clone(),
        request_id: r.request_id.clone(),
        to: SelfResetStatus::Completed,
        due_at: Some(now),
    });
    let event = SecurityEvent::by_caller(
        app,
        caller,
        Action::MfaReset,
        "by the self-service reset you confirmed",
    );
    match reset::commit_wipe(app, wipe.changes, std::slice::from_ref(&event)).await {
        Ok(()) => {}
        // A concurrent request completed (or cancelled) it first.
        Err(Error::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    }
    tracing::info!(user = caller.user.as_ref(), "self-service reset completed");
    notify(app, caller.email.as_ref(), &event).await;
    Ok(true)
}
