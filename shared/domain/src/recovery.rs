//! The recovery code: 128 random bits shown once in groups (`7KQF-2MZ9-...`), stored only as a
//! keyed hash. One per user; issuing a new one replaces the old at once.

use std::fmt;

use zeroize::Zeroizing;

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{ct_eq, random_bytes, DataKeys};
use crate::error::{Error, Result};
use crate::events::{record, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, Commit, RecoveryRecord};
use crate::types::UserId;

const BYTES: usize = 16;
/// 16 bytes in base32 without padding.
const CHARS: usize = 26;

/// A recovery code, canonical form: 26 base32 characters, upper case, no separators.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    pub fn generate() -> Self {
        RecoveryCode(Zeroizing::new(
            data_encoding::BASE32_NOPAD.encode(&random_bytes::<BYTES>()),
        ))
    }

    /// Accepts what a person types: any case, dashes and spaces ignored.
    pub fn parse(s: &str) -> Result<Self> {
        let canon: String = s
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok = s.len() <= 64
            && canon.len() == CHARS
            && data_encoding::BASE32_NOPAD
                .decode(canon.as_bytes())
                .is_ok_and(|b| b.len() == BYTES);
        if ok {
            Ok(RecoveryCode(Zeroizing::new(canon)))
        } else {
            Err(Error::invalid("recovery_code is not a valid recovery code"))
        }
    }

    /// Grouped by four for people: `7KQF-2MZ9-...-XY`.
    pub fn display(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The keyed hash it is stored as, bound to its user.
    pub fn hash(&self, keys: &DataKeys, user: &UserId) -> Vec<u8> {
        keys.mac(
            "recovery-code",
            &[user.as_ref().as_bytes(), self.0.as_bytes()],
        )
        .to_vec()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// A recovery code just issued: shown once, never readable again.
#[derive(Debug)]
pub struct Issued {
    pub code: RecoveryCode,
    pub created_at: UnixTime,
}

/// Replaces the caller's recovery code; the old one stops working in the same write.
pub async fn regenerate(app: &App, caller: &Caller) -> Result<Issued> {
    let keys = app.keys().await?;
    if !crate::factors::any_active(app, &caller.user).await? {
        return Err(Error::Conflict(
            "turn on two-factor authentication before creating a recovery code".into(),
        ));
    }
    let code = RecoveryCode::generate();
    let now = app.clock.now();
    let event = SecurityEvent::by_caller(app, caller, Action::RecoveryCodeRegenerated, "");
    let change = Change::PutRecovery {
        user: caller.user.clone(),
        record: RecoveryRecord {
            hash: code.hash(keys, &caller.user),
            created_at: now,
        },
        only_if_absent: false,
    };
    match record(app, vec![change], &event, caller.email.as_ref()).await? {
        Commit::Done => Ok(Issued {
            code,
            created_at: now,
        }),
        Commit::Refused(_) => Err(Error::Internal("event id collision".into())),
    }
}

/// If `code` is the user's current recovery code (compared in constant time), the write that
/// swaps it for a new one on the condition that it is still the current one, and the new
/// code. Nothing is written here: the caller commits the swap with what the code unlocks, so
/// a failure before that leaves the code working.
pub async fn matching(
    app: &App,
    user: &UserId,
    code: &RecoveryCode,
) -> Result<Option<(Change, RecoveryCode)>> {
    let keys = app.keys().await?;
    let Some(current) = app.store.get_recovery(user).await? else {
        return Ok(None);
    };
    let presented = code.hash(keys, user);
    if !ct_eq(&presented, &current.hash) {
        return Ok(None);
    }
    let next = RecoveryCode::generate();
    let swap = Change::SwapRecovery {
        user: user.clone(),
        old_hash: presented,
        new: RecoveryRecord {
            hash: next.hash(keys, user),
            created_at: app.clock.now(),
        },
    };
    Ok(Some((swap, next)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_generated_code_displays_in_groups_and_parses_back() {
        let c = RecoveryCode::generate();
        let shown = c.display();
        assert_eq!(shown.len(), 26 + 6);
        assert!(shown.split('-').take(6).all(|g| g.len() == 4));
        assert_eq!(RecoveryCode::parse(&shown).unwrap(), c);
        assert_eq!(
            RecoveryCode::parse(&shown.to_lowercase().replace('-', " ")).unwrap(),
            c
        );
    }

    #[test]
    fn hashes_differ_per_user_and_per_code() {
        let keys = DataKeys::derive(&[1u8; 32]).unwrap();
        let (a, b) = (UserId::parse("a").unwrap(), UserId::parse("b").unwrap());
        let c = RecoveryCode::generate();
        assert_ne!(c.hash(&keys, &a), c.hash(&keys, &b));
        assert_ne!(c.hash(&keys, &a), RecoveryCode::generate().hash(&keys, &a));
    }

    proptest! {
        #[test]
        fn parse_accepts_only_26_base32_chars_that_decode_to_16_bytes(s in "[A-Z2-7a-z0-9 -]{0,40}") {
            let canon: String = s.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
            let expect = canon.len() == 26 && data_encoding::BASE32_NOPAD.decode(canon.as_bytes()).is_ok();
            prop_assert_eq!(RecoveryCode::parse(&s).is_ok(), expect);
        }

        #[test]
        fn every_generated_code_round_trips(_n in 0..50u8) {
            let c = RecoveryCode::generate();
            prop_assert_eq!(RecoveryCode::parse(&c.display()).unwrap(), c);
        }
    }
}
