//! The SMS and voice pumping guard. Toll-fraud rings have a service text or call many numbers of
//! one premium range, a few each, so the per-user and per-number limits never trip; the
//! operator pays for every message. A send to a number the user has not proven yet (an
//! enrolment's first code, or its resend) is counted, in the transaction that stores the code,
//! against velocity ceilings per destination range (the E.164 number without its last four
//! digits), per country calling code and per source IP; a range over its ceiling is blocked
//! for a while. Every send, proven or not, is counted against a daily budget of the whole
//! service, sharded over several items; past the budget only proven phones get codes.
//!
//! The counters are fixed windows (aligned to the epoch), so a burst across a window's edge can
//! see up to twice a ceiling; the ceilings are meant to be far above what real users reach.

use crate::app::App;
use crate::crypto::DataKeys;
use crate::error::{Error, Result};
use crate::events::{self, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, Commit, Velocity, Want};
use crate::phone::PhoneNumber;

/// A fixed-window ceiling: at most `max` counted sends in each window of `window_secs`
/// (`max` 0 turns the counter off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    pub max: i64,
    pub window_secs: i64,
}

/// What the operator sets (`SMS_GUARD_*`, `SMS_DAILY_BUDGET`); see `Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpingGuard {
    /// New-number sends per destination range (`SMS_GUARD_PREFIX_MAX`, `..._WINDOW_SECS`).
    pub per_prefix: Ceiling,
    /// New-number sends per country calling code (`SMS_GUARD_COUNTRY_MAX`, ...).
    pub per_country: Ceiling,
    /// New-number sends per source IP (`SMS_GUARD_IP_MAX`, ...).
    pub per_source_ip: Ceiling,
    /// How long a range over its ceiling stays blocked (`SMS_GUARD_BLOCK_SECS`).
    pub block_secs: i64,
    /// Messages of the whole service per UTC day (`SMS_DAILY_BUDGET`, 0: no budget); past it
    /// only proven phones get codes.
    pub daily_budget: i64,
    /// Whether a proven phone still gets codes while its range is blocked
    /// (`SMS_GUARD_PROVEN_PHONES_IN_BLOCK`, default true: the user proved the number before).
    pub proven_phones_in_block: bool,
}

impl Default for PumpingGuard {
    fn default() -> Self {
        PumpingGuard {
            per_prefix: Ceiling {
                max: 10,
                window_secs: 3600,
            },
            per_country: Ceiling {
                max: 1000,
                window_secs: 3600,
            },
            per_source_ip: Ceiling {
                max: 20,
                window_secs: 3600,
            },
            block_secs: 12 * 3600,
            daily_budget: 100_000,
            proven_phones_in_block: true,
        }
    }
}

/// The daily budget is spread over this many counters, each in its own partition: one
/// DynamoDB partition takes about 1,000 writes a second, and a send in a transaction costs
/// two, so together they hold about 5,000 sends a second.
pub const DAILY_SHARDS: i64 = 10;

/// Whom a send goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// A number being enrolled, which nobody has proven yet: the send a fraud ring abuses.
    New,
    /// The user's active phone, proven when it was enrolled.
    Proven,
}

/// One counter of a send: its item, its ceiling, and when its window ends.
#[derive(Debug, Clone)]
struct Counted {
    tag: Velocity,
    scope: String,
    name: String,
    max: Option<i64>,
    ends_at: i64,
}

/// The guard's part of one send, planned before its transaction: the check of the range's
/// block and the counts, which go in the transaction that stores the code, and what gives the
/// counts back if the message cannot be sent.
#[derive(Debug)]
pub struct Plan {
    range_scope: String,
    /// The range's block is checked (a new number, or a proven one the operator holds back).
    check_block: bool,
    counted: Vec<Counted>,
    /// The day (days since the epoch) whose budget this send counts on.
    day: i64,
}

/// The most the daily budget's shard `k` may count: the budget spread evenly, the remainder
/// on the first shards, so the shards add up to the budget exactly.
fn shard_max(budget: i64, k: i64) -> i64 {
    budget / DAILY_SHARDS + i64::from(k < budget % DAILY_SHARDS)
}

fn window(now: i64, window_secs: i64) -> (i64, i64) {
    let start = now - now.rem_euclid(window_secs);
    (start, start + window_secs)
}

/// `rate_limited`, to try again in `secs` (at least 1).
fn wait(secs: i64) -> Error {
    Error::RateLimited {
        retry_after: secs.max(1).unsigned_abs(),
    }
}

fn daily_scope(day: i64, shard: i64) -> String {
    format!("SENDS#day#{day}#{shard}")
}

/// Plans the guard's checks and counts for one send of `to` to `phone`.
pub fn plan(
    app: &App,
    keys: &DataKeys,
    caller: &Caller,
    phone: &PhoneNumber,
    to: Recipient,
) -> Plan {
    let guard = &app.config.pumping;
    let now = app.clock.now();
    let range_scope = format!(
        "SENDS#range#{}",
        keys.mac_hex("phone-range", &[phone.range().as_bytes()])
    );
    let mut counted = Vec::new();
    let mut count = |tag, scope: String, c: &Ceiling| {
        if c.max > 0 && c.window_secs > 0 {
            let (start, ends_at) = window(now, c.window_secs);
            counted.push(Counted {
                tag,
                scope,
                name: format!("{}#{start}", c.window_secs),
                max: Some(c.max),
                ends_at,
            });
        }
    };
    if to == Recipient::New {
        count(Velocity::Range, range_scope.clone(), &guard.per_prefix);
        if let Some(cc) = phone.country_code() {
            count(
                Velocity::Country,
                format!("SENDS#country#{cc}"),
                &guard.per_country,
            );
        }
        if let Some(ip) = caller.source_ip.as_deref() {
            count(
                Velocity::SourceIp,
                format!("SENDS#ip#{}", keys.mac_hex("source-ip", &[ip.as_bytes()])),
                &guard.per_source_ip,
            );
        }
    }
    let (day_start, day_end) = window(now, 86_400);
    let day = day_start / 86_400;
    if guard.daily_budget > 0 {
        // Only shards that may count anything: a budget under DAILY_SHARDS has fewer.
        let live = guard.daily_budget.clamp(1, DAILY_SHARDS);
        let shard = i64::from(u16::from_be_bytes(crate::crypto::random_bytes::<2>())) % live;
        counted.push(Counted {
            tag: Velocity::Daily,
            scope: daily_scope(day, shard),
            name: "day".into(),
            // A proven phone is counted but never refused for the budget.
            max: (to == Recipient::New).then(|| shard_max(guard.daily_budget, shard)),
            ends_at: day_end,
        });
    }
    Plan {
        range_scope,
        check_block: to == Recipient::New || !guard.proven_phones_in_block,
        counted,
        day,
    }
}

impl Plan {
    /// The checks and counts, to go first in the send's transaction (so a refusal names them).
    pub fn changes(&self, now: i64) -> Vec<Change> {
        let block = self.check_block.then(|| Change::NotBlocked {
            scope: self.range_scope.clone(),
            now,
        });
        block
            .into_iter()
            .chain(self.counted.iter().map(|c| Change::CountSend {
                scope: c.scope.clone(),
                name: c.name.clone(),
                max: c.max,
                expires_at: c.ends_at,
                tag: c.tag,
            }))
            .collect()
    }

    /// What to do when the send's transaction was refused by the guard: `Ok(())` to try again
    /// (the refusal no longer holds, or another shard of the daily budget has room), or
    /// `rate_limited` with the wait. A range over its ceiling is blocked here, with a security
    /// event for the user whose send tripped it and a metric.
    pub async fn refused(
        &mut self,
        app: &App,
        caller: &Caller,
        phone: &PhoneNumber,
        kind: crate::model::ChangeKind,
    ) -> Result<()> {
        use crate::model::ChangeKind;
        let now = app.clock.now();
        let guard = &app.config.pumping;
        let ends_at = |tag| {
            self.counted
                .iter()
                .find(|c| c.tag == tag)
                .map_or(now + 1, |c| c.ends_at)
        };
        match kind {
            ChangeKind::NotBlocked => {
                let found = app
                    .store
                    .read_all(&[Want::Block(self.range_scope.clone())])
                    .await?;
                match crate::model::Found::from(found).block()? {
                    Some(until) if until > now => Err(wait(until - now)),
                    _ => Ok(()),
                }
            }
            ChangeKind::CountSend(Velocity::Range) => {
                let until = now + guard.block_secs;
                let mut event = SecurityEvent::by_caller(
                    app,
                    caller,
                    Action::PhoneRangeBlocked,
                    format!(
                        "too many new numbers like {} were sent codes; their range is blocked for {} minutes",
                        phone.masked(),
                        guard.block_secs / 60
                    ),
                );
                event.outcome = "failure";
                let block = vec![Change::PutBlock {
                    scope: self.range_scope.clone(),
                    until,
                }];
                if events::record(app, block, &event, None).await? == Commit::Done {
                    crate::metrics::count(crate::metrics::Metric::PhoneRangeBlocked);
                    tracing::warn!(blocked_secs = guard.block_secs, "a phone range was blocked");
                }
                Err(wait(guard.block_secs))
            }
            ChangeKind::CountSend(tag @ (Velocity::Country | Velocity::SourceIp)) => {
                Err(wait(ends_at(tag) - now))
            }
            ChangeKind::CountSend(Velocity::Daily) => {
                let wants: Vec<Want> = (0..DAILY_SHARDS)
                    .map(|k| Want::SendCount(daily_scope(self.day, k), "day".into()))
                    .collect();
                let mut found = crate::model::Found::from(app.store.read_all(&wants).await?);
                let mut room = None;
                for k in 0..DAILY_SHARDS {
                    if found.send_count()? < shard_max(guard.daily_budget, k) {
                        room = Some(k);
                    }
                }
                match room {
                    Some(k) => {
                        self.use_shard(k, shard_max(guard.daily_budget, k));
                        Ok(())
                    }
                    None => Err(wait(ends_at(Velocity::Daily) - now)),
                }
            }
            other => Err(Error::Internal(format!(
                "the pumping guard cannot handle a refused {other:?}"
            ))),
        }
    }

    /// Counts the daily budget on shard `k` (of ceiling `max`) instead.
    fn use_shard(&mut self, k: i64, max: i64) {
        if let Some(c) = self.counted.iter_mut().find(|c| c.tag == Velocity::Daily) {
            c.scope = daily_scope(self.day, k);
            c.max = Some(max);
        }
    }

    /// Gives back every count of a send whose message could not be sent (a failure to do so
    /// is logged: the count lapses with its window).
    pub async fn give_back(self, app: &App) {
        for c in self.counted {
            let undo = [Change::UncountSend {
                scope: c.scope,
                name: c.name,
            }];
            if let Err(e) = app.store.commit(&undo).await {
                tracing::error!(error = %e, "could not give back a send count");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_shards_add_up_to_the_budget_exactly() {
        for budget in [1, 3, 9, 10, 11, 25, 99, 100_000, 1_000_000_007] {
            let total: i64 = (0..DAILY_SHARDS).map(|k| shard_max(budget, k)).sum();
            assert_eq!(total, budget, "{budget}");
            // The shards a send may pick are those with room for at least one.
            let live = budget.clamp(1, DAILY_SHARDS);
            assert!((0..live).all(|k| shard_max(budget, k) >= 1), "{budget}");
        }
    }

    #[test]
    fn a_window_is_aligned_to_its_length_and_holds_now() {
        for (now, secs) in [
            (0, 3600),
            (3599, 3600),
            (3600, 3600),
            (1_796_218_072, 86_400),
        ] {
            let (start, end) = window(now, secs);
            assert_eq!(start % secs, 0);
            assert_eq!(end - start, secs);
            assert!(start <= now && now < end, "{now} {secs}");
        }
    }

    #[test]
    fn a_range_is_the_number_without_its_last_four_digits() {
        let p = PhoneNumber::parse(
            "+33621230199",
            crate::model::Channel::Sms,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(p.range(), "+3362123");
        let q = PhoneNumber::parse(
            "+33621230000",
            crate::model::Channel::Sms,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(p.range(), q.range());
        assert_eq!(p.country_code(), Some(33));
    }
}
