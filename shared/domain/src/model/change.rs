//! The changes a transaction is made of, and what a refused one names.

use crate::clock::UnixTime;
use crate::events::SecurityEvent;
use crate::rules::SendLimit;
use crate::types::{ChallengeId, FactorId, UserId};

use super::{
    Channel, Device, Factor, FactorKind, Purpose, RecoveryRecord, ResetMarker, SelfReset,
    SelfResetStatus, Settings, StepUpLevel,
};

/// One change in an all-or-nothing [`Store::commit`]. Each carries its own condition.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new factor (refused if the id exists).
    PutFactor(Factor),
    /// Pending -> active, if still pending and unexpired at `now`, and (TOTP) `step` is newer
    /// than any accepted before. A security key stores its registered `key` and drops its
    /// ceremony in the same write, so a registration response is accepted once.
    ActivateFactor {
        user: UserId,
        id: FactorId,
        step: Option<i64>,
        key: Option<super::RegisteredKey>,
        /// A phone: the guard place it holds from now on.
        phone_slot: Option<u8>,
        now: UnixTime,
    },
    /// Records a security key's use: its credential as updated and its new signature counter;
    /// refused unless the key is active and `counter` is above the stored one (or both are 0,
    /// for a key that keeps no counter), so a cloned key's older counter never wins a race.
    UseKey {
        user: UserId,
        id: FactorId,
        passkey: String,
        counter: u32,
        backup_state: bool,
        now: UnixTime,
    },
    /// Renames a factor of `kind`; refused if there is no such factor.
    RenameFactor {
        user: UserId,
        id: FactorId,
        kind: FactorKind,
        label: String,
    },
    /// Removes a factor (refused if it does not exist).
    DeleteFactor { user: UserId, id: FactorId },
    /// Sets the recovery code; with `only_if_absent`, refused if the user has one.
    PutRecovery {
        user: UserId,
        record: RecoveryRecord,
        only_if_absent: bool,
    },
    /// Removes the recovery code, if any.
    DeleteRecovery { user: UserId },
    /// Gives `id` the user's phone place `slot`; refused if another phone holds it, unless it
    /// is `replacing`.
    ClaimPhone {
        user: UserId,
        id: FactorId,
        slot: u8,
        replacing: Option<FactorId>,
    },
    /// Frees the phone place `slot` if `id` holds it.
    ReleasePhone {
        user: UserId,
        id: FactorId,
        slot: u8,
    },
    /// Appends a security event.
    PutEvent(SecurityEvent),
    /// Records what the user's latest token said about them (replacing what was there).
    PutProfile(super::Profile),
    /// Records a member of an organisation with their role (replacing what was there).
    PutOrgMember(super::OrgMember),
    /// Forgets a member's entry under their old organisation or role, if it is still there.
    DeleteOrgMember {
        org_id: String,
        user: UserId,
        role: crate::types::OrgRole,
    },
    /// Sets an organisation's policy (replacing what was there).
    PutOrgPolicy(super::StoredOrgPolicy),
    /// Remembers a device (refused if the token hash exists).
    PutDevice(Device),
    /// Forgets a device, if it is still there.
    DeleteDevice { user: UserId, token_hash: String },
    /// Replaces the user's settings.
    PutSettings { user: UserId, settings: Settings },
    /// Removes a challenge, if it is still there.
    DeleteChallenge {
        user: UserId,
        purpose: Purpose,
        id: ChallengeId,
    },
    /// Removes a step-up token, if it is still there.
    DeleteStepUpToken { user: UserId, token_hash: String },
    /// A new step-up token (refused if the hash exists).
    PutStepUpToken {
        user: UserId,
        token_hash: String,
        level: StepUpLevel,
        expires_at: UnixTime,
    },
    /// Marks an open challenge used; refused unless it is still open with a try left (a
    /// concurrent request used it, or concurrent wrong codes used its last try).
    ConsumeChallenge {
        user: UserId,
        purpose: Purpose,
        id: ChallengeId,
    },
    /// Records `step` as the last accepted step of an active app, used at `now`; refused
    /// unless it is newer than any accepted before (a replay).
    AcceptTotpStep {
        user: UserId,
        id: FactorId,
        step: i64,
        now: UnixTime,
    },
    /// Records that an active factor (a phone a code went to) was used at `now`; refused if it
    /// is no longer there and active (removed or reset in between).
    FactorUsed {
        user: UserId,
        id: FactorId,
        now: UnixTime,
    },
    /// Replaces the recovery code only if its hash is still `old_hash` (single use).
    SwapRecovery {
        user: UserId,
        old_hash: Vec<u8>,
        new: RecoveryRecord,
    },
    /// Removes the recovery code only if its hash is still `old_hash` (used to turn 2FA off).
    ConsumeRecovery { user: UserId, old_hash: Vec<u8> },
    /// A correct second-step code: the consecutive-failure count starts again.
    ResetLoginFailures { user: UserId },
    /// A wrong second-step code: one more consecutive failure; with `lock_at`, the account's
    /// second step is locked from then (if it is not already).
    CountLoginFailure {
        user: UserId,
        lock_at: Option<UnixTime>,
    },
    /// Clears the consecutive-failure count and the lock of the account's second step.
    DeleteLoginGuard { user: UserId },
    /// Forgets a sliding-window limiter of `scope` (its slots start empty again).
    DeleteLimit { scope: String, limit: SendLimit },
    /// Takes `slot` of a limiter at `now`; refused unless it still holds `seen` (a concurrent
    /// send took it otherwise). Committed with the write the send is for, so a slot is never
    /// counted for a message that was not even prepared.
    TakeLimitSlot {
        scope: String,
        limit: SendLimit,
        slot: usize,
        seen: Option<i64>,
        now: UnixTime,
    },
    /// Writes nothing; refused unless `slot` of a limiter still holds `seen`, that is, the
    /// budget still has room as it was read. Committed with a right code for every budget a
    /// wrong one would have used, so concurrent wrong codes cannot get more codes compared
    /// than the budget allows.
    LimitRoom {
        scope: String,
        limit: SendLimit,
        slot: usize,
        seen: Option<i64>,
    },
    /// Counts one send on the fixed-window counter `name` of `scope` (made if absent, removed
    /// by TTL at `expires_at`); with `max`, refused once it holds `max` (the pumping guard).
    CountSend {
        scope: String,
        name: String,
        max: Option<i64>,
        expires_at: UnixTime,
        tag: Velocity,
    },
    /// Gives back a send [`Change::CountSend`] counted, for a message that was not sent;
    /// refused if the counter is already 0 (it lapsed).
    UncountSend { scope: String, name: String },
    /// Blocks the sends under `scope` until `until` (replacing any earlier block).
    PutBlock { scope: String, until: UnixTime },
    /// Writes nothing; refused while `scope` is blocked at `now`.
    NotBlocked { scope: String, now: UnixTime },
    /// A new challenge (refused if the id exists).
    PutChallenge(super::Challenge),
    /// Counts one try on an open challenge; refused unless it is still open, unexpired at
    /// `now` and has a try left (a concurrent request used it up).
    CountAttempt {
        user: UserId,
        purpose: Purpose,
        id: ChallengeId,
        now: UnixTime,
    },
    /// Sets an open challenge's code (`None` removes it); refused unless its code is still
    /// `expect` and the challenge is open and unexpired at `now`.
    SetChallengeCode {
        user: UserId,
        purpose: Purpose,
        id: ChallengeId,
        code: Option<(Vec<u8>, Channel)>,
        expect: Option<Vec<u8>>,
        now: UnixTime,
    },
    /// Replaces a pending phone's code; refused unless its code is still `expect` and it is
    /// pending, unexpired at `code.now` and has a try left.
    SetPhoneCode {
        user: UserId,
        id: FactorId,
        code: super::PhoneCode,
        expect: Vec<u8>,
    },
    /// Records that the user must enroll again.
    PutResetMarker { user: UserId, marker: ResetMarker },
    /// The user has a factor again: no more enrollment required by a reset.
    DeleteResetMarker { user: UserId },
    /// A confirmed self-service reset; refused while another one is waiting.
    PutSelfReset(SelfReset),
    /// Moves a waiting self-service reset to `to`; refused unless it is `request_id`, still
    /// waiting, and (when `due_at` is given) due by then.
    EndSelfReset {
        user: UserId,
        request_id: ChallengeId,
        to: SelfResetStatus,
        due_at: Option<UnixTime>,
    },
}

/// Which velocity counter of the pumping guard a [`Change::CountSend`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Velocity {
    /// New-number sends to one destination range (the E.164 number without its last 4 digits).
    Range,
    /// New-number sends to one country calling code.
    Country,
    /// New-number sends asked for from one source IP.
    SourceIp,
    /// One shard of the whole service's daily message budget.
    Daily,
}

/// What kind of change a [`Change`] is: the tag a refused transaction names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    PutFactor,
    ActivateFactor,
    UseKey,
    RenameFactor,
    DeleteFactor,
    PutRecovery,
    DeleteRecovery,
    ClaimPhone,
    ReleasePhone,
    PutEvent,
    PutProfile,
    PutOrgMember,
    DeleteOrgMember,
    PutOrgPolicy,
    PutDevice,
    DeleteDevice,
    PutSettings,
    DeleteChallenge,
    DeleteStepUpToken,
    PutStepUpToken,
    ConsumeChallenge,
    AcceptTotpStep,
    FactorUsed,
    SwapRecovery,
    ConsumeRecovery,
    ResetLoginFailures,
    CountLoginFailure,
    DeleteLoginGuard,
    DeleteLimit,
    TakeLimitSlot,
    LimitRoom,
    /// The counter of this kind was at its ceiling.
    CountSend(Velocity),
    UncountSend,
    PutBlock,
    NotBlocked,
    PutChallenge,
    CountAttempt,
    SetChallengeCode,
    SetPhoneCode,
    PutResetMarker,
    DeleteResetMarker,
    PutSelfReset,
    EndSelfReset,
}

impl Change {
    /// The tag of this change.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::PutFactor { .. } => ChangeKind::PutFactor,
            Change::ActivateFactor { .. } => ChangeKind::ActivateFactor,
            Change::UseKey { .. } => ChangeKind::UseKey,
            Change::RenameFactor { .. } => ChangeKind::RenameFactor,
            Change::DeleteFactor { .. } => ChangeKind::DeleteFactor,
            Change::PutRecovery { .. } => ChangeKind::PutRecovery,
            Change::DeleteRecovery { .. } => ChangeKind::DeleteRecovery,
            Change::ClaimPhone { .. } => ChangeKind::ClaimPhone,
            Change::ReleasePhone { .. } => ChangeKind::ReleasePhone,
            Change::PutEvent { .. } => ChangeKind::PutEvent,
            Change::PutProfile(_) => ChangeKind::PutProfile,
            Change::PutOrgMember(_) => ChangeKind::PutOrgMember,
            Change::DeleteOrgMember { .. } => ChangeKind::DeleteOrgMember,
            Change::PutOrgPolicy(_) => ChangeKind::PutOrgPolicy,
            Change::PutDevice { .. } => ChangeKind::PutDevice,
            Change::DeleteDevice { .. } => ChangeKind::DeleteDevice,
            Change::PutSettings { .. } => ChangeKind::PutSettings,
            Change::DeleteChallenge { .. } => ChangeKind::DeleteChallenge,
            Change::DeleteStepUpToken { .. } => ChangeKind::DeleteStepUpToken,
            Change::PutStepUpToken { .. } => ChangeKind::PutStepUpToken,
            Change::ConsumeChallenge { .. } => ChangeKind::ConsumeChallenge,
            Change::AcceptTotpStep { .. } => ChangeKind::AcceptTotpStep,
            Change::FactorUsed { .. } => ChangeKind::FactorUsed,
            Change::SwapRecovery { .. } => ChangeKind::SwapRecovery,
            Change::ConsumeRecovery { .. } => ChangeKind::ConsumeRecovery,
            Change::ResetLoginFailures { .. } => ChangeKind::ResetLoginFailures,
            Change::CountLoginFailure { .. } => ChangeKind::CountLoginFailure,
            Change::DeleteLoginGuard { .. } => ChangeKind::DeleteLoginGuard,
            Change::DeleteLimit { .. } => ChangeKind::DeleteLimit,
            Change::TakeLimitSlot { .. } => ChangeKind::TakeLimitSlot,
            Change::LimitRoom { .. } => ChangeKind::LimitRoom,
            Change::CountSend { tag, .. } => ChangeKind::CountSend(*tag),
            Change::UncountSend { .. } => ChangeKind::UncountSend,
            Change::PutBlock { .. } => ChangeKind::PutBlock,
            Change::NotBlocked { .. } => ChangeKind::NotBlocked,
            Change::CountAttempt { .. } => ChangeKind::CountAttempt,
            Change::PutChallenge(_) => ChangeKind::PutChallenge,
            Change::SetChallengeCode { .. } => ChangeKind::SetChallengeCode,
            Change::SetPhoneCode { .. } => ChangeKind::SetPhoneCode,
            Change::PutResetMarker { .. } => ChangeKind::PutResetMarker,
            Change::DeleteResetMarker { .. } => ChangeKind::DeleteResetMarker,
            Change::PutSelfReset { .. } => ChangeKind::PutSelfReset,
            Change::EndSelfReset { .. } => ChangeKind::EndSelfReset,
        }
    }
}

/// Outcome of [`Store::commit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    Done,
    /// Nothing was written: the condition of a change of this kind did not hold.
    Refused(ChangeKind),
}
