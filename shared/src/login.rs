//! Flow 4, verification at login: after the password, the console asks whether a second factor
//! is needed, offers the user's methods, and gets a signed assertion when one is passed.

use crate::app::App;
use crate::assertion;
use crate::challenge::{self, code_hash, wrong_code};
use crate::crypto::{ct_eq, random_code};
use crate::devices;
use crate::error::{Error, Result};
use crate::events::{notify, Action, SecurityEvent};
use crate::factors;
use crate::http::Caller;
use crate::limits;
use crate::phone::{LineKind, PhoneNumber};
use crate::phones;
use crate::ports::{
    Attempt, Challenge, ChallengeStatus, Channel, Factor, FactorKind, FactorStatus, Purpose,
};
use crate::ports::{Change, Commit, RememberPolicy};
use crate::recovery::{self, RecoveryCode};
use crate::reset;
use crate::rules::{
    CODE_TTL_SECS, LOCKOUT_AFTER_FAILURES, LOGIN_CHALLENGES, MAX_ATTEMPTS_PER_CHALLENGE,
};
use crate::self_reset;
use crate::totp;
use crate::types::{ChallengeId, OpaqueToken, OtpCode, Plan};

/// A way to pass the second step (in JSON: `"totp"`, `"sms"`, `"voice"`, `"recovery_code"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Totp,
    Sms,
    Voice,
    RecoveryCode,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Sms => "sms",
            Method::Voice => "voice",
            Method::RecoveryCode => "recovery_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Method::Totp,
            Method::Sms,
            Method::Voice,
            Method::RecoveryCode,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// RFC 8176 authentication method reference for the assertion's `amr`.
    fn amr(&self) -> &'static str {
        match self {
            Method::Totp => "otp",
            Method::Sms => "sms",
            Method::Voice => "tel",
            Method::RecoveryCode => "kba",
        }
    }
}

/// What `POST /v1/challenges` answers.
#[derive(Debug)]
pub enum LoginStart {
    NotRequired,
    EnrollmentRequired,
    /// A remembered device, under policy `device_30_days`: no code needed.
    Approved {
        assertion: String,
    },
    Pending {
        challenge_id: ChallengeId,
        methods: Vec<Method>,
        default_method: Method,
        expires_in: i64,
    },
}

/// A passed second step.
#[derive(Debug)]
pub struct Approved {
    pub assertion: String,
    pub new_recovery_code: Option<RecoveryCode>,
    /// The new device token, when the user asked to remember this device and the policy allows.
    pub device_token: Option<OpaqueToken>,
}

/// A code that passed a challenge (the challenge is consumed).
#[derive(Debug)]
pub struct Passed {
    pub method: Method,
    /// The recovery code that passed: only compared so far, not consumed.
    pub recovery_code: Option<RecoveryCode>,
}

/// The methods the user can use now, in the order a login offers them.
pub async fn methods(app: &App, caller: &Caller) -> Result<Vec<Method>> {
    let keys = app.keys().await?;
    // One read of the user's factors serves both kinds.
    let active: Vec<Factor> = app
        .store
        .list_factors(&caller.user)
        .await?
        .into_iter()
        .filter(|f| f.status == FactorStatus::Active)
        .collect();
    let mut out = Vec::new();
    if active.iter().any(|f| f.kind == FactorKind::Totp) {
        out.push(Method::Totp);
    }
    if let Some(phone) = active.iter().find(|f| f.kind == FactorKind::Phone) {
        let e164 = phones::number(keys, phone)?;
        let landline = PhoneNumber::parse(&e164, Channel::Voice, &Default::default())
            .is_ok_and(|p| p.kind() == LineKind::FixedLine);
        if !landline {
            out.push(Method::Sms);
        }
        out.push(Method::Voice);
    }
    if !out.is_empty() && app.store.get_recovery(&caller.user).await?.is_some() {
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
    reset::record_profile(app, caller).await?;
    self_reset::complete_if_due(app, caller).await?;
    let methods = methods(app, caller).await?;
    let Some(&first) = methods.first() else {
        // No factor: 2FA is optional on trial, required on paid (a missing plan counts as paid)
        // and after a reset.
        let reset = app.store.get_reset_marker(&caller.user).await?.is_some();
        return Ok(match caller.plan {
            Some(Plan::Trial) if !reset => LoginStart::NotRequired,
            _ => LoginStart::EnrollmentRequired,
        });
    };
    let settings = app
        .store
        .get_settings(&caller.user)
        .await?
        .unwrap_or_default();
    if let Some(token) = device_token {
        if settings.remember == RememberPolicy::Device30Days
            && devices::recognise(app, &caller.user, token).await?
        {
            let assertion = assertion::issue(app, &caller.user, &["mfa", "device"]).await?;
            return Ok(LoginStart::Approved { assertion });
        }
    }
    let default_method = settings
        .default_method
        .filter(|m| methods.contains(m))
        .unwrap_or(first);
    let scope = limits::user_scope(&caller.user);
    limits::reserve(app, &scope, &LOGIN_CHALLENGES).await?;
    let now = app.clock.now();
    let id = ChallengeId::new();
    let c = Challenge {
        id: id.clone(),
        user: caller.user.clone(),
        purpose: Purpose::Login,
        code_hash: None,
        methods: methods.iter().map(|m| m.as_str().to_owned()).collect(),
        attempts: 0,
        max_attempts: MAX_ATTEMPTS_PER_CHALLENGE,
        status: ChallengeStatus::Open,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    };
    app.store.put_challenge(&c).await?;
    Ok(LoginStart::Pending {
        challenge_id: id,
        methods,
        default_method,
        expires_in: CODE_TTL_SECS,
    })
}

/// Sends a login code to the user's phone by `channel`. The send is counted only if it went out.
pub async fn send(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    channel: Channel,
) -> Result<String> {
    let keys = app.keys().await?;
    let phone = factors::active(app, &caller.user, FactorKind::Phone)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Conflict("no phone is set up".into()))?;
    let number = PhoneNumber::parse(&phones::number(keys, &phone)?, channel, &Default::default())?;
    let taken = phones::reserve_sends(app, &caller.user, &number).await?;
    let code = random_code(app.config.code_length);
    if let Err(e) = phones::deliver(app, &number, channel, &code).await {
        limits::release_all(app, taken).await;
        return Err(e);
    }
    let hash = code_hash(keys, Purpose::Login, id, &code);
    if !app
        .store
        .set_challenge_code(&caller.user, Purpose::Login, id, &hash, app.clock.now())
        .await?
    {
        return Err(Error::Expired(
            "this login challenge is no longer open; start again".into(),
        ));
    }
    Ok(number.masked())
}

/// Refuses when the account's second step is locked.
async fn ensure_unlocked(app: &App, caller: &Caller) -> Result<()> {
    if app.store.login_locked_at(&caller.user).await?.is_some() {
        return Err(Error::TooManyAttempts(
            "two-factor sign-in is locked after too many wrong codes; an administrator can reset it"
                .into(),
        ));
    }
    Ok(())
}

/// Counts a wrong code against the account; the 100th in a row locks it (event and email).
async fn record_failure(app: &App, caller: &Caller) -> Result<()> {
    let n = app.store.record_login_failure(&caller.user).await?;
    if n >= LOCKOUT_AFTER_FAILURES && app.store.lock_login(&caller.user, app.clock.now()).await? {
        let event = SecurityEvent::by_caller(app, caller, Action::LoginLocked, n.to_string());
        if let Commit::Refused(_) = app.store.commit(&[Change::PutEvent(event.clone())]).await? {
            tracing::error!("lockout event id collision");
        }
        notify(app, caller.email.as_ref(), &event).await;
    }
    Ok(())
}

/// The outcome of checking a code on a counted attempt.
enum Check {
    Passed,
    Wrong(Challenge),
}

/// Verifies the second step with `method` and issues the assertion; a recovery code is consumed
/// and a new one returned. With `remember` (a device name) and policy `device_30_days`, the
/// device is remembered and its token returned.
pub async fn verify(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    method: Method,
    code: &str,
    remember: Option<String>,
) -> Result<Approved> {
    let passed = pass(app, caller, id, method, code).await?;
    let new_recovery_code = match &passed.recovery_code {
        Some(rc) => Some(recovery::redeem(app, caller, rc).await?.code),
        None => None,
    };
    let assertion = assertion::issue(app, &caller.user, &["mfa", method.amr()]).await?;
    let device_token = match remember {
        Some(name) => devices::remember_after_login(app, caller, name).await,
        None => None,
    };
    Ok(Approved {
        assertion,
        new_recovery_code,
        device_token,
    })
}

/// Checks a code against an open challenge and consumes the challenge: the proof of a current
/// second factor that a login (and turning 2FA off) needs. Every guess takes a slot of the
/// account's hourly and daily failure budgets first (a correct code gives it back), so a guesser
/// is cut off across challenges.
pub async fn pass(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    method: Method,
    code: &str,
) -> Result<Passed> {
    // Parse before counting: a malformed code does not use up a try.
    let otp = match method {
        Method::Totp => Some(OtpCode::parse(code, totp::DIGITS)?),
        Method::Sms | Method::Voice => Some(OtpCode::parse(code, app.config.code_length)?),
        Method::RecoveryCode => None,
    };
    let recovery_code = match method {
        Method::RecoveryCode => Some(RecoveryCode::parse(code)?),
        _ => None,
    };
    ensure_unlocked(app, caller).await?;
    let taken = limits::take_guess(app, &caller.user).await?;
    match check(app, caller, id, method, otp, recovery_code.as_ref()).await {
        Ok(Check::Passed) => {
            limits::release_all(app, taken).await;
            app.store.reset_login_failures(&caller.user).await?;
        }
        Ok(Check::Wrong(c)) => {
            record_failure(app, caller).await?;
            return Err(wrong_code(&c));
        }
        Err(e) => {
            limits::release_all(app, taken).await;
            return Err(e);
        }
    }
    if !app
        .store
        .consume_challenge(&caller.user, Purpose::Login, id)
        .await?
    {
        return Err(Error::Expired(
            "this login challenge was already used".into(),
        ));
    }
    Ok(Passed {
        method,
        recovery_code,
    })
}

/// Counts the attempt on the challenge and checks the code, consuming nothing.
async fn check(
    app: &App,
    caller: &Caller,
    id: &ChallengeId,
    method: Method,
    otp: Option<OtpCode>,
    recovery_code: Option<&RecoveryCode>,
) -> Result<Check> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let c = match app
        .store
        .count_attempt(&caller.user, Purpose::Login, id, now)
        .await?
    {
        Attempt::Missing => return Err(Error::NotFound("no such challenge".into())),
        Attempt::Refused(c) => return Err(challenge::refusal(&c, now)),
        Attempt::Counted(c) => c,
    };
    if !c.methods.iter().any(|m| m == method.as_str()) {
        return Err(Error::invalid(format!(
            "{} is not offered for this login",
            method.as_str()
        )));
    }
    let passed = match (method, otp, recovery_code) {
        (Method::Totp, Some(otp), _) => {
            let apps = factors::active(app, &caller.user, FactorKind::Totp).await?;
            factors::accept_totp(app, &caller.user, &apps, &otp).await?
        }
        // A code sent to a phone counts only while the user still has that phone (a reset or
        // a removal in between makes it worthless).
        (Method::Sms | Method::Voice, Some(otp), _) => {
            let sent = c
                .code_hash
                .as_deref()
                .is_some_and(|h| ct_eq(&code_hash(keys, Purpose::Login, id, otp.as_str()), h));
            sent && !factors::active(app, &caller.user, FactorKind::Phone)
                .await?
                .is_empty()
        }
        // Only compared here: it is consumed after the challenge is, so a lost race never
        // burns the user's recovery code.
        (Method::RecoveryCode, _, Some(rc)) => recovery::matches(app, &caller.user, rc).await?,
        _ => false,
    };
    Ok(if passed {
        Check::Passed
    } else {
        Check::Wrong(c)
    })
}
