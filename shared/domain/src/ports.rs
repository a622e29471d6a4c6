//! Ports: what the domain needs from the outside world. The AWS adapters in `crate::aws`
//! implement them; the domain never sees an AWS type.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::error::Result;
use crate::events::{EventCursor, SecurityEvent};
use crate::phone::PhoneNumber;
use crate::rules::{SendLimit, DEVICE_IDLE_SECS};
use crate::types::{ChallengeId, DeviceId, Email, FactorId, OrgRole, UserId};

/// What a one-time code challenge is for. Part of the item key, so a code issued for one purpose
/// can never be redeemed on another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    StepUpEmail,
    /// The second step of a console login.
    Login,
    /// The emailed code that confirms a self-service reset request.
    SelfReset,
    /// A step-up by a code sent to the user's active phone (SMS or call).
    StepUpPhone,
}

impl Purpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            Purpose::StepUpEmail => "step-up-email",
            Purpose::Login => "login",
            Purpose::SelfReset => "self-reset",
            Purpose::StepUpPhone => "step-up-phone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Purpose::StepUpEmail,
            Purpose::Login,
            Purpose::SelfReset,
            Purpose::StepUpPhone,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    Open,
    Used,
}

/// A way to pass the second step (in JSON: `"totp"`, `"sms"`, `"voice"`, `"recovery_code"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

    /// The method of a code sent by `channel`.
    pub fn of(channel: Channel) -> Self {
        match channel {
            Channel::Sms => Method::Sms,
            Channel::Voice => Method::Voice,
        }
    }

    /// The channel a code for this method goes by, if it is sent to a phone.
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Method::Sms => Some(Channel::Sms),
            Method::Voice => Some(Channel::Voice),
            Method::Totp | Method::RecoveryCode => None,
        }
    }

    /// RFC 8176 authentication method reference for the assertion's `amr`.
    pub fn amr(&self) -> &'static str {
        match self {
            Method::Totp => "otp",
            Method::Sms => "sms",
            Method::Voice => "tel",
            Method::RecoveryCode => "kba",
        }
    }
}

/// A one-time code challenge as stored. Holds the code only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: ChallengeId,
    pub user: UserId,
    pub purpose: Purpose,
    /// The keyed hash of the code sent for this challenge (a login challenge has none until a
    /// code is sent by SMS or voice).
    pub code_hash: Option<Vec<u8>>,
    /// How the code of `code_hash` was sent, when it went to a phone (SMS or call).
    pub code_channel: Option<Channel>,
    /// Login: the methods offered, in order.
    pub methods: Vec<Method>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub status: ChallengeStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Result of counting one verification attempt against a challenge or a pending factor.
#[derive(Debug)]
pub enum Attempt<T = Challenge> {
    /// The attempt was counted (open, unexpired, tries left); the item as it is after counting.
    Counted(T),
    /// The attempt was not counted; the item as it is (used, expired or out of tries).
    Refused(T),
    /// No such item for this user.
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    Phone,
}

impl FactorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Phone => "phone",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorStatus {
    Pending,
    Active,
}

/// How a phone factor receives codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Voice,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Channel::Sms, Channel::Voice]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What a step-up token proved (issue 18): the mailbox only, or a factor of the user's. Once
/// a user has an active factor, changing their 2FA needs `Factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepUpLevel {
    /// A code sent to the account email.
    Email,
    /// An active factor: a current app code, a code sent to the active phone, or the recovery
    /// code.
    Factor,
}

impl StepUpLevel {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepUpLevel::Email => "email",
            StepUpLevel::Factor => "factor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StepUpLevel::Email, StepUpLevel::Factor]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// A second factor as stored: what every kind has, and the kind's own payload. Secrets are
/// sealed (AES-256-GCM, AAD = the item key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: FactorId,
    pub user: UserId,
    pub status: FactorStatus,
    pub label: Option<String>,
    pub created_at: UnixTime,
    pub activated_at: Option<UnixTime>,
    /// Pending factors lapse at this time unless verified.
    pub expires_at: Option<UnixTime>,
    /// Verification tries used while pending.
    pub attempts: u32,
    pub max_attempts: u32,
    pub credential: Credential,
}

/// What a factor holds, by kind. Matching on it (never with a catch-all arm) is how adding a
/// kind makes the compiler list every place that must learn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Totp(TotpCredential),
    Phone(PhoneCredential),
}

/// An authenticator app.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCredential {
    /// The sealed shared secret.
    pub secret: Vec<u8>,
    /// The last time step accepted (a step is accepted at most once).
    pub last_step: Option<i64>,
}

/// A phone that receives codes by SMS or call.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneCredential {
    /// The sealed E.164 number.
    pub number: Vec<u8>,
    /// How codes go by default.
    pub channel: Channel,
    /// While pending: the keyed hash of the code last sent.
    pub code_hash: Option<Vec<u8>>,
}

// Sealed values and code hashes stay out of logs, even encrypted.
impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PhoneCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneCredential")
            .field("channel", &self.channel)
            .field("has_code", &self.code_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl Factor {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.status == FactorStatus::Active || self.expires_at.is_some_and(|e| e > now)
    }

    pub fn is_active(&self) -> bool {
        self.status == FactorStatus::Active
    }

    pub fn kind(&self) -> FactorKind {
        match self.credential {
            Credential::Totp(_) => FactorKind::Totp,
            Credential::Phone(_) => FactorKind::Phone,
        }
    }

    /// The app's payload, if this is an authenticator app.
    pub fn totp(&self) -> Option<&TotpCredential> {
        match &self.credential {
            Credential::Totp(t) => Some(t),
            Credential::Phone(_) => None,
        }
    }

    /// The phone's payload, if this is a phone.
    pub fn phone(&self) -> Option<&PhoneCredential> {
        match &self.credential {
            Credential::Phone(p) => Some(p),
            Credential::Totp(_) => None,
        }
    }
}

/// The user's recovery code, as stored: only its keyed hash.
#[derive(Debug, Clone)]
pub struct RecoveryRecord {
    pub hash: Vec<u8>,
    pub created_at: UnixTime,
}

/// How often a login asks for the second factor (seed 000: "once per computer" every 30 days,
/// or "every log-in").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RememberPolicy {
    /// A device remembered at login skips the code for 30 days (7 days unused). The default.
    #[default]
    Device30Days,
    /// Every login asks; remembered devices are ignored.
    EveryLogin,
}

impl RememberPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            RememberPolicy::Device30Days => "device_30_days",
            RememberPolicy::EveryLogin => "every_login",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "device_30_days" => Some(RememberPolicy::Device30Days),
            "every_login" => Some(RememberPolicy::EveryLogin),
            _ => None,
        }
    }
}

/// The user's 2FA settings (absent: the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub remember: RememberPolicy,
    /// The method a login offers first, when the user has it.
    pub default_method: Option<Method>,
}

/// A remembered device ("remember this computer"), as stored: the token only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    pub user: UserId,
    /// Hex HMAC of the device token (also the item's key).
    pub token_hash: String,
    pub name: String,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    /// 30 days after it was remembered, whatever its use.
    pub expires_at: UnixTime,
}

impl Device {
    /// Unexpired and used within the idle limit.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at && now < self.last_used_at + DEVICE_IDLE_SECS
    }
}

/// What the service last saw of a user's organisation membership (from their own token's
/// claims), so that an organisation's admins can act on them and they can be emailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user: UserId,
    pub email: Option<Email>,
    pub org_id: Option<String>,
    pub org_role: Option<OrgRole>,
    pub updated_at: UnixTime,
}

/// Left by a reset: the user must enroll a factor at their next login, whatever their plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetMarker {
    pub reset_at: UnixTime,
    /// Who reset it (a user id).
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfResetStatus {
    /// Confirmed by the emailed code; takes effect at `completes_at` unless cancelled.
    Waiting,
    Cancelled,
    Completed,
}

impl SelfResetStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SelfResetStatus::Waiting => "waiting",
            SelfResetStatus::Cancelled => "cancelled",
            SelfResetStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SelfResetStatus::Waiting,
            SelfResetStatus::Cancelled,
            SelfResetStatus::Completed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A user's latest confirmed self-service reset (one per user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfReset {
    pub user: UserId,
    pub request_id: ChallengeId,
    pub status: SelfResetStatus,
    pub confirmed_at: UnixTime,
    pub completes_at: UnixTime,
}

/// One page of security events, newest first, and where the next page starts.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub next: Option<EventCursor>,
}

/// One change in an all-or-nothing [`Store::commit`]. Each carries its own condition.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new factor (refused if the id exists).
    PutFactor(Factor),
    /// Pending -> active, if still pending and unexpired at `now`, and (TOTP) `step` is newer
    /// than any accepted before.
    ActivateFactor {
        user: UserId,
        id: FactorId,
        step: Option<i64>,
        now: UnixTime,
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
    /// Makes `id` the user's one phone; refused if another phone holds the place, unless it is
    /// `replacing`.
    ClaimPhone {
        user: UserId,
        id: FactorId,
        replacing: Option<FactorId>,
    },
    /// Frees the phone place held by `id`.
    ReleasePhone { user: UserId, id: FactorId },
    /// Appends a security event.
    PutEvent(SecurityEvent),
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
    /// Marks an open challenge used; refused if it is not open (a concurrent request won).
    ConsumeChallenge {
        user: UserId,
        purpose: Purpose,
        id: ChallengeId,
    },
    /// Records `step` as the last accepted step of an active app; refused unless it is newer
    /// than any accepted before (a replay).
    AcceptTotpStep {
        user: UserId,
        id: FactorId,
        step: i64,
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
    /// Clears the consecutive-failure count and the lock of the account's second step.
    DeleteLoginGuard { user: UserId },
    /// Forgets a sliding-window limiter of `scope` (its slots start empty again).
    DeleteLimit { scope: String, limit: SendLimit },
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

/// What kind of change a [`Change`] is: the tag a refused transaction names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    PutFactor,
    ActivateFactor,
    DeleteFactor,
    PutRecovery,
    DeleteRecovery,
    ClaimPhone,
    ReleasePhone,
    PutEvent,
    PutDevice,
    DeleteDevice,
    PutSettings,
    DeleteChallenge,
    DeleteStepUpToken,
    PutStepUpToken,
    ConsumeChallenge,
    AcceptTotpStep,
    SwapRecovery,
    ConsumeRecovery,
    ResetLoginFailures,
    DeleteLoginGuard,
    DeleteLimit,
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
            Change::DeleteFactor { .. } => ChangeKind::DeleteFactor,
            Change::PutRecovery { .. } => ChangeKind::PutRecovery,
            Change::DeleteRecovery { .. } => ChangeKind::DeleteRecovery,
            Change::ClaimPhone { .. } => ChangeKind::ClaimPhone,
            Change::ReleasePhone { .. } => ChangeKind::ReleasePhone,
            Change::PutEvent { .. } => ChangeKind::PutEvent,
            Change::PutDevice { .. } => ChangeKind::PutDevice,
            Change::DeleteDevice { .. } => ChangeKind::DeleteDevice,
            Change::PutSettings { .. } => ChangeKind::PutSettings,
            Change::DeleteChallenge { .. } => ChangeKind::DeleteChallenge,
            Change::DeleteStepUpToken { .. } => ChangeKind::DeleteStepUpToken,
            Change::PutStepUpToken { .. } => ChangeKind::PutStepUpToken,
            Change::ConsumeChallenge { .. } => ChangeKind::ConsumeChallenge,
            Change::AcceptTotpStep { .. } => ChangeKind::AcceptTotpStep,
            Change::SwapRecovery { .. } => ChangeKind::SwapRecovery,
            Change::ConsumeRecovery { .. } => ChangeKind::ConsumeRecovery,
            Change::ResetLoginFailures { .. } => ChangeKind::ResetLoginFailures,
            Change::DeleteLoginGuard { .. } => ChangeKind::DeleteLoginGuard,
            Change::DeleteLimit { .. } => ChangeKind::DeleteLimit,
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

#[async_trait]
pub trait Store: Send + Sync {
    /// The KMS-encrypted data key, if one was created.
    async fn get_data_key(&self) -> Result<Option<Vec<u8>>>;
    /// Stores the encrypted data key unless one exists; `false` when another writer won.
    async fn put_data_key_if_absent(&self, ciphertext: &[u8], now: UnixTime) -> Result<bool>;

    /// The slots of a sliding-window limiter (`None` for a slot never taken).
    async fn limit_slots(&self, scope: &str, limit: &SendLimit) -> Result<Vec<Option<i64>>>;
    /// Takes `slot` at `now` if it still holds `seen`; `false` when a concurrent writer took it.
    async fn take_limit_slot(
        &self,
        scope: &str,
        limit: &SendLimit,
        slot: usize,
        seen: Option<i64>,
        now: UnixTime,
    ) -> Result<bool>;
    /// Gives a slot back (sets it to `restore`) if it still holds `taken_at`.
    async fn release_limit_slot(
        &self,
        scope: &str,
        limit: &SendLimit,
        slot: usize,
        taken_at: UnixTime,
        restore: Option<i64>,
    ) -> Result<()>;

    async fn put_challenge(&self, challenge: &Challenge) -> Result<()>;
    /// The user's challenge, whatever its state (strongly consistent).
    async fn get_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<Option<Challenge>>;
    /// Gives back one counted try of a still-open challenge (a correct code whose request then
    /// failed does not use up a try).
    async fn release_attempt(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<()>;
    async fn delete_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<()>;
    /// Atomically counts one attempt if the challenge is open, unexpired at `now`, and has
    /// tries left.
    async fn count_attempt(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
        now: UnixTime,
    ) -> Result<Attempt>;
    /// Sets the code (and the channel it goes by; `None` removes both) of an open, unexpired
    /// challenge with tries left, only if its current code hash is `expect` (`None`: it has no
    /// code); `false` otherwise.
    async fn set_challenge_code(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
        code: Option<(&[u8], Channel)>,
        expect: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<bool>;
    /// Expiry and level of a stored step-up token, if it exists.
    async fn get_step_up_token(
        &self,
        user: &UserId,
        token_hash: &str,
    ) -> Result<Option<(UnixTime, StepUpLevel)>>;

    /// Applies every change or none (a DynamoDB transaction).
    async fn commit(&self, changes: &[Change]) -> Result<Commit>;
    /// Every factor of the user, pending ones included (callers skip lapsed ones).
    async fn list_factors(&self, user: &UserId) -> Result<Vec<Factor>>;
    async fn get_factor(&self, user: &UserId, id: &FactorId) -> Result<Option<Factor>>;
    /// Atomically counts one verification try on a pending, unexpired factor with tries left.
    async fn count_factor_attempt(
        &self,
        user: &UserId,
        id: &FactorId,
        now: UnixTime,
    ) -> Result<Attempt<Factor>>;
    async fn get_recovery(&self, user: &UserId) -> Result<Option<RecoveryRecord>>;
    /// Counts one more consecutive wrong second-step code for the account; the new count.
    async fn record_login_failure(&self, user: &UserId) -> Result<u32>;
    /// Locks the account's second step; `false` if it was already locked.
    async fn lock_login(&self, user: &UserId, now: UnixTime) -> Result<bool>;
    /// When the account's second step was locked, if it is.
    async fn login_locked_at(&self, user: &UserId) -> Result<Option<UnixTime>>;
    /// The user's last seen membership, if any.
    async fn get_profile(&self, user: &UserId) -> Result<Option<Profile>>;
    /// Records what the user's latest token said about them.
    async fn put_profile(&self, profile: &Profile) -> Result<()>;
    async fn get_reset_marker(&self, user: &UserId) -> Result<Option<ResetMarker>>;
    async fn get_self_reset(&self, user: &UserId) -> Result<Option<SelfReset>>;
    /// The user's challenges that are open and unexpired at `now`.
    async fn list_open_challenges(&self, user: &UserId, now: UnixTime) -> Result<Vec<Challenge>>;
    /// Hashes of the user's step-up tokens unexpired at `now`.
    async fn list_step_up_tokens(&self, user: &UserId, now: UnixTime) -> Result<Vec<String>>;
    /// The user's settings, if they ever changed them.
    async fn get_settings(&self, user: &UserId) -> Result<Option<Settings>>;
    /// Every remembered device of the user, lapsed ones included (callers check `is_live`).
    async fn list_devices(&self, user: &UserId) -> Result<Vec<Device>>;
    /// Records a use of a device at `now`, only if it is still live then: `false` if it expired,
    /// lapsed, was revoked or never existed. One conditional write, so a device that lapses
    /// cannot be revived by a racing login.
    async fn touch_device(&self, user: &UserId, token_hash: &str, now: UnixTime) -> Result<bool>;
    /// Up to `limit` of the user's security events, newest first, older than `before`.
    async fn list_events(
        &self,
        user: &UserId,
        limit: usize,
        before: Option<&EventCursor>,
    ) -> Result<EventPage>;
    /// Sets a new code on a pending phone factor that is still open (unexpired, tries left),
    /// only if its current code hash is `expect`: `false` otherwise.
    async fn set_phone_code(
        &self,
        user: &UserId,
        id: &FactorId,
        code: &PhoneCode,
        expect: &[u8],
    ) -> Result<bool>;
}

/// A code sent to a pending phone: its hash, channel and expiry.
#[derive(Debug, Clone)]
pub struct PhoneCode {
    pub hash: Vec<u8>,
    pub channel: Channel,
    pub expires_at: UnixTime,
    pub now: UnixTime,
}

/// Sends text messages.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Delivers `text` or fails; on failure nothing may count as sent.
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<()>;
}

/// A message read out on a call: SSML for the voice service, and the same words as text.
#[derive(Clone)]
pub struct VoiceMessage {
    pub ssml: String,
    pub text: String,
}

/// Places voice calls.
#[async_trait]
pub trait VoiceCaller: Send + Sync {
    /// Calls `to` and reads the message, or fails; on failure nothing may count as sent.
    async fn call(&self, to: &PhoneNumber, message: &VoiceMessage) -> Result<()>;
}

/// An email ready to send: both a plain-text and an HTML part.
#[derive(Clone)]
pub struct EmailMessage {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may hold a code: never print it.
        f.debug_struct("EmailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers the message or fails; on failure nothing may count as sent.
    async fn send(&self, message: &EmailMessage) -> Result<()>;
}

/// Encryption context bound to the data key (KMS checks it on decrypt).
pub type KeyContext = [(&'static str, String)];

#[async_trait]
pub trait KeyVault: Send + Sync {
    /// A new 256-bit data key: (plaintext, ciphertext under the master key).
    async fn generate_data_key(
        &self,
        context: &KeyContext,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)>;
    async fn decrypt_data_key(
        &self,
        ciphertext: &[u8],
        context: &KeyContext,
    ) -> Result<Zeroizing<Vec<u8>>>;
}

/// Signs with an asymmetric key that never leaves its service (KMS, ECC_NIST_P256).
#[async_trait]
pub trait Signer: Send + Sync {
    /// ECDSA P-256 / SHA-256 signature of `message` by the key `key_id` (as [`public_key`]
    /// resolved it, so the signature and the published key always agree), DER-encoded.
    ///
    /// [`public_key`]: Signer::public_key
    async fn sign(&self, key_id: &str, message: &[u8]) -> Result<Vec<u8>>;
    /// The key the configured id (or alias) points at now: its own id, and its public half as
    /// SubjectPublicKeyInfo DER.
    async fn public_key(&self) -> Result<(String, Vec<u8>)>;
}
