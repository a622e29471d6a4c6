//! Ports: what the domain needs from the outside world, as traits only. The AWS adapters in
//! `mfa-aws` implement them; the domain never sees an AWS type.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::error::Result;
use crate::events::EventCursor;
use crate::model::{
    Attempt, Challenge, Change, Channel, Commit, Device, EventPage, Factor, Got, LoginGuard,
    Profile, Purpose, RecoveryRecord, ResetMarker, SelfReset, Settings, StepUpLevel, Want,
};
use crate::phone::PhoneNumber;
use crate::rules::SendLimit;
use crate::types::{ChallengeId, Email, FactorId, UserId};

/// A key the whole service shares, made by the first cold start that needs it and stored
/// only in a protected form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceSecret {
    /// The data key, encrypted by KMS.
    DataKey,
    /// The in-process assertion signing key, sealed under the data key.
    SigningKey,
}

impl ServiceSecret {
    pub fn describe(self) -> &'static str {
        match self {
            ServiceSecret::DataKey => "data key",
            ServiceSecret::SigningKey => "signing key",
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The stored form of `which`, if one was created.
    async fn get_secret(&self, which: ServiceSecret) -> Result<Option<Vec<u8>>>;
    /// Stores `which` unless one exists; `false` when another writer won.
    async fn put_secret_if_absent(
        &self,
        which: ServiceSecret,
        stored: &[u8],
        now: UnixTime,
    ) -> Result<bool>;

    /// The slots of a sliding-window limiter (`None` for a slot never taken).
    async fn limit_slots(&self, scope: &str, limit: &SendLimit) -> Result<Vec<Option<i64>>>;
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
    async fn delete_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<()>;
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
    /// The account's consecutive wrong second-step codes and its lock (a fresh guard if none).
    async fn login_guard(&self, user: &UserId) -> Result<LoginGuard>;
    /// Every item of `wants` in one round trip (strongly consistent); the answers in the
    /// order asked (take them apart with [`crate::model::Found`]).
    async fn read_all(&self, wants: &[Want]) -> Result<Vec<Got>>;
    /// The user's last seen membership, if any.
    async fn get_profile(&self, user: &UserId) -> Result<Option<Profile>>;
    /// Up to `limit` owners of `org_id`, as this service last saw them.
    async fn org_owners(&self, org_id: &str, limit: usize) -> Result<Vec<crate::model::OrgMember>>;
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
    /// Records a use of a device at `now`, only if it is still live then, and returns the device
    /// as it now is: `None` if it expired, lapsed, was revoked or never existed. One
    /// conditional write, so a device that lapses cannot be revived by a racing login.
    async fn touch_device(
        &self,
        user: &UserId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Option<Device>>;
    /// Up to `limit` of the user's security events, newest first, older than `before`.
    async fn list_events(
        &self,
        user: &UserId,
        limit: usize,
        before: Option<&EventCursor>,
    ) -> Result<EventPage>;
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
