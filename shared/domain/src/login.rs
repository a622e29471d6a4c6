//! Flow 4, verification at login: after the password, the console asks whether a second factor
//! is needed, offers the user's methods, and gets a signed assertion when one is passed.

use crate::app::App;
use crate::assertion;
use crate::challenge;
use crate::crypto::{random_code, DataKeys};
use crate::devices;
use crate::error::{Error, Result};
use crate::events::{notify, Action, SecurityEvent};
use crate::factors;
use crate::identity::Caller;
use crate::limits;
pub use crate::model::Method;
use crate::model::{
    Challenge, ChallengeStatus, Channel, Credential, Factor, FactorKind, FactorStatus, Purpose,
};
use crate::model::{
    Change, ChangeKind, Commit, Found, LoginGuard, OrgPolicy, RememberPolicy, Want,
};
use crate::phone::LineKind;
use crate::phones;
use crate::pumping::Recipient;
use crate::recovery::{self, RecoveryCode};
use crate::reset;
use crate::rules::{SendLimit, CODE_TTL_SECS, LOCKOUT_AFTER_FAILURES, LOGIN_CHALLENGES};
use crate::security_keys::{self, KeyCheck};
use crate::self_reset;
use crate::step_up::TokenBudget;
use crate::totp;
use crate::types::{ChallengeId, FactorId, OpaqueToken, OtpCode, Plan};

/// What `POST /v1/challenges` answers.
#[derive(Debug)]
pub enum LoginStart {
    NotRequired,
    /// No factor yet, or none the organisation allows: the user must enroll one of
    /// `allowed_methods` before going on.
    EnrollmentRequired {
        allowed_methods: Vec<Method>,
    },
    /// A remembered device, under policy `device_30_days`: no code needed.
    Approved {
        assertion: String,
    },
    Pending {
        challenge_id: ChallengeId,
        methods: Vec<Method>,
        default_method: Method,
        /// With `webauthn` among the methods: the `PublicKeyCredentialRequestOptions` JSON for
        /// `navigator.credentials.get`, bound to this challenge.
        webauthn: Option<serde_json::Value>,
        /// The user's active phones, to pick which one a code goes to.
        phones: Vec<phones::PhoneChoice>,
        expires_in: i64,
    },
}

/// What a login challenge is answered with.
#[derive(Debug)]
pub enum Answer {
    /// A code: the app's, the one sent by SMS or call, or the recovery code.
    Code(String),
    /// A security key's response (`credential.toJSON()`, an AuthenticationResponseJSON).
    Credential(serde_json::Value),
}

/// A passed second step.
#[derive(Debug)]
pub struct Approved {
    pub assertion: String,
    pub new_recovery_code: Option<RecoveryCode>,
    /// The new device token, when the user asked to remember this device and the policy allows.
    pub device_token: Option<OpaqueToken>,
}

/// A code that passed a login challenge, and the writes that use it up: nothing is consumed
/// until the caller commits [`Proof::changes`] together with what the code unlocks (the
/// assertion is signed first), so a failure in between leaves challenge, code, app step and
/// recovery code as they were.
#[derive(Debug)]
pub struct Proof {
    pub method: Method,
    /// The challenge is consumed first (with the checks that it and the account had a guess
    /// left); then the app step, the recovery code's swap, the failure count's reset, and the
    /// recovery code's event.
    pub changes: Vec<Change>,
    /// The recovery code that replaces the one presented, once `changes` are committed.
    pub new_recovery_code: Option<RecoveryCode>,
    /// The recovery code's event, to notify once committed.
    pub recovery_event: Option<SecurityEvent>,
    challenge: Challenge,
}

/// A login approved by a security key, answered again (a replay, or the same response sent
/// twice at once): it cannot be a guess, and it must not count against the user.
pub(crate) fn approved_already() -> Error {
    Error::Conflict("this login was already approved".into())
}

impl Proof {
    /// Commits the proof with `more` in one transaction. A refusal of the proof's own writes
    /// (a concurrent request used the code first) is its error; `Ok(Some(kind))` says a change
    /// of `more` was refused. Nothing was written before it, so after a dependency failure the
    /// same request can succeed later.
    pub async fn commit(&self, app: &App, more: Vec<Change>) -> Result<Option<ChangeKind>> {
        let mut all = self.changes.clone();
        all.extend(more);
        match limits::commit(app, &all).await {
            Ok(Commit::Done) => Ok(None),
            Ok(Commit::Refused(ChangeKind::ConsumeChallenge))
                if self.method == Method::Webauthn =>
            {
                Err(approved_already())
            }
            Ok(Commit::Refused(ChangeKind::ConsumeChallenge)) => Err(Error::Expired(
                "this login challenge was already used".into(),
            )),
            Ok(Commit::Refused(ChangeKind::UseKey)) => Err(Error::Conflict(
                "this security key was used by another login at the same time; try again".into(),
            )),
            // A phone removed since its code was sent: the code is worthless (see `check`).
            Ok(Commit::Refused(
                ChangeKind::AcceptTotpStep
                | ChangeKind::FactorUsed
                | ChangeKind::SwapRecovery
                | ChangeKind::ConsumeRecovery,
            )) => Err(Error::InvalidCode {
                attempts_remaining: self
                    .challenge
                    .max_attempts
                    .saturating_sub(self.challenge.attempts),
            }),
            Ok(Commit::Refused(kind)) => Ok(Some(kind)),
            Err(e) => Err(e),
        }
    }

    /// Whether the proof uses up the recovery code (its item is then written by the proof).
    pub fn uses_recovery_code(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c,
                Change::SwapRecovery { .. } | Change::ConsumeRecovery { .. }
            )
        })
    }

    /// For a change that removes every factor and the recovery code (turning 2FA off): the
    /// presented recovery code is deleted on its condition instead of swapped for a new one,
    /// and the app step or the key's use is not recorded on a factor the same transaction
    /// deletes.
    pub fn for_removal(mut self) -> Self {
        self.changes.retain(|c| {
            !matches!(
                c,
                Change::AcceptTotpStep { .. } | Change::UseKey { .. } | Change::FactorUsed { .. }
            )
        });
        for c in self.changes.iter_mut() {
            if let Change::SwapRecovery { user, old_hash, .. } = c {
                *c = Change::ConsumeRecovery {
                    user: user.clone(),
                    old_hash: old_hash.clone(),
                };
            }
        }
        self.new_recovery_code = None;
        self
    }
}

/// The methods the user can use now, in the order a login offers them.
pub async fn methods(app: &App, caller: &Caller) -> Result<Vec<Method>> {
    // One read of the user's factors serves both kinds.
    let factors = app.store.list_factors(&caller.user).await?;
    // The recovery code is offered only beside a factor: no read without one.
    let has_recovery = factors.iter().any(|f| f.status == FactorStatus::Active)
        && app.store.get_recovery(&caller.user).await?.is_some();
    methods_of(app.keys().await?, &factors, has_recovery)
}

/// The methods offered by `factors` (the user's, as listed) and a recovery code, in order.
pub fn methods_of(keys: &DataKeys, factors: &[Factor], has_recovery: bool) -> Result<Vec<Method>> {
    let mut out = Vec::new();
    for f in factors.iter().filter(|f| f.is_active()) {
        match &f.credential {
            Credential::Webauthn(_) => out.push(Method::Webauthn),
            Credential::Totp(_) => out.push(Method::Totp),
            Credential::Phone(_) => {
                if phones::number(keys, f)?.kind() != LineKind::FixedLine {
                    out.push(Method::Sms);
                }
                out.push(Method::Voice);
            }
        }
    }
    // In the order a login offers them, each once.
    out.sort();
    out.dedup();
    if !out.is_empty() && has_recovery {
        out.push(Method::RecoveryCode);
    }
    Ok(out)
}

/// Decides whether this login needs a second factor, and opens a challenge if it does. A
/// remembered device skips the code only under policy `device_30_days`; an unknown, revoked or
/// lapsed device token is ignored (the login asks for a code).
pub async fn start(
    app: &App,
    caller: &Caller,
    device_token: Option<&OpaqueToken>,
) -> Result<LoginStart> {
    let user = &caller.user;
    let scope = limits::user_scope(user);
    // What a login start decides on, in two round trips at once: one batch of items and the
    // factors. A self-service reset that came due is completed first, and then read again.
    let mut wants = vec![
        Want::Profile(user.clone()),
        Want::SelfReset(user.clone()),
        Want::Recovery(user.clone()),
        Want::Settings(user.clone()),
        Want::ResetMarker(user.clone()),
        Want::LimitSlots(scope.clone(), LOGIN_CHALLENGES),
    ];
    // The policy of the organisation the caller logs in to, in the same read.
    wants.extend(crate::org_policy::want(caller));
    let (mut found, factors, profile) = loop {
        let (got, factors) =
            tokio::try_join!(app.store.read_all(&wants), app.store.list_factors(user))?;
        let mut found = Found::from(got);
        let profile = found.profile()?;
        let self_reset = found.self_reset()?;
        if !self_reset::complete_if_due_from(app, caller, self_reset).await? {
            break (found, factors, profile);
        }
    };
    let profile = reset::profile_changes(caller, profile.as_ref(), app.clock.now());
    let has_recovery = found.recovery()?.is_some() && factors.iter().any(|f| f.is_active());
    let settings = found.settings()?.unwrap_or_default();
    let reset = found.reset_marker()?.is_some();
    let challenges = found.limit_slots()?;
    let policy = crate::org_policy::from_found(caller, &mut found)?;
    let keys = app.keys().await?;
    let mut methods = methods_of(keys, &factors, has_recovery)?;
    // A method the organisation does not allow is not offered, and the recovery code only
    // beside a factor it allows: a member left with none must enroll an allowed one.
    let had_factor = methods.iter().any(|m| *m != Method::RecoveryCode);
    let none_allowed = had_factor && !policy.allows_a_factor_of(&methods);
    methods.retain(|m| policy.allows(*m));
    if none_allowed {
        methods.clear();
    }
    // Keys are offered only while the service is a relying party.
    let ceremony = match methods.contains(&Method::Webauthn) {
        true => security_keys::login_ceremony(app, &factors)?,
        false => None,
    };
    // (A user with only keys on a service that turned them off keeps the recovery code.)
    if ceremony.is_none() {
        methods.retain(|m| *m != Method::Webauthn);
    }
    let Some(&first) = methods.first() else {
        record(app, profile).await?;
        // No factor: 2FA is optional on trial, required on paid (a missing plan counts as paid),
        // after a reset, and by an organisation that requires it. A member whose factors the
        // organisation no longer allows must enroll an allowed one, whatever the plan.
        return Ok(match caller.plan {
            Some(Plan::Trial) if !reset && !policy.require_mfa && !none_allowed => {
                LoginStart::NotRequired
            }
            _ => LoginStart::EnrollmentRequired {
                allowed_methods: enrollable(app, &policy),
            },
        });
    };
    if let Some(token) = device_token {
        if settings.remember == RememberPolicy::Device30Days {
            let recognised = devices::recognise(app, &caller.user, token).await?;
            let now = app.clock.now();
            // The organisation may keep a device remembered for less than the service does.
            if let Some(device) = recognised.filter(|d| policy.still_remembers(d.created_at, now)) {
                // The second factor was last passed by the login that remembered the device.
                let passed = assertion::Passed::Remembered {
                    at: device.created_at,
                };
                let assertion = assertion::issue(app, &caller.user, passed).await?;
                record(app, profile).await?;
                return Ok(LoginStart::Approved { assertion });
            }
        }
    }
    let default_method = settings
        .default_method
        .filter(|m| methods.contains(m))
        .unwrap_or(first);
    let (options, ceremony) = ceremony.unzip();
    let c = Challenge {
        methods: methods.clone(),
        webauthn: ceremony,
        ..challenge::open(&caller.user, Purpose::Login, app.clock.now())
    };
    let id = c.id.clone();
    // The challenge counts in the transaction that opens it, with the profile if it changed.
    let planned = limits::plan_from(app, &scope, &LOGIN_CHALLENGES, &challenges)?;
    let mut changes = vec![Change::PutChallenge(c)];
    changes.extend(profile);
    limits::take_planned(app, vec![planned], &changes)
        .await?
        .map_err(|_| Error::Internal("challenge id collision".into()))?;
    // The phones to pick from, when a code may go to one.
    let phones = match methods.iter().any(|m| m.channel().is_some()) {
        true => phones::choices(keys, &factors)?,
        false => vec![],
    };
    Ok(LoginStart::Pending {
        challenge_id: id,
        methods,
        default_method,
        webauthn: options,
        phones,
        expires_in: CODE_TTL_SECS,
    })
}

/// The methods a user may enroll under `policy`: security keys only while the service is a
/// relying party.
fn enrollable(app: &App, policy: &OrgPolicy) -> Vec<Method> {
    let keys_offered = app.config.webauthn.is_some();
    policy
        .allowed_methods
        .iter()
        .copied()
        .filter(|m| *m != Method::Webauthn || keys_offered)
        .collect()
}

/// Writes the profile's changes, if any (outside a transaction that would carry them).
async fn record(app: &App, profile: Vec<Change>) -> Result<()> {
    if !profile.is_empty() {
        if let Commit::Refused(kind) = app.store.commit(&profile).await? {
            return Err(Error::Internal(format!(
                "a profile write was refused: {kind:?}"
            )));
        }
    }
    Ok(())
}

/// Sends a login code by `channel` to the user's phone `phone` (or, if none is named, the first
/// that takes the channel). The challenge and the phone are checked first (the caller's own,
/// open, offering that channel; an active phone of theirs), and the code is set on it before
/// the message goes out, so a bogus, used or expired challenge or phone never costs a message
/// or a send slot. If the delivery fails, the previous code and the slots are given back.
pub async fn send(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    channel: Channel,
    phone: Option<&FactorId>,
) -> Result<String> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let c = app
        .store
        .get_challenge(&caller.user, Purpose::Login, id)
        .await?
        .ok_or_else(|| Error::NotFound("no such challenge".into()))?;
    if c.status != ChallengeStatus::Open || c.expires_at <= now || c.attempts >= c.max_attempts {
        return Err(challenge::refusal(&c, now));
    }
    let method = Method::of(channel);
    if !c.methods.contains(&method) {
        return Err(Error::invalid(format!(
            "{} is not offered for this login",
            method.as_str()
        )));
    }
    let (phone, number) = phones::pick(app, &caller.user, channel, phone).await?;
    let code = random_code(app.config.code_length);
    let hash = phones::challenge_code_hash(keys, Purpose::Login, id, &phone.id, &code);
    // The sends are counted in the same transaction that sets the code: a failure before the
    // message goes out leaves neither.
    let set = Change::SetChallengeCode {
        user: caller.user.clone(),
        purpose: Purpose::Login,
        id: id.clone(),
        code: Some((hash.clone(), channel)),
        expect: c.code_hash.clone(),
        now,
    };
    // Another code for this login is a resend, which waits out the user's back-off.
    let send = phones::SendKind::resend_if(c.code_hash.is_some());
    let taken = phones::commit_with_sends(app, caller, &number, Recipient::Proven, send, &[set])
        .await?
        .map_err(|_| Error::Conflict("this login changed at the same time; try again".into()))?;
    if let Err(e) = phones::deliver(app, &number, channel, &code).await {
        // The provider may have the message (it timed out): keep the code and the count, so
        // a text that arrives still works and is counted.
        if e.maybe_done() {
            return Err(e);
        }
        let previous = c
            .code_hash
            .as_deref()
            .map(|h| (h, c.code_channel.unwrap_or(Channel::Sms)));
        if let Err(u) = app
            .store
            .set_challenge_code(&caller.user, Purpose::Login, id, previous, Some(&hash), now)
            .await
        {
            tracing::error!(error = %u, "could not restore the previous login code");
        }
        phones::give_back(app, taken).await;
        return Err(e);
    }
    Ok(number.masked())
}

/// A right factor code's write to the guard: the consecutive-failure count starts again, if
/// there is one to clear (a write that changes nothing is not sent).
pub(crate) fn reset_failures(caller: &Caller, guard: LoginGuard) -> Vec<Change> {
    (guard.failures > 0)
        .then(|| Change::ResetLoginFailures {
            user: caller.user.clone(),
        })
        .into_iter()
        .collect()
}

/// One round trip for a factor code sent to a challenge (login, phone step-up): the guard
/// (refused if locked), the challenge (404 if none), and the guess budgets, still in `found`
/// for [`challenge::guess_on`], then what `more` wants.
pub(crate) async fn read_challenge_guess(
    app: &App,
    caller: &Caller,
    purpose: Purpose,
    id: &ChallengeId,
    more: &[Want],
) -> Result<(LoginGuard, Challenge, Found)> {
    let user = &caller.user;
    let mut found = challenge::read_guess(app, Some(user), user, purpose, id, more).await?;
    let guard = unlocked(found.login_guard()?)?;
    let c = found
        .challenge()?
        .ok_or_else(|| Error::NotFound("no such challenge".into()))?;
    Ok((guard, c, found))
}

/// One round trip for a factor code with no challenge (app or recovery-code step-up): the
/// guard (refused if locked) and the budgets a wrong code would use, planned: the route's
/// `own` limit first, if it has one, then the account's guess budgets; and the step-up token
/// budget a right code would use.
pub(crate) async fn read_factor_guess(
    app: &App,
    caller: &Caller,
    own: Option<SendLimit>,
) -> Result<(LoginGuard, Vec<limits::Reservation>, TokenBudget)> {
    let user = &caller.user;
    let scope = limits::user_scope(user);
    let mut wants = vec![Want::LoginGuard(user.clone())];
    wants.extend(own.map(|limit| Want::LimitSlots(scope.clone(), limit)));
    wants.extend(limits::guess_wants(user));
    wants.push(TokenBudget::want(user));
    let mut found = Found::from(app.store.read_all(&wants).await?);
    let guard = unlocked(found.login_guard()?)?;
    let mut budgets = Vec::with_capacity(3);
    if let Some(limit) = &own {
        budgets.push(limits::plan_from(
            app,
            &scope,
            limit,
            &found.limit_slots()?,
        )?);
    }
    budgets.extend(limits::plan_guesses(app, user, &mut found)?);
    Ok((guard, budgets, TokenBudget::from_found(&mut found)?))
}

/// Refuses a guard that is locked; otherwise the guard as read, for [`failure`].
pub(crate) fn unlocked(guard: LoginGuard) -> Result<LoginGuard> {
    if guard.locked_at.is_some() {
        return Err(Error::TooManyAttempts(
            "two-factor sign-in is locked after too many wrong codes; an administrator can reset it"
                .into(),
        ));
    }
    Ok(guard)
}

/// A wrong factor code's writes against the account, to commit in the transaction that counts
/// the wrong code: one more consecutive failure, and with the 100th in a row the lock and its
/// event. Login, phone, app and recovery-code step-ups all count here. Two wrong codes that
/// land at once both count, and the lock then comes with the next one.
pub(crate) struct Failure {
    pub changes: Vec<Change>,
    event: Option<SecurityEvent>,
}

/// The writes of one more wrong code, for an account whose guard read `guard`.
pub(crate) fn failure(app: &App, caller: &Caller, guard: LoginGuard) -> Failure {
    let n = guard.failures.saturating_add(1);
    let lock = n >= LOCKOUT_AFTER_FAILURES;
    let mut changes = vec![Change::CountLoginFailure {
        user: caller.user.clone(),
        lock_at: lock.then(|| app.clock.now()),
    }];
    let event = lock.then(|| {
        let event = SecurityEvent::by_caller(app, caller, Action::LoginLocked, n.to_string());
        changes.push(Change::PutEvent(event.clone()));
        event
    });
    Failure { changes, event }
}

impl Failure {
    /// Commits the failure with a slot of each of `budgets` (a wrong code with no challenge
    /// to count a try on), then [`Failure::after`].
    pub(crate) async fn count(
        self,
        app: &App,
        caller: &Caller,
        budgets: Vec<limits::Reservation>,
    ) -> Result<()> {
        if let Err(kind) = limits::take_planned(app, budgets, &self.changes).await? {
            return Err(Error::Internal(format!(
                "a wrong code's count was refused: {kind:?}"
            )));
        }
        self.after(app, caller).await;
        Ok(())
    }

    /// After the failure was committed: the lockout's count and email, if it locked.
    pub(crate) async fn after(self, app: &App, caller: &Caller) {
        if let Some(event) = self.event {
            crate::metrics::count(crate::metrics::Metric::Lockout);
            notify(app, caller.email.as_ref(), &event).await;
        }
    }
}

/// Verifies the second step with `method` and issues the assertion. The assertion is signed
/// before anything is consumed; then the challenge, the app step or the recovery code (swapped
/// for a new one, returned) are used up in one transaction. With `remember` (a device name)
/// and policy `device_30_days`, the device is remembered and its token returned.
pub async fn verify(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    method: Method,
    answer: Answer,
    remember: Option<String>,
) -> Result<Approved> {
    crate::metrics::verification(async {
        let proof = pass(app, caller, id, method, answer).await?;
        let assertion =
            assertion::issue(app, &caller.user, assertion::Passed::Now(proof.method)).await?;
        if proof.commit(app, vec![]).await?.is_some() {
            return Err(Error::Internal(
                "login commit refused a change it does not hold".into(),
            ));
        }
        if let Some(event) = &proof.recovery_event {
            notify(app, caller.email.as_ref(), event).await;
        }
        let device_token = match remember {
            Some(name) => devices::remember_after_login(app, caller, name).await,
            None => None,
        };
        Ok(Approved {
            assertion,
            new_recovery_code: proof.new_recovery_code,
            device_token,
        })
    })
    .await
}

/// Checks a code against an open challenge: the proof of a current second factor that a login
/// (and turning 2FA off) needs. Nothing is consumed here (see [`Proof`]). Every guess takes a
/// slot of the account's hourly and daily failure budgets first (a correct code gives it
/// back), so a guesser is cut off across challenges. A request that cannot be a guess (a
/// malformed code, a method the challenge does not offer, a code sent by the other channel, a
/// security key's response to another ceremony or to a login already approved) is refused
/// before anything is counted.
pub async fn pass(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    method: Method,
    answer: Answer,
) -> Result<Proof> {
    // Parse before counting: a malformed code does not use up a try.
    let presented = match (method, answer) {
        (Method::Webauthn, Answer::Credential(v)) => {
            Presented::Key(Box::new(security_keys::parse_authentication(v)?))
        }
        (Method::Webauthn, Answer::Code(_)) => {
            return Err(Error::invalid(
                "method webauthn is answered with `credential`, not `code`",
            ))
        }
        (_, Answer::Credential(_)) => {
            return Err(Error::invalid("`credential` answers method webauthn only"))
        }
        (Method::Totp, Answer::Code(code)) => Presented::App(OtpCode::parse(&code, totp::DIGITS)?),
        (Method::Sms | Method::Voice, Answer::Code(code)) => {
            Presented::Phone(OtpCode::parse(&code, app.config.code_length)?)
        }
        (Method::RecoveryCode, Answer::Code(code)) => {
            Presented::Recovery(RecoveryCode::parse(&code)?)
        }
    };
    // The guard, the challenge and the guess budgets in one round trip.
    let (guard, seen, mut found) =
        read_challenge_guess(app, caller, Purpose::Login, id, &[]).await?;
    let now = app.clock.now();
    if !seen.methods.contains(&method) {
        return Err(Error::invalid(format!(
            "{} is not offered for this login",
            method.as_str()
        )));
    }
    if let (Some(sent), Some(asked)) = (seen.code_channel, method.channel()) {
        if sent != asked && seen.status == ChallengeStatus::Open && seen.expires_at > now {
            return Err(Error::invalid(format!(
                "this code was sent by {}: verify it with method \"{}\"",
                sent.as_str(),
                Method::of(sent).as_str()
            )));
        }
    }
    if let Presented::Key(response) = &presented {
        if seen.status == ChallengeStatus::Used {
            return Err(approved_already());
        }
        if let Some(ceremony) = &seen.webauthn {
            security_keys::check_ceremony(ceremony, response)?;
        }
    }
    // Nothing is written before the code is compared: a right code writes only its use (with
    // what it unlocks, in the caller's commit); a wrong one its guess and its try, together.
    // An account out of guesses is refused before the compare, right code or not.
    let guess = challenge::guess_on(app, seen, &mut found)?;
    let cloned = match check(app, caller, &guess.challenge, &presented).await? {
        Checked::Right(changes, next) => {
            return Ok(proof(app, caller, guess, guard, method, changes, next))
        }
        Checked::Wrong => None,
        Checked::Cloned(key) => Some(key),
    };
    let by_key = matches!(presented, Presented::Key(_));
    Err(count_wrong_answer(app, caller, guard, guess, by_key, cloned).await?)
}

/// Counts a wrong answer on a challenge (its try, the account's guess and consecutive
/// failure, in one transaction) and gives the error to answer: `invalid_code`, or
/// `invalid_credential` for a security key's response. A cloned key (`cloned`) is refused the
/// same way, and also recorded on the user's trail with an email: `forbidden`.
pub(crate) async fn count_wrong_answer(
    app: &App,
    caller: &Caller,
    guard: LoginGuard,
    guess: challenge::Guess,
    by_key: bool,
    cloned: Option<Box<Factor>>,
) -> Result<Error> {
    let failure = failure(app, caller, guard);
    let mut changes = failure.changes.clone();
    let cloned = cloned.map(|key| {
        let event = SecurityEvent::by_caller(
            app,
            caller,
            Action::SecurityKeyCloned,
            factors::describe(&key, None),
        );
        changes.push(Change::PutEvent(event.clone()));
        event
    });
    let wrong = guess.count_wrong(app, &changes).await?;
    failure.after(app, caller).await;
    if let Some(event) = cloned {
        notify(app, caller.email.as_ref(), &event).await;
        return Ok(Error::Forbidden(
            "this security key's signature counter went backwards, so it may have been copied; \
             sign in another way, and remove the key if you did not copy it"
                .into(),
        ));
    }
    Ok(match by_key {
        true => security_keys::as_key_error(wrong),
        false => wrong,
    })
}

/// The proof's writes: the challenge consumed, what `check` found to use up, the failure count
/// reset, and for a recovery code its event.
fn proof(
    app: &App,
    caller: &Caller,
    guess: challenge::Guess,
    guard: LoginGuard,
    method: Method,
    found: Vec<Change>,
    new_recovery_code: Option<RecoveryCode>,
) -> Proof {
    let mut changes = guess.consume();
    changes.extend(found);
    changes.extend(reset_failures(caller, guard));
    let recovery_event = new_recovery_code.as_ref().map(|_| {
        let event = SecurityEvent::by_caller(app, caller, Action::RecoveryCodeUsed, "");
        changes.push(Change::PutEvent(event.clone()));
        event
    });
    Proof {
        method,
        changes,
        new_recovery_code,
        recovery_event,
        challenge: guess.challenge,
    }
}

/// A code as presented, parsed for its method.
enum Presented {
    App(OtpCode),
    /// A code sent by SMS or call (the method says which).
    Phone(OtpCode),
    Recovery(RecoveryCode),
    /// A security key's response.
    Key(Box<webauthn_rs::prelude::PublicKeyCredential>),
}

/// How a presented answer came out.
enum Checked {
    /// Right: the writes that use it up, and the recovery code that replaces a presented one.
    Right(Vec<Change>, Option<RecoveryCode>),
    Wrong,
    /// A security key that verified with a signature counter that did not move forward.
    Cloned(Box<Factor>),
}

/// Checks the code against the challenge as read, writing nothing: what uses the code up when
/// it is right.
async fn check(
    app: &App,
    caller: &Caller,
    c: &Challenge,
    presented: &Presented,
) -> Result<Checked> {
    let keys = app.keys().await?;
    let id = &c.id;
    let found = match presented {
        Presented::App(otp) => {
            let apps = factors::active(app, &caller.user, FactorKind::Totp).await?;
            factors::matching_totp(app, &apps, otp)
                .await?
                .map(|change| (vec![change], None))
        }
        Presented::Key(response) => {
            let ceremony = c.webauthn.as_ref().ok_or_else(|| {
                Error::Internal("a login offering a security key without its ceremony".into())
            })?;
            let keys = factors::active(app, &caller.user, FactorKind::Webauthn).await?;
            return Ok(
                match security_keys::check_login(app, ceremony, &keys, response)? {
                    KeyCheck::Right(change) => Checked::Right(vec![*change], None),
                    KeyCheck::Wrong => Checked::Wrong,
                    KeyCheck::Cloned(key) => Checked::Cloned(key),
                },
            );
        }
        // A code sent to a phone counts only while the user still has that phone (a reset or
        // a removal in between makes it worthless).
        Presented::Phone(otp) => {
            let phones = factors::active(app, &caller.user, FactorKind::Phone).await?;
            let to = c.code_hash.as_deref();
            let sent = phones::sent_to(keys, Purpose::Login, id, phones, otp.as_str(), to);
            sent.map(|p| {
                let used = Change::FactorUsed {
                    user: p.user,
                    id: p.id,
                    now: app.clock.now(),
                };
                (vec![used], None)
            })
        }
        Presented::Recovery(rc) => recovery::matching(app, &caller.user, rc)
            .await?
            .map(|(change, next)| (vec![change], Some(next))),
    };
    Ok(match found {
        Some((changes, next)) => Checked::Right(changes, next),
        None => Checked::Wrong,
    })
}
