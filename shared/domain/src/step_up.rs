//! Step-up: a recent proof that unlocks security settings for a short while through an opaque,
//! hashed, user-bound token. The token records what it proved (issue 18): the mailbox
//! (`email`) or one of the user's factors (`factor`: an app code, a code sent to the active
//! phone, or the recovery code). Once a user has an active factor, changing their 2FA needs a
//! `factor` step-up: the mailbox alone is not a second factor.

use crate::app::App;
use crate::challenge;
use crate::clock::UnixTime;
use crate::crypto::{random_bytes, random_code};
use crate::email;
use crate::error::{Error, Result};
use crate::events::{notify, Action, SecurityEvent};
use crate::identity::Caller;
use crate::limits;
use crate::model::{
    Change, ChangeKind, Channel, Commit, FactorKind, Found, Method, Purpose, StepUpLevel, Want,
};
use crate::phones;
use crate::pumping::Recipient;
use crate::recovery::RecoveryCode;
use crate::rules::{
    CODE_TTL_SECS, STEP_UP_EMAIL_SENDS, STEP_UP_KEY_CHALLENGES, STEP_UP_TOKENS,
    STEP_UP_TOKEN_TTL_SECS,
};
use crate::types::{ChallengeId, Email, FactorId, OpaqueToken, OtpCode, UserId};

/// Header that carries the step-up token on sensitive routes.
pub const HEADER: &str = "x-step-up-token";

pub use crate::challenge::EmailChallengeSent;

#[derive(Debug)]
pub struct IssuedStepUp {
    pub token: OpaqueToken,
    pub level: StepUpLevel,
    pub expires_in: i64,
}

/// Sends a step-up code to the account email. Either the email went out and the send counts,
/// or the caller gets an error and nothing is recorded (no challenge, no send counted).
pub async fn start_email(app: &App, user: &UserId, to: &Email) -> Result<EmailChallengeSent> {
    challenge::email_code(
        app,
        user,
        to,
        Purpose::StepUpEmail,
        &STEP_UP_EMAIL_SENDS,
        email::step_up_code,
    )
    .await
}

/// Redeems an emailed code and issues an `email` step-up token: the code is used up in the
/// same write that stores the token.
pub async fn verify_email(
    app: &App,
    user: &UserId,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<IssuedStepUp> {
    crate::metrics::verification(async {
        let (guess, mut found) = challenge::check_with(
            app,
            user,
            Purpose::StepUpEmail,
            id,
            code,
            &[TokenBudget::want(user)],
        )
        .await?;
        let budget = TokenBudget::from_found(&mut found)?;
        grant_for_challenge(app, &guess, StepUpLevel::Email, vec![], budget).await
    })
    .await
}

/// Issues a step-up token for a checked challenge: the challenge is consumed with `more` in
/// the token's transaction (no try was counted for the right code, so a failure leaves it
/// usable).
pub(crate) async fn grant_for_challenge(
    app: &App,
    guess: &challenge::Guess,
    level: StepUpLevel,
    more: Vec<Change>,
    budget: TokenBudget,
) -> Result<IssuedStepUp> {
    let mut proof = guess.consume();
    proof.extend(more);
    let user = &guess.challenge.user;
    grant(app, user, level, proof, budget, |_| {
        challenge::already_used()
    })
    .await
}

/// The user's step-up token budget ([`STEP_UP_TOKENS`]) as read in the same round trip as what
/// a grant proves (the challenge, or the guess budgets), so issuing a token reads nothing more.
pub(crate) struct TokenBudget(Vec<Option<i64>>);

impl TokenBudget {
    /// The read to add to the proof's round trip, last.
    pub(crate) fn want(user: &UserId) -> Want {
        Want::LimitSlots(limits::user_scope(user), STEP_UP_TOKENS)
    }

    /// The budget [`TokenBudget::want`] read: the next slots in `found`.
    pub(crate) fn from_found(found: &mut Found) -> Result<Self> {
        Ok(TokenBudget(found.limit_slots()?))
    }
}

/// [`crate::login::read_challenge_guess`] for a step-up: the step-up token budget is read in
/// the same round trip, after the guess budgets (take it with [`TokenBudget::from_found`]
/// after [`challenge::guess_on`]).
async fn read_challenge_guess(
    app: &App,
    caller: &Caller,
    purpose: Purpose,
    id: &ChallengeId,
) -> Result<(crate::model::LoginGuard, crate::model::Challenge, Found)> {
    let budget = [TokenBudget::want(&caller.user)];
    crate::login::read_challenge_guess(app, caller, purpose, id, &budget).await
}

fn token_hash(app_keys: &crate::crypto::DataKeys, user: &UserId, token: &OpaqueToken) -> String {
    app_keys.mac_hex(
        "step-up-token",
        &[user.as_ref().as_bytes(), token.as_str().as_bytes()],
    )
}

/// Issues a new step-up token of `level` for `user`, stored only as its keyed hash, in one
/// transaction with `proof` (the writes that use up what was proved). If a change of `proof`
/// is refused (a concurrent request used it first), nothing is written and the answer is
/// `refused(kind)`. At most [`STEP_UP_TOKENS`] are issued per user in 15 minutes, which
/// bounds the live tokens a reset removes: the slot is picked from `budget` (read with the
/// proof) and taken in the token's transaction, on the condition that it is still as read.
pub(crate) async fn grant(
    app: &App,
    user: &UserId,
    level: StepUpLevel,
    mut proof: Vec<Change>,
    budget: TokenBudget,
    refused: impl FnOnce(ChangeKind) -> Error,
) -> Result<IssuedStepUp> {
    let scope = limits::user_scope(user);
    // A full budget is refused before anything is written, after the proof was checked.
    let slot = limits::plan_from(app, &scope, &STEP_UP_TOKENS, &budget.0)?;
    let keys = app.keys().await?;
    let token = OpaqueToken::from_bytes(&random_bytes::<32>());
    let expires_at: UnixTime = app.clock.now() + STEP_UP_TOKEN_TTL_SECS;
    proof.push(Change::PutStepUpToken {
        user: user.clone(),
        token_hash: token_hash(keys, user, &token),
        level,
        expires_at,
    });
    // The token's slot is taken in the same transaction that issues it.
    match limits::take_planned(app, vec![slot], &proof).await? {
        Ok(_) => Ok(IssuedStepUp {
            token,
            level,
            expires_in: STEP_UP_TOKEN_TTL_SECS,
        }),
        Err(ChangeKind::PutStepUpToken) => Err(Error::Internal("step-up token collision".into())),
        Err(kind) => Err(refused(kind)),
    }
}

/// The level of the step-up token in `header`, if it is an unexpired token issued to `user`;
/// `step_up_required` otherwise.
pub async fn require(app: &App, user: &UserId, header: Option<&str>) -> Result<StepUpLevel> {
    let refused = || Error::StepUpRequired {
        level: StepUpLevel::Email,
        methods: vec![],
    };
    let token = header
        .and_then(|h| OpaqueToken::parse(h.trim()).ok())
        .ok_or_else(refused)?;
    let keys = app.keys().await?;
    match app
        .store
        .get_step_up_token(user, &token_hash(keys, user, &token))
        .await?
    {
        Some((expires_at, level)) if expires_at > app.clock.now() => Ok(level),
        _ => Err(refused()),
    }
}

/// The step-up methods open to the caller, in the order a page offers them: their factors'
/// methods once they have one (`totp`, `sms`, `voice`, `recovery_code`), else `email`.
pub async fn methods(app: &App, caller: &Caller) -> Result<Vec<&'static str>> {
    Ok(methods_for(&crate::login::methods(app, caller).await?))
}

/// The step-up methods open to a user whose login offers `login`.
pub fn methods_for(login: &[Method]) -> Vec<&'static str> {
    if login.is_empty() {
        vec!["email"]
    } else {
        login.iter().map(|m| m.as_str()).collect()
    }
}

/// Guards a change to the caller's 2FA (or, for an admin, to a member's): a valid step-up token
/// of the level the caller's account needs. With an `email` token where a `factor` one is
/// needed, the refusal is recorded on the caller's trail. The answer names the level and the
/// methods the caller can step up with.
pub async fn require_for_change(app: &App, caller: &Caller, header: Option<&str>) -> Result<()> {
    let presented = match require(app, &caller.user, header).await {
        Ok(level) => Some(level),
        Err(Error::StepUpRequired { .. }) => None,
        Err(e) => return Err(e),
    };
    if presented == Some(StepUpLevel::Factor) {
        return Ok(());
    }
    let methods = methods(app, caller).await?;
    let needed = if methods == ["email"] {
        StepUpLevel::Email
    } else {
        StepUpLevel::Factor
    };
    if presented.is_some_and(|p| p >= needed) {
        return Ok(());
    }
    if presented.is_some() {
        let mut event = SecurityEvent::by_caller(
            app,
            caller,
            Action::StepUpRefused,
            "an email step-up cannot change two-factor settings once a factor is set up",
        );
        event.outcome = "failure";
        if let Commit::Refused(_) = app.store.commit(&[Change::PutEvent(event)]).await? {
            tracing::error!("refusal event id collision");
        }
    }
    Err(Error::StepUpRequired {
        level: needed,
        methods,
    })
}

/// A step-up code on its way to the user's phone: the challenge and the masked number.
#[derive(Debug)]
pub struct PhoneChallengeSent {
    pub challenge_id: ChallengeId,
    pub channel: Channel,
    pub to_masked: String,
    pub expires_in: i64,
}

/// Sends a step-up code by `channel` to the caller's active phone `phone` (or, if none is
/// named, the first that takes the channel), within the login code's send limits (per user and
/// per number). Either the message went out and the send counts, or nothing is recorded.
pub async fn start_phone(
    app: &App,
    caller: &Caller,
    channel: Channel,
    phone: Option<&FactorId>,
) -> Result<PhoneChallengeSent> {
    let keys = app.keys().await?;
    let (phone, number) = phones::pick(app, &caller.user, channel, phone).await?;
    let code = random_code(app.config.code_length);
    let mut c = challenge::open(&caller.user, Purpose::StepUpPhone, app.clock.now());
    c.code_hash = Some(phones::challenge_code_hash(
        keys,
        Purpose::StepUpPhone,
        &c.id,
        &phone.id,
        &code,
    ));
    c.code_channel = Some(channel);
    let id = c.id.clone();
    // The sends are counted in the transaction that stores the challenge.
    let taken = phones::commit_with_sends(
        app,
        caller,
        &number,
        Recipient::Proven,
        phones::SendKind::First,
        &[Change::PutChallenge(c)],
    )
    .await?
    .map_err(|_| Error::Internal("challenge id collision".into()))?;
    if let Err(e) = phones::deliver(app, &number, channel, &code).await {
        // The provider may have the message (it timed out): keep the code and the count, so
        // a text that arrives still works and is counted.
        if e.maybe_done() {
            return Err(e);
        }
        if let Err(u) = app
            .store
            .delete_challenge(&caller.user, Purpose::StepUpPhone, &id)
            .await
        {
            tracing::error!(error = %u, "could not remove challenge after failed send");
        }
        phones::give_back(app, taken).await;
        return Err(e);
    }
    Ok(PhoneChallengeSent {
        challenge_id: id,
        channel,
        to_masked: number.masked(),
        expires_in: CODE_TTL_SECS,
    })
}

/// Redeems a code sent to the phone and issues a `factor` step-up token. Wrong codes use the
/// account's guessing budget and count toward the lock, like login codes.
pub async fn verify_phone(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    code: &OtpCode,
) -> Result<IssuedStepUp> {
    crate::metrics::verification(async {
        let keys = app.keys().await?;
        // Compared before anything is written (see `challenge::check`); the guard, the
        // challenge and the budgets are read in one round trip.
        let (guard, c, mut found) =
            read_challenge_guess(app, caller, Purpose::StepUpPhone, id).await?;
        let guess = challenge::guess_on(app, c, &mut found)?;
        let budget = TokenBudget::from_found(&mut found)?;
        let phones = crate::factors::active(app, &caller.user, FactorKind::Phone).await?;
        let expected = guess.challenge.code_hash.as_deref();
        let purpose = Purpose::StepUpPhone;
        match phones::sent_to(keys, purpose, id, phones, code.as_str(), expected) {
            Some(phone) => {
                let mut more = crate::login::reset_failures(caller, guard);
                more.push(Change::FactorUsed {
                    user: phone.user,
                    id: phone.id,
                    now: app.clock.now(),
                });
                grant_for_challenge(app, &guess, StepUpLevel::Factor, more, budget).await
            }
            None => {
                let failure = crate::login::failure(app, caller, guard);
                let wrong = guess.count_wrong(app, &failure.changes).await?;
                failure.after(app, caller).await;
                Err(wrong)
            }
        }
    })
    .await
}

/// A step-up by security key: the challenge, and the options for `navigator.credentials.get`.
#[derive(Debug)]
pub struct KeyChallenge {
    pub challenge_id: ChallengeId,
    /// `PublicKeyCredentialRequestOptions` JSON (`allowCredentials` = the user's keys).
    pub options: serde_json::Value,
    pub expires_in: i64,
}

/// Starts a step-up with one of the caller's security keys: a challenge holding the WebAuthn
/// ceremony over their active keys, counted against [`STEP_UP_KEY_CHALLENGES`].
pub async fn start_key(app: &App, caller: &Caller) -> Result<KeyChallenge> {
    let factors = app.store.list_factors(&caller.user).await?;
    let Some((options, ceremony)) = crate::security_keys::login_ceremony(app, &factors)? else {
        return Err(Error::Conflict("no security key is set up".into()));
    };
    let mut c = challenge::open(&caller.user, Purpose::StepUpKey, app.clock.now());
    c.methods = vec![Method::Webauthn];
    c.webauthn = Some(ceremony);
    let id = c.id.clone();
    let scope = limits::user_scope(&caller.user);
    limits::commit_with_slots(
        app,
        &[(&scope, &STEP_UP_KEY_CHALLENGES)],
        &[Change::PutChallenge(c)],
    )
    .await?
    .map_err(|_| Error::Internal("challenge id collision".into()))?;
    Ok(KeyChallenge {
        challenge_id: id,
        options,
        expires_in: CODE_TTL_SECS,
    })
}

/// Trades a security key's response to a key step-up for a `factor` step-up token. A response
/// that does not verify uses a try and a guess, as a wrong code does; one for another ceremony,
/// or for a step-up already used, is refused without counting.
pub async fn verify_key(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    response: &webauthn_rs::prelude::PublicKeyCredential,
) -> Result<IssuedStepUp> {
    use crate::security_keys::{self, KeyCheck};
    crate::metrics::verification(async {
        let (guard, c, mut found) =
            read_challenge_guess(app, caller, Purpose::StepUpKey, id).await?;
        if c.status == crate::model::ChallengeStatus::Used {
            return Err(crate::login::approved_already());
        }
        let ceremony = c
            .webauthn
            .clone()
            .ok_or_else(|| Error::Internal("a key step-up without its ceremony".into()))?;
        security_keys::check_ceremony(&ceremony, response)?;
        let guess = challenge::guess_on(app, c, &mut found)?;
        let budget = TokenBudget::from_found(&mut found)?;
        let keys = crate::factors::active(app, &caller.user, FactorKind::Webauthn).await?;
        let cloned = match security_keys::check_login(app, &ceremony, &keys, response)? {
            KeyCheck::Right(change) => {
                let mut more = crate::login::reset_failures(caller, guard);
                more.push(*change);
                let mut proof = guess.consume();
                proof.extend(more);
                return grant(
                    app,
                    &caller.user,
                    StepUpLevel::Factor,
                    proof,
                    budget,
                    |kind| match kind {
                        ChangeKind::UseKey => Error::Conflict(
                            "this security key was used at the same time; try again".into(),
                        ),
                        _ => crate::login::approved_already(),
                    },
                )
                .await;
            }
            KeyCheck::Wrong => None,
            KeyCheck::Cloned(key) => Some(key),
        };
        Err(crate::login::count_wrong_answer(app, caller, guard, guess, true, cloned).await?)
    })
    .await
}

/// Step-up with the recovery code (for someone who lost their phone): accepted once, it is
/// swapped for a new one in the same write that stores the `factor` token, and the new code is
/// returned to be shown. Compared before anything is written; wrong codes use the guessing
/// budget and count toward the lock, in one transaction.
pub async fn with_recovery_code(
    app: &App,
    caller: &Caller,
    code: &RecoveryCode,
) -> Result<(IssuedStepUp, RecoveryCode)> {
    crate::metrics::verification(async {
        let (guard, budgets, budget) = crate::login::read_factor_guess(app, caller, None).await?;
        let remaining = budgets.iter().map(|r| r.remaining).min().unwrap_or(0) as u32;
        let refused = move |_: ChangeKind| Error::InvalidCode {
            attempts_remaining: remaining,
        };
        let Some((swap, next)) = crate::recovery::matching(app, &caller.user, code).await? else {
            crate::login::failure(app, caller, guard)
                .count(app, caller, budgets)
                .await?;
            return Err(refused(ChangeKind::SwapRecovery));
        };
        let event = SecurityEvent::by_caller(
            app,
            caller,
            Action::RecoveryCodeUsed,
            "to step up; a new one was issued",
        );
        let mut proof = vec![
            swap,
            Change::ResetLoginFailures {
                user: caller.user.clone(),
            },
            Change::PutEvent(event.clone()),
        ];
        // Only while the account still has a guess left (see `challenge::Guess::consume`).
        proof.extend(budgets.iter().map(limits::Reservation::room));
        let issued = grant(
            app,
            &caller.user,
            StepUpLevel::Factor,
            proof,
            budget,
            refused,
        )
        .await?;
        notify(app, caller.email.as_ref(), &event).await;
        Ok((issued, next))
    })
    .await
}
