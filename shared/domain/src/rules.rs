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
/// Phones (active) a user may have at once; each holds one of as many guard places, so two
/// phones verified at the same moment can never make one too many.
pub const MAX_PHONES: u8 = 3;
/// Security keys and passkeys (active or pending) a user may have at once.
pub const MAX_SECURITY_KEYS: usize = 10;

/// A remembered device is trusted at most this long after it was remembered (DESIGN.md: 30 days).
pub const DEVICE_TTL_SECS: i64 = 30 * 86_400;
/// A remembered device not used for this long lapses (DESIGN.md: 7 days unused).
pub const DEVICE_IDLE_SECS: i64 = 7 * 86_400;
/// Remembered devices a user may have; remembering one more forgets the least recently used.
pub const MAX_REMEMBERED_DEVICES: usize = 10;

/// Owners emailed when their organisation's policy changes (the first this many found).
pub const MAX_ORG_OWNERS_NOTIFIED: usize = 20;

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
    /// When set, an event also waits out this back-off after the latest one in the window.
    pub backoff: Option<Backoff>,
}

/// An exponential back-off over a [`SendLimit`]'s log: after the latest event, the next one
/// waits `first_secs` when the window holds one event, twice that when it holds two, and so on
/// up to `max_secs`, plus a jitter of up to `jitter_percent` of the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_secs: i64,
    pub max_secs: i64,
    pub jitter_percent: i64,
}

impl Backoff {
    /// How long the next event must still wait, given the log's `slots` of a window of
    /// `window_secs`, or `None` if it may go now. The jitter is drawn from `salt` and the
    /// latest event's time: the same for every request that reads the same log, so asking
    /// again and again never finds a shorter wait, and different for each user and event.
    pub fn wait(
        &self,
        slots: &[Option<i64>],
        window_secs: i64,
        now: i64,
        salt: &str,
    ) -> Option<u64> {
        let live: Vec<i64> = slots
            .iter()
            .flatten()
            .copied()
            .filter(|&t| t > now - window_secs)
            .collect();
        let latest = *live.iter().max()?;
        let doublings = (live.len() - 1).min(32) as u32;
        let base = self
            .first_secs
            .saturating_mul(1i64 << doublings)
            .min(self.max_secs);
        let ready = latest + base + self.jitter(base, salt, latest);
        (ready > now).then(|| (ready - now) as u64)
    }

    /// Up to `jitter_percent` of `base`, drawn from a hash of `salt` and `latest`.
    fn jitter(&self, base: i64, salt: &str, latest: i64) -> i64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(salt.as_bytes())
            .chain_update(latest.to_be_bytes())
            .finalize();
        let draw = u16::from_be_bytes([digest[0], digest[1]]) as i64;
        base * self.jitter_percent * draw / (100 * (u16::MAX as i64 + 1))
    }
}

/// At most 5 step-up emails per user per 15 minutes.
pub const STEP_UP_EMAIL_SENDS: SendLimit = SendLimit {
    name: "step-up-email",
    max: 5,
    window_secs: 900,
    backoff: None,
};

/// Wrong TOTP codes on step-up per user per 15 minutes; the next try waits (`rate_limited`).
pub const STEP_UP_TOTP_FAILURES: SendLimit = SendLimit {
    name: "step-up-totp-failures",
    max: 5,
    window_secs: 900,
    backoff: None,
};

/// Step-up tokens issued per user per 15 minutes (a token lives 15 minutes): bounds the live
/// tokens a reset removes in its one transaction.
pub const STEP_UP_TOKENS: SendLimit = SendLimit {
    name: "step-up-tokens",
    max: 10,
    window_secs: STEP_UP_TOKEN_TTL_SECS,
    backoff: None,
};

/// Login challenges a user may open per 10 minutes (a challenge lives 10 minutes): bounds the
/// open challenges a reset must remove in its one transaction.
pub const LOGIN_CHALLENGES: SendLimit = SendLimit {
    name: "login-challenges",
    max: 20,
    window_secs: 600,
    backoff: None,
};

/// Security key step-ups a user may start per 10 minutes (each stores a ceremony that lives
/// 10 minutes), as login challenges are bounded.
pub const STEP_UP_KEY_CHALLENGES: SendLimit = SendLimit {
    name: "step-up-key-challenges",
    max: 20,
    window_secs: 600,
    backoff: None,
};

/// Self-service reset requests (each emails a code) per user per day: the account mailbox
/// cannot be spammed through this route.
pub const SELF_RESET_REQUESTS: SendLimit = SendLimit {
    name: "self-reset-requests",
    max: 3,
    window_secs: 86_400,
    backoff: None,
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
    backoff: None,
};

/// The wait between a user's resent phone codes: 1, 2, 4 ... 32 minutes, each plus up to a
/// quarter more (Auth0's resend back-off; the flat per-user window above still bounds new
/// logins' first codes).
pub const RESEND_BACKOFF: Backoff = Backoff {
    first_secs: 60,
    max_secs: 32 * 60,
    jitter_percent: 25,
};

/// The log of every phone code a user was sent in the last hour, which the resend back-off
/// reads. A first code (an enrolment's, a login's) only writes it; its ceiling is above what
/// the per-user window lets through in an hour, so it never refuses on its own.
pub const PHONE_CODES_PER_USER: SendLimit = SendLimit {
    name: "phone-codes",
    max: 20,
    window_secs: 3600,
    backoff: None,
};

/// A resend (another code for a pending phone or a login challenge that already had one):
/// the same log as [`PHONE_CODES_PER_USER`], and it waits out [`RESEND_BACKOFF`] after the
/// user's latest code.
pub const PHONE_RESENDS_PER_USER: SendLimit = SendLimit {
    backoff: Some(RESEND_BACKOFF),
    ..PHONE_CODES_PER_USER
};

/// Codes to one phone number per hour and per day, whoever asks: against SMS pumping.
pub const PHONE_SENDS_PER_NUMBER_HOUR: SendLimit = SendLimit {
    name: "number-sends-hour",
    max: 5,
    window_secs: 3600,
    backoff: None,
};
pub const PHONE_SENDS_PER_NUMBER_DAY: SendLimit = SendLimit {
    name: "number-sends-day",
    max: 10,
    window_secs: 86_400,
    backoff: None,
};

/// The account's guessing budget, with back-off: wrong codes on every route that checks one
/// (login, TOTP step-up, email step-up) share it, so there is no side door. A correct code does
/// not use up a try. At most 10 wrong guesses in any hour and 20 in any day.
pub const WRONG_CODES_PER_HOUR: SendLimit = SendLimit {
    name: "wrong-codes-hour",
    max: 10,
    window_secs: 3600,
    backoff: None,
};
pub const WRONG_CODES_PER_DAY: SendLimit = SendLimit {
    name: "wrong-codes-day",
    max: 20,
    window_secs: 86_400,
    backoff: None,
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

    const B: Backoff = RESEND_BACKOFF;

    #[test]
    fn each_resend_waits_twice_as_long_as_the_last_up_to_32_minutes_plus_at_most_a_quarter() {
        // A day's window, so no code lapses along the way (the hour's is below).
        let window = 86_400;
        let mut slots: Vec<Option<i64>> = vec![];
        let mut now = 1_000_000;
        for base in [60, 120, 240, 480, 960, 1920] {
            slots.push(Some(now));
            let wait = B.wait(&slots, window, now, "USER#u").unwrap() as i64;
            assert!((base..=base + base / 4).contains(&wait), "{base} {wait}");
            assert_eq!(B.wait(&slots, window, now + wait, "USER#u"), None);
            assert_eq!(B.wait(&slots, window, now + wait - 1, "USER#u"), Some(1));
            now += wait;
        }
        // Ten codes in the hour wait no longer than six.
        let hour = PHONE_RESENDS_PER_USER.window_secs;
        let crowded: Vec<Option<i64>> = (0..10).map(|i| Some(now - i * 60)).collect();
        let wait = B.wait(&crowded, hour, now, "USER#u").unwrap() as i64;
        assert!((1920..=2400).contains(&wait), "{wait}");
    }

    #[test]
    fn with_no_code_in_the_window_nothing_waits() {
        assert_eq!(B.wait(&[], 3600, 10_000, "USER#u"), None);
        assert_eq!(B.wait(&[Some(6_400), None], 3600, 10_000, "USER#u"), None);
    }

    #[test]
    fn the_jitter_differs_between_users_and_is_the_same_on_every_read() {
        let slots = [Some(10_000)];
        let waits: std::collections::BTreeSet<u64> = (0..50)
            .map(|i| B.wait(&slots, 3600, 10_000, &format!("USER#{i}")).unwrap())
            .collect();
        assert!(waits.len() > 5, "{waits:?}");
        let once = B.wait(&slots, 3600, 10_000, "USER#a");
        assert_eq!(once, B.wait(&slots, 3600, 10_000, "USER#a"));
    }

    proptest! {
        // However resends are timed, each one admitted comes at least the back-off after the
        // latest code, and a refusal says exactly how long is left.
        #[test]
        fn a_resend_is_never_admitted_before_its_back_off(gaps in proptest::collection::vec(0i64..2400, 1..40)) {
            let window = PHONE_RESENDS_PER_USER.window_secs;
            let mut log: Vec<i64> = vec![];
            let mut now = 1_000_000;
            for g in gaps {
                now += g;
                let slots: Vec<Option<i64>> = log.iter().map(|&t| Some(t)).collect();
                let live = log.iter().filter(|&&t| t > now - window).count();
                match B.wait(&slots, window, now, "USER#p") {
                    None => {
                        if let Some(&latest) = log.iter().filter(|&&t| t > now - window).max() {
                            let base = (60i64 << (live - 1).min(10)).min(1920);
                            prop_assert!(now - latest >= base);
                        }
                        log.push(now);
                    }
                    Some(wait) => {
                        prop_assert!(wait >= 1 && wait as i64 <= 1920 + 480);
                        prop_assert_eq!(B.wait(&slots, window, now + wait as i64, "USER#p"), None);
                    }
                }
            }
        }

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
