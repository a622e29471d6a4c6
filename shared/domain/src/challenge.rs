//! One-time code challenges delivered out of band (email now; SMS and voice later): issue a code,
//! count attempts atomically, accept a code once.

use zeroize::Zeroizing;

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{ct_eq, random_code, DataKeys};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::{Attempt, Challenge, ChallengeStatus, Change, Purpose};
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
        attempts: 0,
        max_attempts: MAX_ATTEMPTS_PER_CHALLENGE,
        status: ChallengeStatus::Open,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    }
}

/// Creates and stores a fresh open challenge with a random code.
pub async fn create(app: &App, user: &UserId, purpose: Purpose) -> Result<NewChallenge> {
    let keys = app.keys().await?;
    let code = random_code(app.config.code_length);
    let mut challenge = open(user, purpose, app.clock.now());
    challenge.code_hash = Some(code_hash(keys, purpose, &challenge.id, &code).to_vec());
    app.store.put_challenge(&challenge).await?;
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
    app.keys().await?;
    let scope = limits::user_scope(user);
    let reservation = limits::reserve(app, &scope, limit).await?;
    let created = match create(app, user, purpose).await {
        Ok(c) => c,
        Err(e) => {
            undo(app, user, purpose, None, reservation).await;
            return Err(e);
        }
    };
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
        undo(app, user, purpose, Some(&created.challenge.id), reservation).await;
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
    id: Option<&ChallengeId>,
    r: limits::Reservation,
) {
    if let Some(id) = id {
        if let Err(e) = app.store.delete_challenge(user, purpose, id).await {
            tracing::error!(error = %e, "could not remove challenge after failed send");
        }
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

/// Checks `code` against the challenge: counts the attempt first (atomically) and compares in
/// constant time. Nothing is consumed: the caller commits [`consume`] in the same transaction
/// as what the code unlocks, so a failure after this leaves the code usable.
pub async fn check(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<Challenge> {
    let keys = app.keys().await?;
    let guess = crate::limits::take_guess(app, user).await?;
    let c = match count_try(app, user, purpose, id).await {
        Ok(c) => c,
        Err(e) => {
            // Not a guess at all: give the budget back.
            crate::limits::release_all(app, guess).await;
            return Err(e);
        }
    };
    let expected = c.code_hash.as_deref().unwrap_or_default();
    if ct_eq(&code_hash(keys, purpose, id, code.as_str()), expected) {
        crate::limits::release_all(app, guess).await;
        return Ok(c);
    }
    Err(wrong_code(&c))
}

/// Counts one try on the user's challenge, or says why it cannot be tried (404 for no such
/// challenge of this user, 410 or 429 for a used, expired or spent one).
pub async fn count_try(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
) -> Result<Challenge> {
    let now = app.clock.now();
    match app.store.count_attempt(user, purpose, id, now).await? {
        Attempt::Missing => Err(Error::NotFound("no such challenge".into())),
        Attempt::Refused(c) => Err(refusal(&c, now)),
        Attempt::Counted(c) => Ok(c),
    }
}

/// The write that uses a checked challenge up; refused if a concurrent request used it first.
pub fn consume(c: &Challenge) -> Change {
    Change::ConsumeChallenge {
        user: c.user.clone(),
        purpose: c.purpose,
        id: c.id.clone(),
    }
}

/// The error when [`consume`] was refused.
pub fn already_used() -> Error {
    Error::Expired("this code was already used; request a new one".into())
}

/// After a correct code whose request then failed: the try is given back (best effort), so
/// the same request can succeed later.
pub async fn give_back(app: &App, c: &Challenge) {
    if let Err(e) = app.store.release_attempt(&c.user, c.purpose, &c.id).await {
        tracing::warn!(error = %e, "could not give a try back");
    }
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
