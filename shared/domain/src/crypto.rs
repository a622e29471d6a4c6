//! The crypto base every flow reuses: keys derived from the KMS data key, AES-256-GCM for secrets
//! at rest, HMAC-SHA-256 for codes and tokens, CSPRNG codes, constant-time comparison.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::{Rng, RngExt};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const NONCE_LEN: usize = 12;

/// Keys derived once per cold start from the plaintext data key. Never logged, never stored.
pub struct DataKeys {
    aead: Aes256Gcm,
    mac_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKeys(<redacted>)")
    }
}

impl DataKeys {
    /// Derives independent encryption and MAC keys from a 256-bit data key (HKDF-SHA-256).
    pub fn derive(data_key: &[u8]) -> Result<Self> {
        if data_key.len() != 32 {
            return Err(Error::Internal("data key must be 256 bits".into()));
        }
        let hk = Hkdf::<Sha256>::new(Some(b"mfa-service/v1"), data_key);
        let mut enc = Zeroizing::new([0u8; 32]);
        let mut mac = Zeroizing::new([0u8; 32]);
        hk.expand(b"aes-256-gcm secrets at rest", enc.as_mut())
            .and_then(|_| hk.expand(b"hmac-sha-256 codes and tokens", mac.as_mut()))
            .map_err(|_| Error::Internal("hkdf expand".into()))?;
        let aead = Aes256Gcm::new_from_slice(enc.as_ref())
            .map_err(|_| Error::Internal("aes key".into()))?;
        Ok(DataKeys { aead, mac_key: mac })
    }

    /// Encrypts `plaintext` bound to `aad` (the item's key). Output: nonce || ciphertext+tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let ct = self
            .aead
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same `aad`; any other AAD fails.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::Internal("sealed value too short".into()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::Internal("nonce length".into()))?;
        self.aead
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Internal("stored secret failed authentication".into()))
    }

    /// HMAC-SHA-256 over a purpose label and length-prefixed parts, so values from different
    /// purposes or split differently can never collide.
    pub fn mac(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.mac_key.as_ref())
            .expect("HMAC takes keys of any length");
        for p in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The MAC as lower-case hex, for use inside item keys.
    pub fn mac_hex(&self, purpose: &str, parts: &[&[u8]]) -> String {
        data_encoding::HEXLOWER.encode(&self.mac(purpose, parts))
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The operating system's CSPRNG, as a generator that cannot fail: where the operating system
/// cannot give random bytes, nothing safe can go on, so that panics.
pub fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    os_rng().fill_bytes(&mut b);
    b
}

/// A uniformly random numeric code of `len` digits (leading zeros kept).
pub fn random_code(len: usize) -> Zeroizing<String> {
    let n: u64 = os_rng().random_range(0..10u64.pow(len as u32));
    Zeroizing::new(format!("{n:0len$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> DataKeys {
        DataKeys::derive(&[7u8; 32]).unwrap()
    }

    #[test]
    fn sealed_secret_opens_only_with_the_same_aad() {
        let k = keys();
        let sealed = k.seal(b"USER#a|FACTOR#1", b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        assert_eq!(
            k.open(b"USER#a|FACTOR#1", &sealed).unwrap().as_slice(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert!(k.open(b"USER#b|FACTOR#1", &sealed).is_err());
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let k = keys();
        assert_ne!(k.seal(b"a", b"s").unwrap(), k.seal(b"a", b"s").unwrap());
    }

    #[test]
    fn mac_separates_purposes_and_part_boundaries() {
        let k = keys();
        assert_ne!(k.mac("code", &[b"ab", b"c"]), k.mac("code", &[b"a", b"bc"]));
        assert_ne!(k.mac("code", &[b"abc"]), k.mac("token", &[b"abc"]));
        assert_eq!(k.mac("code", &[b"abc"]), k.mac("code", &[b"abc"]));
        let other = DataKeys::derive(&[8u8; 32]).unwrap();
        assert_ne!(k.mac("code", &[b"abc"]), other.mac("code", &[b"abc"]));
    }

    #[test]
    fn a_data_key_of_the_wrong_size_is_refused() {
        assert!(DataKeys::derive(&[0u8; 16]).is_err());
    }

    #[test]
    fn random_codes_have_the_asked_length_and_cover_all_digits() {
        let mut seen = [false; 10];
        for _ in 0..500 {
            let c = random_code(8);
            assert_eq!(c.len(), 8);
            for b in c.bytes() {
                seen[(b - b'0') as usize] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
