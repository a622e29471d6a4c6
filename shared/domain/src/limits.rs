//! Send limits as a sliding-window log kept in one item: each slot holds the time of one send,
//! and a slot is taken with a conditional write on the value that was read, so concurrent
//! requests can never admit more than the limit.

use crate::app::App;
use crate::error::{Error, Result};
use crate::model::{Change, ChangeKind, Commit};
use crate::rules::{pick_slot, SendLimit};

/// A slot taken for one send; give it back with [`release`] if the send fails.
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

/// Takes one slot of `limit` for `scope`, or answers `rate_limited` with the wait.
pub async fn reserve(app: &App, scope: &str, limit: &SendLimit) -> Result<Reservation> {
    for _ in 0..MAX_RACES {
        let r = plan(app, scope, limit).await?;
        if app
            .store
            .take_limit_slot(scope, limit, r.slot, r.previous, r.taken_at)
            .await?
        {
            return Ok(r);
        }
    }
    Err(Error::RateLimited { retry_after: 1 })
}

/// Picks a free slot of `limit` for `scope` without writing anything, or answers
/// `rate_limited` with the wait.
async fn plan(app: &App, scope: &str, limit: &SendLimit) -> Result<Reservation> {
    let now = app.clock.now();
    let slots = app.store.limit_slots(scope, limit).await?;
    let slot =
        pick_slot(&slots, limit, now).map_err(|wait| Error::RateLimited { retry_after: wait })?;
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

/// Commits `changes` together with one slot of each budget, in one transaction: either the
/// send is counted and its write is done, or neither. A slot a concurrent send took first is
/// picked again. `Ok(Err(kind))`: a change of `changes` was refused (nothing was written).
pub async fn commit_with_slots(
    app: &App,
    budgets: &[(&str, &SendLimit)],
    changes: &[Change],
) -> Result<std::result::Result<Vec<Reservation>, ChangeKind>> {
    for _ in 0..MAX_RACES {
        let mut taken = Vec::with_capacity(budgets.len());
        for (scope, limit) in budgets {
            taken.push(plan(app, scope, limit).await?);
        }
        let mut all: Vec<Change> = taken.iter().map(Reservation::taking).collect();
        all.extend_from_slice(changes);
        match app.store.commit(&all).await? {
            Commit::Done => return Ok(Ok(taken)),
            Commit::Refused(ChangeKind::TakeLimitSlot) => continue,
            Commit::Refused(kind) => return Ok(Err(kind)),
        }
    }
    Err(Error::RateLimited { retry_after: 1 })
}

/// Gives a reserved slot back, so a send that failed is not counted.
pub async fn release(app: &App, r: Reservation) -> Result<()> {
    app.store
        .release_limit_slot(&r.scope, &r.limit, r.slot, r.taken_at, r.previous)
        .await
}

/// Takes one slot from each budget, or none: if any is full, the ones taken are given back.
pub async fn reserve_all(app: &App, budgets: &[(&str, &SendLimit)]) -> Result<Vec<Reservation>> {
    let mut taken = Vec::new();
    for (scope, limit) in budgets {
        match reserve(app, scope, limit).await {
            Ok(r) => taken.push(r),
            Err(e) => {
                release_all(app, taken).await;
                return Err(e);
            }
        }
    }
    Ok(taken)
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

/// The account's wrong-code budgets (hour and day) under `scope` (the user's).
pub fn guess_budgets(scope: &str) -> [(&str, &SendLimit); 2] {
    [
        (scope, &crate::rules::WRONG_CODES_PER_HOUR),
        (scope, &crate::rules::WRONG_CODES_PER_DAY),
    ]
}

/// Answers `rate_limited` (with the wait) unless every budget has a slot free; writes nothing.
pub async fn ensure_room(app: &App, budgets: &[(&str, &SendLimit)]) -> Result<()> {
    for (scope, limit) in budgets {
        plan(app, scope, limit).await?;
    }
    Ok(())
}

/// Takes one guess from the account's wrong-code budget (hour and day), or answers
/// `rate_limited` with the wait. Give it back with [`release_all`] when the code was right or
/// was never checked.
pub async fn take_guess(app: &App, user: &crate::types::UserId) -> Result<Vec<Reservation>> {
    let scope = user_scope(user);
    reserve_all(
        app,
        &[
            (&scope, &crate::rules::WRONG_CODES_PER_HOUR),
            (&scope, &crate::rules::WRONG_CODES_PER_DAY),
        ],
    )
    .await
}
