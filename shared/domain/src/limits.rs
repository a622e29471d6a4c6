//! Send limits as a sliding-window log kept in one item: each slot holds the time of one send,
//! and a slot is taken with a conditional write on the value that was read, so concurrent
//! requests can never admit more than the limit.

use crate::app::App;
use crate::error::{Error, Result};
use crate::model::{Change, ChangeKind, Commit};
use crate::rules::{pick_slot, SendLimit};

/// A slot of a budget, as planned from a read or taken for one send; give a taken one back
/// with [`release`] if the send fails.
#[derive(Debug)]
pub struct Reservation {
    scope: String,
    limit: SendLimit,
    slot: usize,
    taken_at: i64,
    previous: Option<i64>,
    /// Slots still free in the window after this one was taken.
    pub remaining: usize,
}

/// Conditional-write retries before we call it contention and ask the caller to retry.
const MAX_RACES: usize = 8;

/// Picks a free slot of `limit` for `scope` without writing anything, or answers
/// `rate_limited` with the wait.
async fn plan(app: &App, scope: &str, limit: &SendLimit) -> Result<Reservation> {
    let slots = app.store.limit_slots(scope, limit).await?;
    plan_from(app, scope, limit, &slots)
}

/// As [`plan`], from slots already read (a batch read): `rate_limited` if the budget is full.
pub fn plan_from(
    app: &App,
    scope: &str,
    limit: &SendLimit,
    slots: &[Option<i64>],
) -> Result<Reservation> {
    let now = app.clock.now();
    if let Some(wait) = limit
        .backoff
        .and_then(|b| b.wait(slots, limit.window_secs, now, scope))
    {
        return Err(Error::RateLimited { retry_after: wait });
    }
    let slot =
        pick_slot(slots, limit, now).map_err(|wait| Error::RateLimited { retry_after: wait })?;
    let lapsed = |t: &Option<i64>| t.is_none_or(|t| t <= now - limit.window_secs);
    Ok(Reservation {
        scope: scope.to_owned(),
        limit: *limit,
        slot,
        taken_at: now,
        previous: slots.get(slot).copied().flatten(),
        remaining: (0..limit.max)
            .filter(|&i| i != slot && lapsed(&slots.get(i).copied().flatten()))
            .count(),
    })
}

impl Reservation {
    /// The check that this slot is still as read, that is, the budget still has room; it
    /// writes nothing (see [`Change::LimitRoom`]).
    pub fn room(&self) -> Change {
        Change::LimitRoom {
            scope: self.scope.clone(),
            limit: self.limit,
            slot: self.slot,
            seen: self.previous,
        }
    }

    /// The write that takes this slot.
    fn taking(&self) -> Change {
        Change::TakeLimitSlot {
            scope: self.scope.clone(),
            limit: self.limit,
            slot: self.slot,
            seen: self.previous,
            now: self.taken_at,
        }
    }
}

/// Reads each budget: the slot a wrong code or a send would take, or `rate_limited` (with
/// the wait) if one is full. Writes nothing: commit [`Reservation::room`] with a right code,
/// or take the slots with [`take_planned`].
pub async fn plan_all(app: &App, budgets: &[(&str, &SendLimit)]) -> Result<Vec<Reservation>> {
    let mut planned = Vec::with_capacity(budgets.len());
    for (scope, limit) in budgets {
        planned.push(plan(app, scope, limit).await?);
    }
    Ok(planned)
}

/// Commits `changes` together with one slot of each budget, in one transaction: either the
/// send is counted and its write is done, or neither. A slot a concurrent send took first is
/// picked again. `Ok(Err(kind))`: a change of `changes` was refused (nothing was written).
pub async fn commit_with_slots(
    app: &App,
    budgets: &[(&str, &SendLimit)],
    changes: &[Change],
) -> Result<std::result::Result<Vec<Reservation>, ChangeKind>> {
    take_planned(app, plan_all(app, budgets).await?, changes).await
}

/// [`commit_with_slots`] with the slots already planned (read) by [`plan_all`].
pub async fn take_planned(
    app: &App,
    mut planned: Vec<Reservation>,
    changes: &[Change],
) -> Result<std::result::Result<Vec<Reservation>, ChangeKind>> {
    let mut changes = changes.to_vec();
    for _ in 0..MAX_RACES {
        let mut all: Vec<Change> = planned.iter().map(Reservation::taking).collect();
        all.extend_from_slice(&changes);
        match app.store.commit(&all).await? {
            Commit::Done => return Ok(Ok(planned)),
            Commit::Refused(ChangeKind::TakeLimitSlot) => {}
            Commit::Refused(ChangeKind::LimitRoom) => recheck_room(app, &mut changes).await?,
            Commit::Refused(kind) => return Ok(Err(kind)),
        }
        let mut again = Vec::with_capacity(planned.len());
        for r in &planned {
            again.push(plan(app, &r.scope, &r.limit).await?);
        }
        planned = again;
    }
    Err(Error::RateLimited { retry_after: 1 })
}

/// Commits `changes` in one transaction. A [`Change::LimitRoom`] that a concurrent wrong code
/// made stale is read again and the commit retried; a budget that is now full answers
/// `rate_limited`.
pub async fn commit(app: &App, changes: &[Change]) -> Result<Commit> {
    let mut changes = changes.to_vec();
    for _ in 0..MAX_RACES {
        match app.store.commit(&changes).await? {
            Commit::Refused(ChangeKind::LimitRoom) => recheck_room(app, &mut changes).await?,
            outcome => return Ok(outcome),
        }
    }
    Err(Error::RateLimited { retry_after: 1 })
}

/// Reads again each budget a [`Change::LimitRoom`] of `changes` checks.
async fn recheck_room(app: &App, changes: &mut [Change]) -> Result<()> {
    for c in changes.iter_mut() {
        if let Change::LimitRoom { scope, limit, .. } = c {
            *c = plan(app, scope, limit).await?.room();
        }
    }
    Ok(())
}

/// Gives a reserved slot back, so a send that failed is not counted.
pub async fn release(app: &App, r: Reservation) -> Result<()> {
    app.store
        .release_limit_slot(&r.scope, &r.limit, r.slot, r.taken_at, r.previous)
        .await
}

/// Gives back every reservation (a failure to do so is logged: the slot lapses on its own).
pub async fn release_all(app: &App, taken: Vec<Reservation>) {
    for r in taken {
        if let Err(e) = release(app, r).await {
            tracing::error!(error = %e, "could not release a limit slot");
        }
    }
}

/// The scope of a user's own limiters (they live in the user's partition).
pub fn user_scope(user: &crate::types::UserId) -> String {
    format!("USER#{}", user.as_ref())
}

/// The reads of the account's wrong-code budgets (hour and day), for a batch read.
pub fn guess_wants(user: &crate::types::UserId) -> [crate::model::Want; 2] {
    let scope = user_scope(user);
    guess_budgets(&scope).map(|(scope, limit)| crate::model::Want::LimitSlots(scope.into(), *limit))
}

/// The wrong-code budgets planned from what [`guess_wants`] read (next in `found`), or
/// `rate_limited` if one is full.
pub fn plan_guesses(
    app: &App,
    user: &crate::types::UserId,
    found: &mut crate::model::Found,
) -> Result<Vec<Reservation>> {
    let scope = user_scope(user);
    let mut planned = Vec::with_capacity(2);
    for (scope, limit) in guess_budgets(&scope) {
        planned.push(plan_from(app, scope, limit, &found.limit_slots()?)?);
    }
    Ok(planned)
}

/// The account's wrong-code budgets (hour and day) under `scope` (the user's).
pub fn guess_budgets(scope: &str) -> [(&str, &SendLimit); 2] {
    [
        (scope, &crate::rules::WRONG_CODES_PER_HOUR),
        (scope, &crate::rules::WRONG_CODES_PER_DAY),
    ]
}
