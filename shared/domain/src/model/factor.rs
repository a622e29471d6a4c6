//! Second factors as stored: what every kind has, and each kind's own payload.

use crate::clock::UnixTime;
use crate::types::{FactorId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    Phone,
    /// A security key or passkey (WebAuthn).
    Webauthn,
}

impl FactorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Phone => "phone",
            FactorKind::Webauthn => "webauthn",
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
    /// The factor's last use at a login or a step-up.
    pub last_used_at: Option<UnixTime>,
    pub credential: Credential,
}

/// What a factor holds, by kind. Matching on it (never with a catch-all arm) is how adding a
/// kind makes the compiler list every place that must learn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Totp(TotpCredential),
    Phone(PhoneCredential),
    Webauthn(KeyCredential),
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
    /// While pending: the active phone this one is to replace once verified (a number change).
    pub replaces: Option<FactorId>,
    /// Once active: the guard place it holds, 0 to `MAX_PHONES - 1` (none stored: 0, the one
    /// place of a phone verified when a user could have only one).
    pub slot: Option<u8>,
}

impl PhoneCredential {
    /// The guard place an active phone holds.
    pub fn place(&self) -> u8 {
        self.slot.unwrap_or(0)
    }
}

/// A security key or passkey. Nothing here is secret (a public key and its counter), so it is
/// not sealed; it is bound to its user by the item it is stored in, and a login looks keys up
/// only among the user's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    /// While pending: the registration ceremony, consumed when the key is verified.
    pub ceremony: Option<KeyCeremony>,
    /// Once verified: the key.
    pub key: Option<RegisteredKey>,
}

/// A WebAuthn ceremony in progress, as the relying-party library keeps it between the options
/// it handed out and the response it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCeremony {
    /// The library's state (JSON): the challenge, the policy, the credentials allowed.
    pub state: String,
    /// The challenge the options carry (base64url), to tell a response for another ceremony
    /// before anything is counted.
    pub challenge: String,
}

/// A registered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    /// The credential id (base64url, unpadded).
    pub credential_id: String,
    /// The credential as the relying-party library keeps it (JSON): public key, counter, flags.
    pub passkey: String,
    /// The signature counter last accepted (0 for a key that keeps none).
    pub counter: u32,
    /// Whether the key verified the user (PIN, biometrics) when it was registered.
    pub user_verified: bool,
    /// Whether the credential may be backed up (a synced passkey), and whether it is.
    pub backup_eligible: bool,
    pub backup_state: bool,
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
            .field("replaces", &self.replaces)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl Factor {
    /// A new pending factor of `user` holding `credential`: it lapses `ttl` seconds after
    /// `now` unless verified, with the tries a challenge has.
    pub fn pending(
        id: FactorId,
        user: UserId,
        label: Option<String>,
        credential: Credential,
        now: UnixTime,
        ttl: i64,
    ) -> Self {
        Factor {
            id,
            user,
            status: FactorStatus::Pending,
            label,
            created_at: now,
            activated_at: None,
            expires_at: Some(now + ttl),
            attempts: 0,
            max_attempts: crate::rules::MAX_ATTEMPTS_PER_CHALLENGE,
            last_used_at: None,
            credential,
        }
    }

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
            Credential::Webauthn(_) => FactorKind::Webauthn,
        }
    }

    /// The app's payload, if this is an authenticator app.
    pub fn totp(&self) -> Option<&TotpCredential> {
        match &self.credential {
            Credential::Totp(t) => Some(t),
            Credential::Phone(_) | Credential::Webauthn(_) => None,
        }
    }

    /// The phone's payload, if this is a phone.
    pub fn phone(&self) -> Option<&PhoneCredential> {
        match &self.credential {
            Credential::Phone(p) => Some(p),
            Credential::Totp(_) | Credential::Webauthn(_) => None,
        }
    }

    /// The security key's payload, if this is one.
    pub fn security_key(&self) -> Option<&KeyCredential> {
        match &self.credential {
            Credential::Webauthn(k) => Some(k),
            Credential::Totp(_) | Credential::Phone(_) => None,
        }
    }
}

/// A code sent to a pending phone: its hash, channel and expiry.
#[derive(Debug, Clone)]
pub struct PhoneCode {
    pub hash: Vec<u8>,
    pub channel: Channel,
    pub expires_at: UnixTime,
    pub now: UnixTime,
}
