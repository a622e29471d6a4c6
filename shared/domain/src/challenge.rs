//! One-time code challenges delivered out of band (email now; SMS and voice later): issue a code,
//! count attempts atomically, accept a code once.

use zeroize::Zeroizing;

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{ct_eq, random_code, DataKeys};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::{Challenge, ChallengeStatus, Change, Found, Purpose, Want};
use crate::ports::EmailMessage;
use crate::rules::{SendLimit, CODE_TTL_SECS, MAX_ATTEMPTS_PER_CHALLENGE};
use crate::types::{ChallengeId, Email, OtpCode, UserId};

/// The keyed hash a code is stored as, bound to its challenge so it is useless anywhere else.
pub fn code_hash(keys: &DataKeys, purpose: Purpose, id: &ChallengeId, code: &str) -> [u8; 32] {
    keys.mac(
        "challenge-code",
        &[
            purpose.as_str().as_bytes(),
            id.as_ref().as_bytes(),
            code.as_bytes(),
        ],
    )
}

/// A challenge written to the store together with the plaintext code, which only exists in
/// memory until it is delivered.
pub struct NewChallenge {
    pub challenge: Challenge,
    pub code: Zeroizing<String>,
}

/// A fresh open challenge of `purpose` for `user`, with no code yet and the code lifetime: the
/// one place a challenge's tries and lifetime are set.
pub fn open(user: &UserId, purpose: Purpose, now: UnixTime) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        user: user.clone(),
        purpose,
        code_hash: None,
        code_channel: None,
        methods: vec![],
        webauthn: None,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS_PER_CHALLENGE,
        status: ChallengeStatus::Open,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    }
}

/// A fresh open challenge with a random code, not stored yet.
pub async fn fresh(app: &App, user: &UserId, purpose: Purpose) -> Result<NewChallenge> {
    let keys = app.keys().await?;
    let code = random_code(app.config.code_length);
    let mut challenge = open(user, purpose, app.clock.now());
    challenge.code_hash = Some(code_hash(keys, purpose, &challenge.id, &code).to_vec());
    Ok(NewChallenge { challenge, code })
}

/// An emailed code on its way: the challenge and the masked address.
#[derive(Debug)]
pub struct EmailChallengeSent {
    pub challenge_id: ChallengeId,
    pub to_masked: String,
    pub expires_in: i64,
}

/// Builds an email carrying a code: (service, code, minutes valid) -> (subject, text, html).
pub type ComposeCode = fn(&str, &str, i64) -> (String, String, String);

/// Emails a code for `purpose`, within `limit` per user. Either the email went out and the send
/// counts, or the caller gets an error and nothing is recorded (no challenge, no send counted).
pub async fn email_code(
    app: &App,
    user: &UserId,
    to: &Email,
    purpose: Purpose,
    limit: &SendLimit,
    compose: ComposeCode,
) -> Result<EmailChallengeSent> {
    let scope = limits::user_scope(user);
    let created = fresh(app, user, purpose).await?;
    // The send is counted in the transaction that stores the challenge: both or neither.
    let put = Change::PutChallenge(created.challenge.clone());
    let reservation = limits::commit_with_slots(app, &[(&scope, limit)], &[put])
        .await?
        .map_err(|_| Error::Internal("challenge id collision".into()))?
        .pop()
        .ok_or_else(|| Error::Internal("no send slot taken".into()))?;
    let (subject, text, html) =
        compose(&app.config.service_name, &created.code, CODE_TTL_SECS / 60);
    let message = EmailMessage {
        to: to.clone(),
        subject,
        text,
        html,
    };
    let sent = app.mailer.send(&message).await;
    crate::metrics::delivery(&sent);
    if let Err(e) = sent {
        // The provider may have the message (it timed out): keep the code and the count, so
        // an email that arrives still works and is counted.
        if e.maybe_done() {
            return Err(e);
        }
        undo(app, user, purpose, &created.challenge.id, reservation).await;
        return Err(e);
    }
    Ok(EmailChallengeSent {
        challenge_id: created.challenge.id,
        to_masked: to.masked(),
        expires_in: CODE_TTL_SECS,
    })
}

/// Compensates a failed send: the challenge is removed and the send slot given back.
async fn undo(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    r: limits::Reservation,
) {
    if let Err(e) = app.store.delete_challenge(user, purpose, id).await {
        tracing::error!(error = %e, "could not remove challenge after failed send");
    }
    if let Err(e) = limits::release(app, r).await {
        tracing::error!(error = %e, "could not release send slot after failed send");
    }
}

/// Why a challenge refused a code without counting it.
pub fn refusal(c: &Challenge, now: UnixTime) -> Error {
    if c.status == ChallengeStatus::Used {
        Error::Expired("this code was already used; request a new one".into())
    } else if c.attempts >= c.max_attempts {
        Error::TooManyAttempts("too many wrong codes; request a new one".into())
    } else if c.expires_at <= now {
        Error::Expired("the code has expired; request a new one".into())
    } else {
        // The store refused for no reason we can name: treat as a transient failure.
        Error::unavailable("challenge refused an attempt for an unknown reason")
    }
}

/// A challenge a code may be tried on, as read, with the account's guess budgets as read.
/// Nothing has been written: a right code commits [`Guess::consume`] with what it unlocks, a
/// wrong one [`Guess::count_wrong`].
#[derive(Debug)]
pub struct Guess {
    pub challenge: Challenge,
    budgets: Vec<limits::Reservation>,
}

/// Checks `code` against the challenge in constant time, writing nothing unless it is wrong
/// (see [`guessable`] and [`Guess::count_wrong`]). Nothing is consumed: the caller commits
/// [`Guess::consume`] in the same transaction as what the code unlocks, so a failure after
/// this leaves the code usable and no try counted.
pub async fn check(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<Guess> {
    Ok(check_with(app, user, purpose, id, code, &[]).await?.0)
}

/// [`check`], with what `more` wants read in the same round trip (the rest of `Found`).
pub async fn check_with(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    code: &OtpCode,
    more: &[Want],
) -> Result<(Guess, Found)> {
    let keys = app.keys().await?;
    let (guess, found) = guessable(app, user, purpose, id, more).await?;
    let expected = guess.challenge.code_hash.as_deref().unwrap_or_default();
    if ct_eq(&code_hash(keys, purpose, id, code.as_str()), expected) {
        return Ok((guess, found));
    }
    Err(guess.count_wrong(app, &[]).await?)
}

/// The user's challenge as it is now, if a code may be tried on it: it exists (404), is open,
/// unexpired and has a try left (410, 429), and the account has a guess left (429, with the
/// wait). Reads only, in one round trip with what `more` wants (left in `Found`): a code is
/// compared before anything is written.
pub async fn guessable(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    more: &[Want],
) -> Result<(Guess, Found)> {
    let mut found = read_guess(app, None, user, purpose, id, more).await?;
    let c = found
        .challenge()?
        .ok_or_else(|| Error::NotFound("no such challenge".into()))?;
    let guess = guess_on(app, c, &mut found)?;
    Ok((guess, found))
}

/// One round trip for a guess: the account's login guard first when `guard` is given (for a
/// code that counts toward the lock), then the challenge, the account's guess budgets and
/// what `more` wants; take them apart in that order.
pub async fn read_guess(
    app: &App,
    guard: Option<&UserId>,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    more: &[Want],
) -> Result<Found> {
    let mut wants: Vec<Want> = guard
        .map(|u| Want::LoginGuard(u.clone()))
        .into_iter()
        .collect();
    wants.push(Want::Challenge(user.clone(), purpose, id.clone()));
    wants.extend(limits::guess_wants(user));
    wants.extend_from_slice(more);
    Ok(app.store.read_all(&wants).await?.into())
}

/// Refuses a challenge no code may be tried on (used, expired, spent), and an account with no
/// guess left, from the budgets [`read_guess`] read (next in `found`). Writes nothing.
pub fn guess_on(app: &App, c: Challenge, found: &mut Found) -> Result<Guess> {
    let now = app.clock.now();
    if c.status != ChallengeStatus::Open || c.expires_at <= now || c.attempts >= c.max_attempts {
        return Err(refusal(&c, now));
    }
    let budgets = limits::plan_guesses(app, &c.user, found)?;
    Ok(Guess {
        challenge: c,
        budgets,
    })
}

impl Guess {
    /// The writes that use a right code up: the challenge, on the conditions that it still has
    /// a try left and the account a guess left. Concurrent wrong codes that use either up
    /// first make the right one fail too, so no more codes are compared than the limits allow.
    pub fn consume(&self) -> Vec<Change> {
        let c = &self.challenge;
        let mut changes = vec![Change::ConsumeChallenge {
            user: c.user.clone(),
            purpose: c.purpose,
            id: c.id.clone(),
        }];
        changes.extend(self.budgets.iter().map(limits::Reservation::room));
        changes
    }

    /// Counts a wrong code: the account's guess and the challenge's try, with `more`, in one
    /// transaction. `Ok` is the error to answer (`invalid_code`, or `too_many_attempts` for
    /// the last try); `Err` if it could not be counted (the challenge was used up meanwhile,
    /// or a dependency failed).
    pub async fn count_wrong(self, app: &App, more: &[Change]) -> Result<Error> {
        let mut c = self.challenge;
        let mut changes = vec![Change::CountAttempt {
            user: c.user.clone(),
            purpose: c.purpose,
            id: c.id.clone(),
            now: app.clock.now(),
        }];
        changes.extend_from_slice(more);
        if limits::take_planned(app, self.budgets, &changes)
            .await?
            .is_err()
        {
            let now = app
                .store
                .get_challenge(&c.user, c.purpose, &c.id)
                .await?
                .ok_or_else(|| Error::NotFound("no such challenge".into()))?;
            return Err(refusal(&now, app.clock.now()));
        }
        c.attempts += 1;
        Ok(wrong_code(&c))
    }
}

/// The error when [`Guess::consume`] was refused.
pub fn already_used() -> Error {
    Error::Expired("this code was already used; request a new one".into())
}

/// The error for a wrong code on a counted attempt.
pub fn wrong_code(c: &Challenge) -> Error {
    match c.max_attempts.saturating_sub(c.attempts) {
        0 => {
            // This wrong code used the last try: guessing on this challenge stops here.
            crate::metrics::count(crate::metrics::Metric::Lockout);
            Error::TooManyAttempts("too many wrong codes; request a new one".into())
        }
        n => Error::InvalidCode {
            attempts_remaining: n,
        },
    }
}
