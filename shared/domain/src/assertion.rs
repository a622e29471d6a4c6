//! The login assertion: a short-lived ES256 JWT that says "this user passed 2FA". By default the
//! private key never leaves KMS (asymmetric `Sign`); with `ASSERTION_SIGNER=local` it is a P-256
//! key the service made, sealed under the data key and signing in process
//! ([`LocalSigningKey`]). Either way the signature is DER and a JWT carries ES256 as raw `r||s`
//! (64 bytes), so it is converted here. The public key is published as a JWKS whose `kid` is
//! the key's RFC 7638 thumbprint, so a rotated key gets a new `kid`.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::DataKeys;
use crate::error::{Error, Result};
use crate::model::Method;
use crate::types::UserId;

/// Assertions are valid this long (DESIGN.md: 5 minutes).
pub const ASSERTION_TTL_SECS: i64 = 300;

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// The public key as a JWK with its thumbprint `kid`, and the id of the KMS key it is the half
/// of (what signs, so that `kid` and signature always agree).
#[derive(Debug, Clone)]
pub struct PublicJwk {
    pub key_id: String,
    /// RFC 7638 thumbprint of the key (`kid`).
    pub kid: String,
    /// The P-256 point's coordinates, base64url without padding (`x`, `y`).
    pub x: String,
    pub y: String,
}

impl PublicJwk {
    /// From the SubjectPublicKeyInfo DER that KMS `GetPublicKey` returns.
    pub fn from_spki_der(key_id: String, der: &[u8]) -> Result<Self> {
        let key = p256::PublicKey::from_public_key_der(der)
            .map_err(|_| Error::Internal("the signing key is not a P-256 public key".into()))?;
        let point = p256::Sec1Point::from(key);
        let (x, y) = match (point.x(), point.y()) {
            (Some(x), Some(y)) => (b64(x), b64(y)),
            _ => return Err(Error::Internal("compressed public key".into())),
        };
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = b64(&Sha256::digest(canonical.as_bytes()));
        Ok(PublicJwk { key_id, kid, x, y })
    }
}

/// Binds the sealed signing key to what it is: it cannot be opened as any other secret.
const SIGNING_KEY_AAD: &[u8] = b"CONFIG|SIGNING_KEY#v1|assertion-es256";

/// The in-process assertion key (`ASSERTION_SIGNER=local`): its private half is stored only
/// sealed (AES-256-GCM) under the KMS-protected data key, and lives in memory once opened.
pub struct LocalSigningKey {
    key: SigningKey,
    pub public: PublicJwk,
}

impl std::fmt::Debug for LocalSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalSigningKey({})", self.public.kid)
    }
}

impl LocalSigningKey {
    fn from_key(key: SigningKey) -> Result<Self> {
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|_| Error::Internal("signing key: public half".into()))?;
        let public = PublicJwk::from_spki_der(String::new(), spki.as_bytes())?;
        // What signs is named by the key itself, as KMS keys are by their ARN.
        let public = PublicJwk {
            key_id: format!("local:{}", public.kid),
            ..public
        };
        Ok(LocalSigningKey { key, public })
    }

    /// A new random key and its private half sealed under `keys`.
    pub fn generate(keys: &DataKeys) -> Result<(Self, Vec<u8>)> {
        let key = SigningKey::generate_from_rng(&mut crate::crypto::os_rng());
        let scalar = zeroize::Zeroizing::new(key.to_bytes());
        let sealed = keys.seal(SIGNING_KEY_AAD, &scalar)?;
        Ok((Self::from_key(key)?, sealed))
    }

    /// The key whose private half `sealed` holds, sealed under `keys`.
    pub fn open(keys: &DataKeys, sealed: &[u8]) -> Result<Self> {
        let scalar = keys.open(SIGNING_KEY_AAD, sealed)?;
        let key = SigningKey::from_slice(&scalar)
            .map_err(|_| Error::Internal("the stored signing key is not a P-256 key".into()))?;
        Self::from_key(key)
    }

    /// DER ECDSA P-256 / SHA-256 (RFC 6979 nonces) of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.key.sign(message);
        sig.as_bytes().to_vec()
    }
}

/// A DER ECDSA signature as the 64-byte `r||s` a JWS carries (low-S normalised).
pub fn der_to_jws(der: &[u8]) -> Result<[u8; 64]> {
    let sig = p256::ecdsa::Signature::from_der(der)
        .map_err(|_| Error::unavailable("kms: signature is not DER ECDSA"))?;
    let sig = sig.normalize_s();
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    Ok(out)
}

/// The JWKS that verifies assertions (loaded from KMS, or from the sealed local key, once per
/// cold start).
pub async fn jwks(app: &App) -> Result<Vec<PublicJwk>> {
    Ok(vec![app.signing_key().await?.clone()])
}

/// How the second factor was passed for the login an assertion is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// A code (or the recovery code) checked in this login.
    Now(Method),
    /// A remembered device: no code now; the second factor was last passed at `at`, by the
    /// login that remembered the device.
    Remembered { at: UnixTime },
}

/// `acr` of a login whose second factor was checked just now.
pub const ACR_MFA: &str = "mfa";
/// `acr` of a login approved by a remembered device (second factor up to 30 days ago).
pub const ACR_REMEMBERED: &str = "mfa-remembered-device";
/// `acr` of a login whose second factor was a security key just now: phishing-resistant (the
/// OpenID EAP ACR value), so a console can demand a key for a sensitive action.
pub const ACR_PHISHING_RESISTANT: &str = "phr";

impl Passed {
    /// `acr`, `amr` (RFC 8176 values only) and `auth_time` (when the second factor was last
    /// actually passed), so a console can demand a fresh code for a sensitive action.
    pub fn claims(&self, now: UnixTime) -> (&'static str, Vec<&'static str>, UnixTime) {
        match self {
            Passed::Now(Method::Webauthn) => (
                ACR_PHISHING_RESISTANT,
                vec!["mfa", Method::Webauthn.amr()],
                now,
            ),
            Passed::Now(method) => (ACR_MFA, vec!["mfa", method.amr()], now),
            Passed::Remembered { at } => (ACR_REMEMBERED, vec!["mfa"], *at),
        }
    }
}

/// Signs an assertion for `user`, who passed 2FA as `passed` says.
pub async fn issue(app: &App, user: &UserId, passed: Passed) -> Result<String> {
    let key = app.signing_key().await?;
    let now = app.clock.now();
    let (acr, amr, auth_time) = passed.claims(now);
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid });
    let claims = json!({
        "iss": app.config.assertion_issuer,
        "aud": app.config.assertion_audience,
        "sub": user.as_ref(),
        "iat": now,
        "exp": now + ASSERTION_TTL_SECS,
        "auth_time": auth_time,
        "jti": uuid::Uuid::new_v4().to_string(),
        "amr": amr,
        "acr": acr,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let der = app.sign_assertion(&key.key_id, input.as_bytes()).await?;
    Ok(format!("{input}.{}", b64(&der_to_jws(&der)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
    use p256::pkcs8::EncodePublicKey;

    #[test]
    fn an_in_process_key_opens_only_under_its_data_key_and_signs_what_its_jwk_verifies() {
        let keys = DataKeys::derive(&[7u8; 32]).unwrap();
        let (made, sealed) = LocalSigningKey::generate(&keys).unwrap();
        let opened = LocalSigningKey::open(&keys, &sealed).unwrap();
        assert_eq!(opened.public.kid, made.public.kid);
        assert_eq!(opened.public.key_id, format!("local:{}", made.public.kid));
        // The private half is not stored in the clear.
        assert!(!sealed.windows(32).any(|w| w == &made.key.to_bytes()[..]));
        // The JWK's point verifies what the opened key signs.
        let x = data_encoding::BASE64URL_NOPAD
            .decode(made.public.x.as_bytes())
            .unwrap();
        let y = data_encoding::BASE64URL_NOPAD
            .decode(made.public.y.as_bytes())
            .unwrap();
        let point = p256::Sec1Point::from_affine_coordinates(
            &p256::FieldBytes::try_from(x.as_slice()).unwrap(),
            &p256::FieldBytes::try_from(y.as_slice()).unwrap(),
            false,
        );
        let verifier = VerifyingKey::from_sec1_point(&point).unwrap();
        let raw = der_to_jws(&opened.sign(b"header.claims")).unwrap();
        verifier
            .verify(b"header.claims", &Signature::from_slice(&raw).unwrap())
            .unwrap();
        // Another data key, or one flipped bit, opens nothing.
        let other = DataKeys::derive(&[8u8; 32]).unwrap();
        assert!(LocalSigningKey::open(&other, &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(LocalSigningKey::open(&keys, &flipped).is_err());
    }

    #[test]
    fn a_der_signature_becomes_a_raw_signature_that_still_verifies() {
        let sk = SigningKey::generate_from_rng(&mut crate::crypto::os_rng());
        let der: DerSignature = sk.sign(b"header.claims");
        let raw = der_to_jws(der.as_bytes()).unwrap();
        let sig = Signature::from_slice(&raw).unwrap();
        VerifyingKey::from(&sk)
            .verify(b"header.claims", &sig)
            .unwrap();
        assert!(der_to_jws(b"not der").is_err());
    }

    #[test]
    fn a_remembered_device_login_says_so_and_when_the_factor_was_last_passed() {
        let now = 1_800_000_000;
        assert_eq!(
            Passed::Now(Method::Totp).claims(now),
            (ACR_MFA, vec!["mfa", "otp"], now)
        );
        let (acr, amr, auth_time) = Passed::Remembered { at: now - 86_400 }.claims(now);
        assert_eq!((acr, auth_time), (ACR_REMEMBERED, now - 86_400));
        // Only RFC 8176 values: no "device".
        assert_eq!(amr, vec!["mfa"]);
        assert_ne!(acr, ACR_MFA);
    }

    #[test]
    fn the_jwk_kid_is_the_rfc7638_thumbprint_and_changes_with_the_key() {
        let a = SigningKey::generate_from_rng(&mut crate::crypto::os_rng());
        let b = SigningKey::generate_from_rng(&mut crate::crypto::os_rng());
        let der = |k: &SigningKey| VerifyingKey::from(k).to_public_key_der().unwrap();
        let ja = PublicJwk::from_spki_der("a".into(), der(&a).as_bytes()).unwrap();
        let jb = PublicJwk::from_spki_der("b".into(), der(&b).as_bytes()).unwrap();
        assert_ne!(ja.kid, jb.kid);
        assert_eq!(ja.kid.len(), 43);
        assert_eq!((ja.x.len(), ja.y.len()), (43, 43));
        assert_eq!(
            ja.kid,
            PublicJwk::from_spki_der("a".into(), der(&a).as_bytes())
                .unwrap()
                .kid
        );
    }
}
