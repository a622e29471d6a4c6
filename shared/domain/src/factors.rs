//! Second factors: enrolling and confirming an authenticator app ("verify and save"), TOTP
//! step-up with replay protection, removing a factor. Phone factors build on the same pieces.

use crate::app::App;
use crate::crypto::DataKeys;
use crate::error::{Error, Result};
use crate::events::{record, Action, SecurityEvent};
use crate::identity::Caller;
use crate::limits;
use crate::model::{
    Attempt, Change, ChangeKind, Commit, Credential, Factor, FactorKind, FactorStatus,
    RecoveryRecord, StepUpLevel, TotpCredential,
};
use crate::recovery::RecoveryCode;
use crate::rules::{MAX_TOTP_APPS, PENDING_FACTOR_TTL_SECS, STEP_UP_TOTP_FAILURES};
use crate::step_up::{self, IssuedStepUp};
use crate::totp::{self, TotpSecret};
use crate::types::{FactorId, Label, OtpCode, UserId};

/// What the app enrollment screen shows, once.
#[derive(Debug)]
pub struct TotpEnrollment {
    pub factor_id: FactorId,
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
    pub qr_png_base64: String,
    pub expires_in: i64,
}

/// A factor that just became active, and the recovery code if this made it the user's first.
#[derive(Debug)]
pub struct Activated {
    pub factor: Factor,
    pub recovery_code: Option<RecoveryCode>,
}

/// Human description of a factor for events and notices (never a secret or a full number).
pub fn describe(f: &Factor, masked_phone: Option<&str>) -> String {
    match f.credential {
        Credential::Totp(_) => format!(
            "authenticator app '{}'",
            f.label.as_deref().unwrap_or("Authenticator app")
        ),
        Credential::Phone(_) => format!("phone {}", masked_phone.unwrap_or("number")),
        Credential::Webauthn(_) => format!(
            "security key '{}'",
            f.label.as_deref().unwrap_or("Security key")
        ),
    }
}

/// The masked number of a phone; nothing for a factor without one.
pub fn masked_phone(keys: &DataKeys, f: &Factor) -> Result<Option<String>> {
    match f.credential {
        Credential::Phone(_) => crate::phones::masked(keys, f).map(Some),
        Credential::Totp(_) | Credential::Webauthn(_) => Ok(None),
    }
}

/// The AAD a factor's sealed secrets are bound to: the factor's item key, so a sealed value
/// copied to another item or user does not open.
pub fn factor_aad(user: &UserId, id: &FactorId) -> Vec<u8> {
    format!("USER#{}|FACTOR#{}", user.as_ref(), id.as_ref()).into_bytes()
}

fn open_secret(keys: &DataKeys, f: &Factor, app: &TotpCredential) -> Result<TotpSecret> {
    TotpSecret::from_bytes(&keys.open(&factor_aad(&f.user, &f.id), &app.secret)?)
}

/// The app payload of a factor counted or listed as an app.
fn app_of(f: &Factor) -> Result<&TotpCredential> {
    f.totp()
        .ok_or_else(|| Error::Internal("an authenticator app that is not one".into()))
}

/// Starts enrolling an authenticator app: a pending factor with a fresh secret, which lapses
/// in 10 minutes unless confirmed with a current code.
pub async fn start_totp(
    app: &App,
    caller: &Caller,
    label: Option<Label>,
) -> Result<TotpEnrollment> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let live = app
        .store
        .list_factors(&caller.user)
        .await?
        .into_iter()
        .filter(|f| f.kind() == FactorKind::Totp && f.is_live(now))
        .count();
    if live >= MAX_TOTP_APPS {
        return Err(Error::Conflict(format!(
            "at most {MAX_TOTP_APPS} authenticator apps; remove one first"
        )));
    }
    let id = FactorId::new();
    let secret = TotpSecret::generate();
    // Everything the screen shows is made before the pending app is stored (and counts
    // toward the cap), so a failure here leaves nothing behind.
    let account = caller.display_name();
    let uri = secret.otpauth_uri(&app.config.service_name, &account)?;
    let (qr_svg, qr_png_base64) = (totp::qr_svg(&uri)?, totp::qr_png_base64(&uri)?);
    let credential = Credential::Totp(TotpCredential {
        secret: keys.seal(&factor_aad(&caller.user, &id), secret.as_bytes())?,
        last_step: None,
    });
    put_pending(app, caller, &id, label, "Authenticator app", credential).await?;
    Ok(TotpEnrollment {
        factor_id: id,
        secret: secret.base32(),
        qr_svg,
        qr_png_base64,
        otpauth_uri: uri,
        expires_in: PENDING_FACTOR_TTL_SECS,
    })
}

/// Stores a new pending factor of the caller's, labelled `label` or `default_label`, which
/// lapses in 10 minutes unless verified.
pub(crate) async fn put_pending(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    label: Option<Label>,
    default_label: &str,
    credential: Credential,
) -> Result<()> {
    let label = label
        .map(|l| l.as_ref().to_owned())
        .unwrap_or_else(|| default_label.to_owned());
    let factor = Factor::pending(
        id.clone(),
        caller.user.clone(),
        Some(label),
        credential,
        app.clock.now(),
        PENDING_FACTOR_TTL_SECS,
    );
    match app.store.commit(&[Change::PutFactor(factor)]).await? {
        Commit::Done => Ok(()),
        Commit::Refused(_) => Err(Error::Internal("factor id collision".into())),
    }
}

/// Why a pending factor takes no try, if it does not.
fn pending_refusal(f: &Factor, now: i64) -> Option<Error> {
    if f.status == FactorStatus::Active {
        Some(Error::Conflict("this factor is already verified".into()))
    } else if f.attempts >= f.max_attempts {
        Some(Error::TooManyAttempts(
            "too many wrong codes; start the enrollment again".into(),
        ))
    } else if f.expires_at.is_none_or(|e| e <= now) {
        Some(Error::Expired(
            "the enrollment expired; start it again".into(),
        ))
    } else {
        None
    }
}

/// The caller's pending factor of `kind`, as read, if a code may be tried on it (404, 409,
/// 410, 429 otherwise). Reads only: the code is compared before anything is written; a right
/// one activates the factor only while it still has a try left (`Change::ActivateFactor`), a
/// wrong one is counted with [`count_wrong_try`].
pub async fn triable(app: &App, user: &UserId, id: &FactorId, kind: FactorKind) -> Result<Factor> {
    let f = app
        .store
        .get_factor(user, id)
        .await?
        .filter(|f| f.kind() == kind)
        .ok_or_else(|| Error::NotFound("no such factor".into()))?;
    match pending_refusal(&f, app.clock.now()) {
        Some(e) => Err(e),
        None => Ok(f),
    }
}

/// Counts a wrong code on a pending factor: the error to answer (`invalid_code`, or
/// `too_many_attempts` for its last try), or why it could not be counted.
pub async fn count_wrong_try(app: &App, f: &Factor) -> Result<Error> {
    let now = app.clock.now();
    match app.store.count_factor_attempt(&f.user, &f.id, now).await? {
        Attempt::Counted(f) => Ok(wrong_code(&f)),
        Attempt::Refused(f) => Err(pending_refusal(&f, now).unwrap_or_else(|| {
            Error::unavailable("pending factor refused an attempt for an unknown reason")
        })),
        Attempt::Missing => Err(Error::NotFound("no such factor".into())),
    }
}

/// The error for a wrong code on a counted try.
pub fn wrong_code(f: &Factor) -> Error {
    match f.max_attempts.saturating_sub(f.attempts) {
        0 => {
            // This wrong code used the enrollment's last try.
            crate::metrics::count(crate::metrics::Metric::Lockout);
            Error::TooManyAttempts("too many wrong codes; start the enrollment again".into())
        }
        n => Error::InvalidCode {
            attempts_remaining: n,
        },
    }
}

/// Confirms an app enrollment with a current code ("verify and save").
pub async fn verify_totp(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    code: &OtpCode,
) -> Result<Activated> {
    crate::metrics::verification(async {
        let keys = app.keys().await?;
        let f = triable(app, &caller.user, id, FactorKind::Totp).await?;
        let Some(step) =
            open_secret(keys, &f, app_of(&f)?)?.matching_step(code, app.clock.now())?
        else {
            return Err(count_wrong_try(app, &f).await?);
        };
        let how = Activation {
            action: Action::FactorAdded,
            detail: describe(&f, None),
            extra: vec![],
            key: None,
            phone_slot: None,
        };
        activate(app, caller, f, Some(step), how).await
    })
    .await
}

/// What an activation records besides the factor itself.
pub struct Activation {
    pub action: Action,
    pub detail: String,
    /// More changes that must happen in the same transaction (the phone guard, the old phone).
    pub extra: Vec<Change>,
    /// A security key's registered key, stored by the activation itself.
    pub key: Option<crate::model::RegisteredKey>,
    /// A phone's guard place, stored by the activation itself.
    pub phone_slot: Option<u8>,
}

/// Makes a pending factor active, with its event and `how.extra`, in one transaction. If the
/// user has no recovery code yet (this is their first factor), one is created in the same
/// transaction.
pub async fn activate(
    app: &App,
    caller: &Caller,
    mut f: Factor,
    step: Option<i64>,
    how: Activation,
) -> Result<Activated> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let event = SecurityEvent::by_caller(app, caller, how.action, how.detail);
    let mut needs_recovery = app.store.get_recovery(&caller.user).await?.is_none();
    // At most twice: a concurrent activation may create the recovery code between our read and
    // our write, and then we commit without one.
    for _ in 0..2 {
        let recovery = needs_recovery.then(RecoveryCode::generate);
        let mut changes = vec![Change::ActivateFactor {
            user: caller.user.clone(),
            id: f.id.clone(),
            step,
            key: how.key.clone(),
            phone_slot: how.phone_slot,
            now,
        }];
        changes.extend(how.extra.iter().cloned());
        // A factor again: a reset no longer requires enrollment.
        changes.push(Change::DeleteResetMarker {
            user: caller.user.clone(),
        });
        if let Some(code) = &recovery {
            changes.push(Change::PutRecovery {
                user: caller.user.clone(),
                record: RecoveryRecord {
                    hash: code.hash(keys, &caller.user),
                    created_at: now,
                },
                only_if_absent: true,
            });
        }
        match record(app, changes, &event, caller.email.as_ref()).await? {
            Commit::Done => {
                f.status = FactorStatus::Active;
                f.activated_at = Some(now);
                f.expires_at = None;
                return Ok(Activated {
                    factor: f,
                    recovery_code: recovery,
                });
            }
            Commit::Refused(ChangeKind::ActivateFactor) => {
                return Err(Error::Conflict(
                    "this factor was already verified, or the code was already used".into(),
                ))
            }
            Commit::Refused(ChangeKind::PutEvent) => {
                return Err(Error::Internal("event id collision".into()))
            }
            Commit::Refused(ChangeKind::PutRecovery) if recovery.is_some() => {
                needs_recovery = false
            }
            Commit::Refused(_) => {
                return Err(Error::Conflict(
                    "your factors changed at the same time; try again".into(),
                ))
            }
        }
    }
    Err(Error::unavailable("activation kept racing; try again"))
}

/// If `code` is a current code of one of the user's active authenticator apps, for a step not
/// used before, the write that marks that step used (conditional, so a concurrent use of the
/// same step loses). `None` for a wrong or replayed code. Nothing is written here.
pub async fn matching_totp(app: &App, apps: &[Factor], code: &OtpCode) -> Result<Option<Change>> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    for f in apps {
        let totp = app_of(f)?;
        if let Some(step) = open_secret(keys, f, totp)?.matching_step(code, now)? {
            if totp.last_step.is_some_and(|last| last >= step) {
                return Ok(None);
            }
            return Ok(Some(Change::AcceptTotpStep {
                user: f.user.clone(),
                id: f.id.clone(),
                step,
                now,
            }));
        }
    }
    Ok(None)
}

/// The changes that delete `factors` (pending ones too), freeing the phone guard held by an
/// active phone.
pub fn deletions(factors: &[Factor]) -> impl Iterator<Item = Change> + '_ {
    factors.iter().flat_map(|f| {
        release_phone(f).into_iter().chain([Change::DeleteFactor {
            user: f.user.clone(),
            id: f.id.clone(),
        }])
    })
}

/// The change that frees the phone place an active phone holds; nothing for other factors.
fn release_phone(f: &Factor) -> Option<Change> {
    match &f.credential {
        Credential::Phone(p) if f.is_active() => Some(Change::ReleasePhone {
            user: f.user.clone(),
            id: f.id.clone(),
            slot: p.place(),
        }),
        Credential::Phone(_) | Credential::Totp(_) | Credential::Webauthn(_) => None,
    }
}

/// Whether the user has any active factor (2FA is on).
pub async fn any_active(app: &App, user: &UserId) -> Result<bool> {
    Ok(app
        .store
        .list_factors(user)
        .await?
        .iter()
        .any(|f| f.status == FactorStatus::Active))
}

/// The user's active factors of `kind`.
pub async fn active(app: &App, user: &UserId, kind: FactorKind) -> Result<Vec<Factor>> {
    Ok(app
        .store
        .list_factors(user)
        .await?
        .into_iter()
        .filter(|f| f.kind() == kind && f.is_active())
        .collect())
}

/// Step-up with a current code from any of the user's authenticator apps: a `factor` step-up
/// token. Each time step is accepted at most once per factor, in the token's own transaction.
/// Wrong codes are limited per user, use the account's guessing budget, and count toward the
/// lock after 100 in a row, like login codes. The code is compared before anything is
/// written: a wrong one is counted in one transaction, a right one is accepted only while the
/// limits still have room.
pub async fn step_up_with_totp(app: &App, caller: &Caller, code: &OtpCode) -> Result<IssuedStepUp> {
    crate::metrics::verification(async {
        // The apps, and in one batch the guard and the three budgets, read at once.
        let (apps, (guard, budgets, budget)) = tokio::try_join!(
            active(app, &caller.user, FactorKind::Totp),
            crate::login::read_factor_guess(app, caller, Some(STEP_UP_TOTP_FAILURES))
        )?;
        if apps.is_empty() {
            return Err(Error::Conflict("no authenticator app is set up".into()));
        }
        // This route's own limit is the one it reports.
        let remaining = budgets.first().map_or(0, |r| r.remaining) as u32;
        let Some(step) = matching_totp(app, &apps, code).await? else {
            crate::login::failure(app, caller, guard)
                .count(app, caller, budgets)
                .await?;
            return Err(Error::InvalidCode {
                attempts_remaining: remaining,
            });
        };
        let mut proof = vec![step];
        proof.extend(crate::login::reset_failures(caller, guard));
        proof.extend(budgets.iter().map(limits::Reservation::room));
        step_up::grant(
            app,
            &caller.user,
            StepUpLevel::Factor,
            proof,
            budget,
            |_| Error::InvalidCode {
                attempts_remaining: remaining,
            },
        )
        .await
    })
    .await
}

/// Renames one of the caller's factors of `kind` (pending or active): the factor as renamed.
pub async fn rename(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    kind: FactorKind,
    label: Label,
) -> Result<Factor> {
    let missing = || Error::NotFound("no such factor".into());
    let mut f = app
        .store
        .get_factor(&caller.user, id)
        .await?
        .filter(|f| f.kind() == kind && f.is_live(app.clock.now()))
        .ok_or_else(missing)?;
    let change = Change::RenameFactor {
        user: caller.user.clone(),
        id: id.clone(),
        kind,
        label: label.as_ref().to_owned(),
    };
    match app.store.commit(&[change]).await? {
        Commit::Done => {
            f.label = Some(label.as_ref().to_owned());
            Ok(f)
        }
        Commit::Refused(_) => Err(missing()),
    }
}

/// Removes one of the caller's factors of `kind`, with its event. Removing the last active
/// factor also removes the recovery code, so the next first factor issues a fresh one.
pub async fn remove(app: &App, caller: &Caller, id: &FactorId, kind: FactorKind) -> Result<()> {
    let factors = app.store.list_factors(&caller.user).await?;
    let f = factors
        .iter()
        .find(|f| &f.id == id && f.kind() == kind)
        .ok_or_else(|| Error::NotFound("no such factor".into()))?;
    let others_active = factors
        .iter()
        .any(|o| &o.id != id && o.status == FactorStatus::Active);
    let masked = masked_phone(app.keys().await?, f)?;
    let event = SecurityEvent::by_caller(
        app,
        caller,
        Action::FactorRemoved,
        describe(f, masked.as_deref()),
    );
    let mut changes = vec![Change::DeleteFactor {
        user: caller.user.clone(),
        id: id.clone(),
    }];
    changes.extend(release_phone(f));
    if !others_active {
        changes.push(Change::DeleteRecovery {
            user: caller.user.clone(),
        });
    }
    match record(app, changes, &event, caller.email.as_ref()).await? {
        Commit::Done => Ok(()),
        Commit::Refused(ChangeKind::DeleteFactor) => Err(Error::NotFound("no such factor".into())),
        Commit::Refused(_) => Err(Error::Internal("event id collision".into())),
    }
}
