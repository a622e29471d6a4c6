//! Ports: what the domain needs from the outside world. The AWS adapters in `crate::aws`
//! implement them; the domain never sees an AWS type.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::error::Result;
use crate::rules::SendLimit;
use crate::types::{ChallengeId, Email, UserId};

/// What a one-time code challenge is for. Part of the item key, so a code issued for one purpose
/// can never be redeemed on another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    StepUpEmail,
}

impl Purpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            Purpose::StepUpEmail => "step-up-email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    Open,
    Used,
}

/// A one-time code challenge as stored. Holds the code only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: ChallengeId,
    pub user: UserId,
    pub purpose: Purpose,
    pub code_hash: Vec<u8>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub status: ChallengeStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Result of counting one verification attempt against a challenge.
#[derive(Debug)]
pub enum Attempt {
    /// The attempt was counted (the challenge was open, unexpired and had tries left); the
    /// challenge as it is after counting.
    Counted(Challenge),
    /// The attempt was not counted; the challenge as it is (used, expired or out of tries).
    Refused(Challenge),
    /// No such challenge for this user and purpose.
    Missing,
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
    /// Marks an open challenge used; `false` if it was not open (a concurrent verify won).
    async fn consume_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<bool>;

    async fn put_step_up_token(
        &self,
        user: &UserId,
        token_hash: &str,
        expires_at: UnixTime,
    ) -> Result<()>;
    /// Expiry of a stored step-up token, if it exists.
    async fn step_up_token_expiry(
        &self,
        user: &UserId,
        token_hash: &str,
    ) -> Result<Option<UnixTime>>;
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
