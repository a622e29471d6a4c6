//! One-time code challenges delivered out of band (email now; SMS and voice later): issue a code,
//! count attempts atomically, accept a code once.

use zeroize::Zeroizing;

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{ct_eq, random_code, DataKeys};
use crate::error::{Error, Result};
use crate::limits;
use crate::ports::{Attempt, Challenge, ChallengeStatus, EmailMessage, Purpose};
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

/// Creates and stores a fresh open challenge with a random code.
pub async fn create(app: &App, user: &UserId, purpose: Purpose) -> Result<NewChallenge> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let id = ChallengeId::new();
    let code = random_code(app.config.code_length);
    let challenge = Challenge {
        code_hash: Some(code_hash(keys, purpose, &id, &code).to_vec()),
        methods: vec![],
        id,
        user: user.clone(),
        purpose,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS_PER_CHALLENGE,
        status: ChallengeStatus::Open,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    };
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
    if let Err(e) = app.mailer.send(&message).await {
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

/// Checks `code` against the challenge: counts the attempt first (atomically), compares in
/// constant time, and consumes the challenge on a match so the code never passes again.
pub async fn redeem(
    app: &App,
    user: &UserId,
    purpose: Purpose,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<Challenge> {
    let keys = app.keys().await?;
    let guess = crate::limits::take_guess(app, user).await?;
    let now = app.clock.now();
    let counted = app.store.count_attempt(user, purpose, id, now).await;
    let c = match counted {
        Ok(Attempt::Counted(c)) => c,
        other => {
            // Not a guess at all: give the budget back.
            crate::limits::release_all(app, guess).await;
            return match other? {
                Attempt::Refused(c) => Err(refusal(&c, now)),
                _ => Err(Error::NotFound("no such challenge".into())),
            };
        }
    };
    let expected = c.code_hash.as_deref().unwrap_or_default();
    if ct_eq(&code_hash(keys, purpose, id, code.as_str()), expected) {
        crate::limits::release_all(app, guess).await;
        if app.store.consume_challenge(user, purpose, id).await? {
            return Ok(c);
        }
        return Err(Error::Expired(
            "this code was already used; request a new one".into(),
        ));
    }
    Err(wrong_code(&c))
}

/// The error for a wrong code on a counted attempt.
pub fn wrong_code(c: &Challenge) -> Error {
    match c.max_attempts.saturating_sub(c.attempts) {
        0 => Error::TooManyAttempts("too many wrong codes; request a new one".into()),
        n => Error::InvalidCode {
            attempts_remaining: n,
        },
    }
}
