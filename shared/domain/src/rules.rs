//! The numbers docs/DESIGN.md fixes, in one place. Anything a deployment may tune is in `config`.

/// One-time codes are valid this long (DESIGN.md "Rules": 10 minutes).
pub const CODE_TTL_SECS: i64 = 600;
/// Wrong tries a challenge survives: the 5th wrong code kills it.
pub const MAX_ATTEMPTS_PER_CHALLENGE: u32 = 5;
/// Allowed code lengths (default 6; 7 for SendGrid-style tokens).
pub const CODE_LEN_RANGE: std::ops::RangeInclusive<usize> = 6..=8;
/// How long an issued step-up token lets the user change security settings.
pub const STEP_UP_TOKEN_TTL_SECS: i64 = 900;
/// Items that expire stay this long past their expiry before TTL removes them, so a late
/// request still meets "expired" rather than "not found".
pub const TTL_GRACE_SECS: i64 = 86_400;

/// A pending factor lapses this long after enrollment starts unless verified.
pub const PENDING_FACTOR_TTL_SECS: i64 = 600;
/// Authenticator apps (active or pending) a user may have at once.
pub const MAX_TOTP_APPS: usize = 5;
/// Security keys and passkeys (active or pending) a user may have at once.
pub const MAX_SECURITY_KEYS: usize = 10;

/// A remembered device is trusted at most this long after it was remembered (DESIGN.md: 30 days).
pub const DEVICE_TTL_SECS: i64 = 30 * 86_400;
/// A remembered device not used for this long lapses (DESIGN.md: 7 days unused).
pub const DEVICE_IDLE_SECS: i64 = 7 * 86_400;
/// Remembered devices a user may have; remembering one more forgets the least recently used.
pub const MAX_REMEMBERED_DEVICES: usize = 10;

/// Security events per page of the events API: the default, and the most a caller may ask for.
pub const EVENTS_PAGE_DEFAULT: usize = 20;
pub const EVENTS_PAGE_MAX: usize = 100;

/// A sliding-window send limit: at most `max` events in any `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimit {
    /// Stable name: part of the limiter's item key.
    pub name: &'static str,
    pub max: usize,
    pub window_secs: i64,
}

/// At most 5 step-up emails per user per 15 minutes.
pub const STEP_UP_EMAIL_SENDS: SendLimit = SendLimit {
    name: "step-up-email",
    max: 5,
    window_secs: 900,
};

/// Wrong TOTP codes on step-up per user per 15 minutes; the next try waits (`rate_limited`).
pub const STEP_UP_TOTP_FAILURES: SendLimit = SendLimit {
    name: "step-up-totp-failures",
    max: 5,
    window_secs: 900,
};

/// Step-up tokens issued per user per 15 minutes (a token lives 15 minutes): bounds the live
/// tokens a reset removes in its one transaction.
pub const STEP_UP_TOKENS: SendLimit = SendLimit {
    name: "step-up-tokens",
    max: 10,
    window_secs: STEP_UP_TOKEN_TTL_SECS,
};

/// Login challenges a user may open per 10 minutes (a challenge lives 10 minutes): bounds the
/// open challenges a reset must remove in its one transaction.
pub const LOGIN_CHALLENGES: SendLimit = SendLimit {
    name: "login-challenges",
    max: 20,
    window_secs: 600,
};

/// Security key step-ups a user may start per 10 minutes (each stores a ceremony that lives
/// 10 minutes), as login challenges are bounded.
pub const STEP_UP_KEY_CHALLENGES: SendLimit = SendLimit {
    name: "step-up-key-challenges",
    max: 20,
    window_secs: 600,
};

/// Self-service reset requests (each emails a code) per user per day: the account mailbox
/// cannot be spammed through this route.
pub const SELF_RESET_REQUESTS: SendLimit = SendLimit {
    name: "self-reset-requests",
    max: 3,
    window_secs: 86_400,
};

/// Default waiting period between a confirmed self-service reset and its completion.
pub const SELF_RESET_WAIT_DEFAULT_SECS: i64 = 86_400;
/// The waiting period a deployment may set (`SELF_RESET_WAIT_SECS`): 1 minute to 30 days.
pub const SELF_RESET_WAIT_RANGE: std::ops::RangeInclusive<i64> = 60..=30 * 86_400;

/// A reset removes everything in one DynamoDB transaction, which takes at most this many items.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// Phone codes (SMS or call) per user per 15 minutes.
pub const PHONE_SENDS_PER_USER: SendLimit = SendLimit {
    name: "phone-sends",
    max: 5,
    window_secs: 900,
};

/// Codes to one phone number per hour and per day, whoever asks: against SMS pumping.
pub const PHONE_SENDS_PER_NUMBER_HOUR: SendLimit = SendLimit {
    name: "number-sends-hour",
    max: 5,
    window_secs: 3600,
};
pub const PHONE_SENDS_PER_NUMBER_DAY: SendLimit = SendLimit {
    name: "number-sends-day",
    max: 10,
    window_secs: 86_400,
};

/// The account's guessing budget, with back-off: wrong codes on every route that checks one
/// (login, TOTP step-up, email step-up) share it, so there is no side door. A correct code does
/// not use up a try. At most 10 wrong guesses in any hour and 20 in any day.
pub const WRONG_CODES_PER_HOUR: SendLimit = SendLimit {
    name: "wrong-codes-hour",
    max: 10,
    window_secs: 3600,
};
pub const WRONG_CODES_PER_DAY: SendLimit = SendLimit {
    name: "wrong-codes-day",
    max: 20,
    window_secs: 86_400,
};
/// Consecutive wrong codes after which the account's second step is locked until a reset
/// (NIST SP 800-63B 5.2.2: no more than 100).
pub const LOCKOUT_AFTER_FAILURES: u32 = 100;

/// Where a new event may go in a sliding-window log of `slots` (each the time an earlier event
/// took it, or `None`): the first free or lapsed slot, or else how long until the oldest lapses.
pub fn pick_slot(slots: &[Option<i64>], limit: &SendLimit, now: i64) -> Result<usize, u64> {
    let lapsed = |t: &Option<i64>| t.is_none_or(|t| t <= now - limit.window_secs);
    if let Some(i) = (0..limit.max).find(|&i| lapsed(&slots.get(i).copied().flatten())) {
        return Ok(i);
    }
    let oldest = slots
        .iter()
        .take(limit.max)
        .flatten()
        .min()
        .copied()
        .unwrap_or(now);
    Err((oldest + limit.window_secs - now).max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L: SendLimit = STEP_UP_EMAIL_SENDS;

    #[test]
    fn given_five_sends_in_the_window_then_the_sixth_waits_for_the_oldest() {
        let now = 10_000;
        let slots = [
            Some(now - 100),
            Some(now - 50),
            Some(now - 40),
            Some(now - 1),
            Some(now),
        ];
        assert_eq!(pick_slot(&slots, &L, now), Err(800));
    }

    #[test]
    fn given_a_lapsed_slot_then_it_is_reused() {
        let now = 10_000;
        let slots = [
            Some(now - 10),
            Some(now - 900),
            Some(now),
            Some(now),
            Some(now),
        ];
        assert_eq!(pick_slot(&slots, &L, now), Ok(1));
        assert_eq!(pick_slot(&[], &L, now), Ok(0));
    }

    proptest! {
        // Replaying any sequence of requests through pick_slot never lets more than `max` events
        // into any window, and a refusal only happens when the window really is full.
        #[test]
        fn sliding_window_never_admits_more_than_max_in_any_window(gaps in proptest::collection::vec(0i64..400, 1..60)) {
            let mut slots: Vec<Option<i64>> = vec![None; L.max];
            let mut admitted: Vec<i64> = vec![];
            let mut now = 1_000_000;
            for g in gaps {
                now += g;
                let in_window = admitted.iter().filter(|&&t| t > now - L.window_secs).count();
                match pick_slot(&slots, &L, now) {
                    Ok(i) => { prop_assert!(in_window < L.max); slots[i] = Some(now); admitted.push(now); }
                    Err(wait) => { prop_assert_eq!(in_window, L.max); prop_assert!(wait >= 1 && wait as i64 <= L.window_secs); }
                }
            }
        }
    }
}
