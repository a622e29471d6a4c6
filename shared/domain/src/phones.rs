//! Phone factors (flow 3): up to three phones per user, codes by SMS or voice call to the one
//! the user picks, resend on either channel, limits per user and per number, and a phone change
//! that swaps numbers atomically.

use crate::app::App;
use crate::challenge;
use crate::crypto::{ct_eq, random_code, DataKeys};
use crate::email::{sms_code, voice_code};
use crate::error::{Error, Result};
use crate::events::Action;
use crate::factors::{self, factor_aad, Activated, Activation};
use crate::identity::Caller;
use crate::limits::{self, Reservation};
use crate::model::Purpose;
use crate::model::{
    Change, ChangeKind, Channel, Credential, Factor, FactorKind, FactorStatus, PhoneCode,
    PhoneCredential,
};
use crate::phone::PhoneNumber;
use crate::pumping::{self, Recipient};
use crate::rules::{
    SendLimit, CODE_TTL_SECS, MAX_PHONES, PHONE_CODES_PER_USER, PHONE_RESENDS_PER_USER,
    PHONE_SENDS_PER_NUMBER_DAY, PHONE_SENDS_PER_NUMBER_HOUR, PHONE_SENDS_PER_USER,
};
use crate::types::{ChallengeId, FactorId, OtpCode, UserId};

/// A phone enrollment started: what the screen shows.
#[derive(Debug)]
pub struct PhoneEnrollment {
    pub factor_id: FactorId,
    pub masked: String,
    pub channel: Channel,
    pub expires_in: i64,
}

fn code_hash(keys: &DataKeys, id: &FactorId, code: &str) -> Vec<u8> {
    keys.mac("phone-code", &[id.as_ref().as_bytes(), code.as_bytes()])
        .to_vec()
}

/// The phone payload of a factor counted or listed as a phone.
fn phone_of(f: &Factor) -> Result<&PhoneCredential> {
    f.phone()
        .ok_or_else(|| Error::Internal("a phone factor that is not one".into()))
}

/// The stored number of a phone factor (decrypted; no policy check: it passed one on entry).
pub(crate) fn number(keys: &DataKeys, f: &Factor) -> Result<PhoneNumber> {
    let phone = phone_of(f)?;
    PhoneNumber::from_stored(
        &keys.open(&factor_aad(&f.user, &f.id), &phone.number)?,
        phone.channel,
    )
}

/// The active phone a code by `channel` goes to, and its number: `chosen` (one of the user's
/// active phones, else `404`), or else the first that takes `channel`. A landline refuses SMS
/// (`400`); `409` when the user has no phone.
pub(crate) async fn pick(
    app: &App,
    user: &UserId,
    channel: Channel,
    chosen: Option<&FactorId>,
) -> Result<(Factor, PhoneNumber)> {
    let keys = app.keys().await?;
    let phones = in_order(factors::active(app, user, FactorKind::Phone).await?);
    if phones.is_empty() {
        return Err(Error::Conflict("no phone is set up".into()));
    }
    let mut refusal = None;
    for phone in phones {
        if chosen.is_some_and(|id| id != &phone.id) {
            continue;
        }
        let number = number(keys, &phone)?;
        match number.check_channel(channel) {
            Ok(()) => return Ok((phone, number)),
            Err(e) => refusal = refusal.or(Some(e)),
        }
    }
    Err(refusal.unwrap_or_else(|| Error::NotFound("no such phone".into())))
}

/// Phones in the order they were verified (the first is the default one).
fn in_order(mut phones: Vec<Factor>) -> Vec<Factor> {
    phones.sort_by(|a, b| {
        (a.activated_at, a.created_at, a.id.as_ref()).cmp(&(
            b.activated_at,
            b.created_at,
            b.id.as_ref(),
        ))
    });
    phones
}

/// The hash a code sent to a challenge is kept as: bound to the challenge and to the phone it
/// went to, so it is worthless once that phone is removed or replaced, and it tells which of
/// the user's phones it was.
pub(crate) fn challenge_code_hash(
    keys: &DataKeys,
    purpose: Purpose,
    id: &ChallengeId,
    phone: &FactorId,
    code: &str,
) -> Vec<u8> {
    challenge::code_hash(keys, purpose, id, &format!("{}:{code}", phone.as_ref())).to_vec()
}

/// Which of `phones` a challenge's code went to, if `code` is that code (`expected` is its
/// stored hash); compared in constant time with each.
pub(crate) fn sent_to(
    keys: &DataKeys,
    purpose: Purpose,
    id: &ChallengeId,
    phones: Vec<Factor>,
    code: &str,
    expected: Option<&[u8]>,
) -> Option<Factor> {
    let expected = expected?;
    phones.into_iter().find(|p| {
        ct_eq(
            &challenge_code_hash(keys, purpose, id, &p.id, code),
            expected,
        )
    })
}

/// What a login or a step-up offers of each active phone, for the user to pick one.
#[derive(Debug, Clone)]
pub struct PhoneChoice {
    pub factor_id: FactorId,
    pub masked: String,
    pub label: Option<String>,
    /// The channels it takes: a landline takes calls only.
    pub channels: Vec<Channel>,
}

/// The user's active phones among `factors`, as choices, in the order they were verified.
pub fn choices(keys: &DataKeys, factors: &[Factor]) -> Result<Vec<PhoneChoice>> {
    let phones = factors
        .iter()
        .filter(|f| f.kind() == FactorKind::Phone && f.is_active())
        .cloned()
        .collect();
    in_order(phones)
        .iter()
        .map(|f| {
            let number = number(keys, f)?;
            let channels = [Channel::Sms, Channel::Voice]
                .into_iter()
                .filter(|c| number.check_channel(*c).is_ok())
                .collect();
            Ok(PhoneChoice {
                factor_id: f.id.clone(),
                masked: number.masked(),
                label: f.label.clone(),
                channels,
            })
        })
        .collect()
}

/// The masked number of a phone factor, for views, events and notices.
pub fn masked(keys: &DataKeys, f: &Factor) -> Result<String> {
    Ok(number(keys, f)?.masked())
}

/// The scopes of a phone send's budgets: the user's, and the number's (by its MAC, so the
/// number itself is not a key).
fn send_scopes(app_keys: &DataKeys, user: &UserId, phone: &PhoneNumber) -> [String; 2] {
    [
        limits::user_scope(user),
        format!(
            "PHONE#{}",
            app_keys.mac_hex("phone-number", &[phone.e164().as_bytes()])
        ),
    ]
}

/// Whether a code is the first for what it proves, or another for something that already had
/// one (which waits out the user's resend back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendKind {
    First,
    Resend,
}

impl SendKind {
    /// A resend when what the code proves already had one (`again`).
    pub(crate) fn resend_if(again: bool) -> Self {
        match again {
            true => SendKind::Resend,
            false => SendKind::First,
        }
    }
}

/// A phone send's budgets: the user's window, the user's log of codes (with the back-off for a
/// resend), the number's hourly and the number's daily.
fn send_budgets(scopes: &[String; 2], send: SendKind) -> [(&str, &SendLimit); 4] {
    let [user_scope, number_scope] = scopes;
    let log = match send {
        SendKind::First => &PHONE_CODES_PER_USER,
        SendKind::Resend => &PHONE_RESENDS_PER_USER,
    };
    [
        (user_scope, &PHONE_SENDS_PER_USER),
        (user_scope, log),
        (number_scope, &PHONE_SENDS_PER_NUMBER_HOUR),
        (number_scope, &PHONE_SENDS_PER_NUMBER_DAY),
    ]
}

/// What a send counted, to give back with [`give_back`] if its message cannot be sent.
#[derive(Debug)]
pub(crate) struct Sends {
    slots: Vec<Reservation>,
    guard: pumping::Plan,
}

/// Commits `changes` together with a send from each of the phone budgets and the pumping
/// guard's checks and counts, in one transaction (see [`limits::commit_with_slots`]): either
/// the send is counted everywhere and its code is stored, or nothing is. A guard that refuses
/// answers `rate_limited` (a range over its ceiling is blocked first), as does a resend
/// before the user's back-off has passed.
pub(crate) async fn commit_with_sends(
    app: &App,
    caller: &Caller,
    phone: &PhoneNumber,
    to: Recipient,
    send: SendKind,
    changes: &[Change],
) -> Result<std::result::Result<Sends, ChangeKind>> {
    let keys = app.keys().await?;
    let scopes = send_scopes(keys, &caller.user, phone);
    let mut guard = pumping::plan(app, keys, caller, phone, to);
    // Each round either sends, answers, or moves the daily count to a shard with room.
    for _ in 0..=pumping::DAILY_SHARDS {
        let mut all = guard.changes(app.clock.now());
        all.extend_from_slice(changes);
        match limits::commit_with_slots(app, &send_budgets(&scopes, send), &all).await? {
            Ok(slots) => return Ok(Ok(Sends { slots, guard })),
            Err(kind @ (ChangeKind::NotBlocked | ChangeKind::CountSend(_))) => {
                guard.refused(app, caller, phone, kind).await?;
            }
            Err(kind) => return Ok(Err(kind)),
        }
    }
    Err(Error::RateLimited { retry_after: 1 })
}

/// Gives back what a send counted, because its message was not sent.
pub(crate) async fn give_back(app: &App, sends: Sends) {
    limits::release_all(app, sends.slots).await;
    sends.guard.give_back(app).await;
}

/// Sends `code` to `phone` on `channel`.
pub(crate) async fn deliver(
    app: &App,
    phone: &PhoneNumber,
    channel: Channel,
    code: &str,
) -> Result<()> {
    let service = &app.config.service_name;
    let sent = match channel {
        Channel::Sms => {
            app.sms
                .send_sms(phone, &sms_code(service, code, CODE_TTL_SECS / 60))
                .await
        }
        Channel::Voice => app.voice.call(phone, &voice_code(service, code)).await,
    };
    crate::metrics::delivery(&sent);
    sent
}

/// Starts adding a phone, or changing the number of the active phone `replaces`: a pending
/// factor and a code by `channel`. A pending phone from an earlier try is replaced (and this
/// code is a resend: starting again does not escape the back-off); a phone being replaced
/// stays until this one is verified. At most [`MAX_PHONES`] active phones, each number once.
pub async fn start(
    app: &App,
    caller: &Caller,
    phone: PhoneNumber,
    channel: Channel,
    replaces: Option<FactorId>,
) -> Result<PhoneEnrollment> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let (active, stale): (Vec<Factor>, Vec<Factor>) = app
        .store
        .list_factors(&caller.user)
        .await?
        .into_iter()
        .filter(|f| f.kind() == FactorKind::Phone)
        .partition(|f| f.status == FactorStatus::Active);
    let stale: Vec<FactorId> = stale.into_iter().map(|f| f.id).collect();
    match &replaces {
        Some(r) if !active.iter().any(|f| &f.id == r) => {
            return Err(Error::NotFound("no such phone to replace".into()))
        }
        None if active.len() >= MAX_PHONES as usize => return Err(too_many_phones()),
        _ => {}
    }
    for f in &active {
        if number(keys, f)?.e164() == phone.e164() && replaces.as_ref() != Some(&f.id) {
            return Err(Error::Conflict(
                "this number is already one of your phones".into(),
            ));
        }
    }
    let id = FactorId::new();
    let code = random_code(app.config.code_length);
    let credential = Credential::Phone(PhoneCredential {
        number: keys.seal(&factor_aad(&caller.user, &id), &phone.to_stored()?)?,
        channel,
        code_hash: Some(code_hash(keys, &id, &code)),
        replaces,
        slot: None,
    });
    let factor = Factor::pending(
        id.clone(),
        caller.user.clone(),
        None,
        credential,
        now,
        CODE_TTL_SECS,
    );
    let send = SendKind::resend_if(!stale.is_empty());
    let mut changes = vec![Change::PutFactor(factor)];
    changes.extend(stale.into_iter().map(|id| Change::DeleteFactor {
        user: caller.user.clone(),
        id,
    }));
    // The sends are counted in the transaction that writes the pending phone.
    let taken = commit_with_sends(app, caller, &phone, Recipient::New, send, &changes)
        .await?
        .map_err(|_| {
            Error::Conflict("your phone enrollment changed at the same time; try again".into())
        })?;
    if let Err(e) = deliver(app, &phone, channel, &code).await {
        // The provider may have the message (it timed out): keep the code and the count, so
        // a text that arrives still works and is counted.
        if e.maybe_done() {
            return Err(e);
        }
        let undo = [Change::DeleteFactor {
            user: caller.user.clone(),
            id: id.clone(),
        }];
        if let Err(u) = app.store.commit(&undo).await {
            tracing::error!(error = %u, "could not remove pending phone after failed send");
        }
        give_back(app, taken).await;
        return Err(e);
    }
    Ok(PhoneEnrollment {
        factor_id: id,
        masked: phone.masked(),
        channel,
        expires_in: CODE_TTL_SECS,
    })
}

/// Sends a new code to a pending phone, by SMS or "call me instead". The new code replaces the
/// old one; the tries already used stay used.
pub async fn resend(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    channel: Option<Channel>,
) -> Result<PhoneEnrollment> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let f = app
        .store
        .get_factor(&caller.user, id)
        .await?
        .filter(|f| f.kind() == FactorKind::Phone)
        .ok_or_else(|| Error::NotFound("no such factor".into()))?;
    if f.status == FactorStatus::Active {
        return Err(Error::Conflict("this phone is already verified".into()));
    }
    if f.attempts >= f.max_attempts {
        return Err(Error::TooManyAttempts(
            "too many wrong codes; add the phone again".into(),
        ));
    }
    if f.expires_at.is_none_or(|e| e <= now) {
        return Err(Error::Expired(
            "the enrollment expired; add the phone again".into(),
        ));
    }
    let stored = phone_of(&f)?;
    let channel = channel.unwrap_or(stored.channel);
    // Parsed again: the operator's policy may have changed since the first code.
    let phone = PhoneNumber::parse(number(keys, &f)?.e164(), channel, &app.config.phone_policy)?;
    let old = stored
        .code_hash
        .clone()
        .ok_or_else(|| Error::Internal("pending phone without a code".into()))?;
    let code = random_code(app.config.code_length);
    let new = PhoneCode {
        hash: code_hash(keys, id, &code),
        channel,
        expires_at: now + CODE_TTL_SECS,
        now,
    };
    // The sends are counted in the transaction that sets the new code.
    let set = Change::SetPhoneCode {
        user: caller.user.clone(),
        id: id.clone(),
        code: new.clone(),
        expect: old.clone(),
    };
    let taken = commit_with_sends(
        app,
        caller,
        &phone,
        Recipient::New,
        SendKind::Resend,
        &[set],
    )
    .await?
    .map_err(|_| Error::Conflict("the enrollment changed at the same time; try again".into()))?;
    if let Err(e) = deliver(app, &phone, channel, &code).await {
        // The provider may have the message (it timed out): keep the code and the count, so
        // a text that arrives still works and is counted.
        if e.maybe_done() {
            return Err(e);
        }
        let back = PhoneCode {
            hash: old,
            channel: stored.channel,
            expires_at: f.expires_at.unwrap_or(now),
            now,
        };
        let undo = [Change::SetPhoneCode {
            user: caller.user.clone(),
            id: id.clone(),
            code: back,
            expect: new.hash,
        }];
        if let Err(u) = app.store.commit(&undo).await {
            tracing::error!(error = %u, "could not restore the previous phone code");
        }
        give_back(app, taken).await;
        return Err(e);
    }
    Ok(PhoneEnrollment {
        factor_id: id.clone(),
        masked: phone.masked(),
        channel,
        expires_in: CODE_TTL_SECS,
    })
}

fn too_many_phones() -> Error {
    Error::Conflict(format!(
        "at most {MAX_PHONES} phones; remove one first, or replace one"
    ))
}

/// Confirms a pending phone with the code it received. It takes a free phone place, or, if it
/// was to replace an active phone, that phone's place, and the old phone goes in the same
/// transaction ("phone changed").
pub async fn verify(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    code: &OtpCode,
) -> Result<Activated> {
    crate::metrics::verification(async {
        let keys = app.keys().await?;
        let f = factors::triable(app, &caller.user, id, FactorKind::Phone).await?;
        let expected = phone_of(&f)?
            .code_hash
            .as_deref()
            .ok_or_else(|| Error::Internal("pending phone without a code".into()))?;
        if !ct_eq(&code_hash(keys, id, code.as_str()), expected) {
            return Err(factors::count_wrong_try(app, &f).await?);
        }
        let new_masked = masked(keys, &f)?;
        let others: Vec<Factor> = app
            .store
            .list_factors(&caller.user)
            .await?
            .into_iter()
            .filter(|o| o.kind() == FactorKind::Phone && o.is_active() && &o.id != id)
            .collect();
        let replaced = phone_of(&f)?
            .replaces
            .as_ref()
            .and_then(|r| others.iter().find(|o| &o.id == r));
        let claim = |slot, replacing: Option<&Factor>| Change::ClaimPhone {
            user: caller.user.clone(),
            id: id.clone(),
            slot,
            replacing: replacing.map(|o| o.id.clone()),
        };
        let how = match replaced {
            Some(o) => {
                let slot = phone_of(o)?.place();
                Activation {
                    action: Action::PhoneChanged,
                    detail: format!("from {} to {new_masked}", masked(keys, o)?),
                    extra: vec![
                        claim(slot, Some(o)),
                        Change::DeleteFactor {
                            user: caller.user.clone(),
                            id: o.id.clone(),
                        },
                    ],
                    key: None,
                    phone_slot: Some(slot),
                }
            }
            // A phone to add (or whose phone to replace is gone): the first free place.
            None => {
                let held: Vec<u8> = others
                    .iter()
                    .map(|o| phone_of(o).map(PhoneCredential::place))
                    .collect::<Result<_>>()?;
                let slot = (0..MAX_PHONES)
                    .find(|s| !held.contains(s))
                    .ok_or_else(too_many_phones)?;
                Activation {
                    action: Action::FactorAdded,
                    detail: factors::describe(&f, Some(&new_masked)),
                    extra: vec![claim(slot, None)],
                    key: None,
                    phone_slot: Some(slot),
                }
            }
        };
        factors::activate(app, caller, f, None, how).await
    })
    .await
}
