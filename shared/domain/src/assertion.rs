//! The login assertion: a short-lived ES256 JWT that says "this user passed 2FA". The private key
//! never leaves KMS (asymmetric `Sign`); KMS returns a DER signature and a JWT carries ES256 as
//! raw `r||s` (64 bytes), so it is converted here. The public key is published as a JWKS whose
//! `kid` is the key's RFC 7638 thumbprint, so a rotated key gets a new `kid`.

use p256::pkcs8::DecodePublicKey;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::clock::UnixTime;
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
        let point = p256::EncodedPoint::from(key);
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

/// A DER ECDSA signature as the 64-byte `r||s` a JWS carries (low-S normalised).
pub fn der_to_jws(der: &[u8]) -> Result<[u8; 64]> {
    let sig = p256::ecdsa::Signature::from_der(der)
        .map_err(|_| Error::unavailable("kms: signature is not DER ECDSA"))?;
    let sig = sig.normalize_s().unwrap_or(sig);
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    Ok(out)
}

/// The JWKS that verifies assertions (loaded from KMS once per cold start).
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

impl Passed {
    /// `acr`, `amr` (RFC 8176 values only) and `auth_time` (when the second factor was last
    /// actually passed), so a console can demand a fresh code for a sensitive action.
    pub fn claims(&self, now: UnixTime) -> (&'static str, Vec<&'static str>, UnixTime) {
        match self {
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
    let der = app.signer.sign(&key.key_id, input.as_bytes()).await?;
    Ok(format!("{input}.{}", b64(&der_to_jws(&der)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
    use p256::pkcs8::EncodePublicKey;

    #[test]
    fn a_der_signature_becomes_a_raw_signature_that_still_verifies() {
        let sk = SigningKey::random(&mut rand::rngs::OsRng);
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
        let a = SigningKey::random(&mut rand::rngs::OsRng);
        let b = SigningKey::random(&mut rand::rngs::OsRng);
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
