//! Dev JWTs: an ES256 key made once per machine, tokens minted with any claims, and the
//! verification the API's JWT authorizer performs (signature by `kid`, `iss`, `aud`, `exp`).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa_domain::assertion::PublicJwk;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use serde_json::{json, Map, Value};

/// Issuer and audience of dev tokens; the template takes the real ones as parameters.
pub const ISSUER: &str = "https://dev-issuer.mfa.local";
pub const AUDIENCE: &str = "mfa-api";
const KEY_FILE: &str = "dev-jwt-key.pem";

/// The local signing key and its public JWK.
pub struct DevKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn kid_for(jwk: &Value) -> String {
    let x = jwk["x"].as_str().unwrap_or_default();
    format!("dev-{}", &x[..x.len().min(12)])
}

/// The public key as an EC JWK (RFC 7518 section 6.2.1), its coordinates taken as the
/// service's own assertion JWKS takes them.
fn public_jwk(key: &p256::PublicKey) -> Result<Value, String> {
    let der = key.to_public_key_der().map_err(|e| e.to_string())?;
    let jwk = PublicJwk::from_spki_der(String::new(), der.as_bytes()).map_err(|e| e.to_string())?;
    Ok(json!({ "kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y }))
}

impl DevKey {
    /// Loads the key from `dir`, creating it (atomically) if this machine has none yet.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            let sk = p256::SecretKey::generate_from_rng(&mut UnwrapErr(SysRng));
            let pem = sk.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
            let tmp = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
            std::fs::write(&tmp, pem.as_bytes()).map_err(|e| e.to_string())?;
            // If another process created the key meanwhile, keep theirs.
            if std::fs::hard_link(&tmp, &path).is_err() && !path.exists() {
                return Err("could not store the dev signing key".into());
            }
            let _ = std::fs::remove_file(&tmp);
        }
        let pem = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let sk = p256::SecretKey::from_pkcs8_pem(&pem).map_err(|e| e.to_string())?;
        let mut jwk = public_jwk(&sk.public_key())?;
        let kid = kid_for(&jwk);
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        Ok(DevKey { kid, encoding, jwk })
    }

    /// The JWKS the dev gateway trusts.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Signs `claims`, adding `iss`, `aud`, `iat` and `exp` (`ttl_secs` from now) unless given.
    pub fn mint(&self, mut claims: Map<String, Value>, ttl_secs: i64) -> Result<String, String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        claims.entry("iss").or_insert(json!(ISSUER));
        claims.entry("aud").or_insert(json!(AUDIENCE));
        claims.entry("iat").or_insert(json!(now));
        claims.entry("exp").or_insert(json!(now + ttl_secs));
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

/// The claims a dev sign-in may set, each a non-empty string of at most 200 characters.
pub const SIGN_IN_CLAIMS: [&str; 6] = ["sub", "email", "org_id", "org_role", "plan", "scope"];
/// A dev sign-in's token lasts an hour unless asked otherwise, and at most a day.
pub const SIGN_IN_TTL: (i64, i64) = (3600, 86_400);

/// The claims and lifetime of a dev sign-in request: `sub` required, the other
/// [`SIGN_IN_CLAIMS`] optional, `ttl_seconds` 60 up to a day. Anything else is refused, with the
/// reason.
pub fn sign_in_claims(
    input: &Map<String, Value>,
) -> Result<(Map<String, Value>, i64), &'static str> {
    let mut claims = Map::new();
    let mut ttl = SIGN_IN_TTL.0;
    for (name, value) in input {
        if name == "ttl_seconds" {
            ttl = value
                .as_i64()
                .filter(|t| (60..=SIGN_IN_TTL.1).contains(t))
                .ok_or("ttl_seconds must be a whole number from 60 to 86400")?;
            continue;
        }
        if !SIGN_IN_CLAIMS.contains(&name.as_str()) {
            return Err("only sub, email, org_id, org_role, plan, scope and ttl_seconds are taken");
        }
        match value.as_str().map(str::trim) {
            Some("") => continue,
            Some(v) if v.chars().count() <= 200 => {
                claims.insert(name.clone(), Value::String(v.to_owned()));
            }
            _ => return Err("each claim must be a string of at most 200 characters"),
        }
    }
    if !claims.contains_key("sub") {
        return Err("sub is required");
    }
    Ok((claims, ttl))
}

/// What the API's JWT authorizer checks, against a JWKS.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl Verifier {
    pub fn new(jwks: &Value, issuer: &str, audience: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for k in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(x), Some(y)) =
                (k["kid"].as_str(), k["x"].as_str(), k["y"].as_str())
            else {
                continue;
            };
            let key = DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?;
            keys.insert(kid.to_owned(), key);
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Verifier { keys, validation })
    }

    /// The token's claims if it is valid; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let key = self.keys.get(&kid)?;
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Claims as API Gateway HTTP API hands them to a function: every value a string.
pub fn claims_as_strings(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Map<String, Value> {
        json!({"sub": "u1", "plan": "paid"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_minted_token_verifies_and_tampering_or_expiry_does_not() {
        let dir = std::env::temp_dir().join(format!("jwt-test-{}", uuid::Uuid::new_v4()));
        let key = DevKey::load_or_create(&dir).unwrap();
        let v = Verifier::new(&key.jwks(), ISSUER, AUDIENCE).unwrap();
        let t = key.mint(claims(), 60).unwrap();
        assert_eq!(v.verify(&t).unwrap()["sub"], "u1");
        let mut expired = claims();
        expired.insert("exp".into(), json!(1));
        assert!(v.verify(&key.mint(expired, 60).unwrap()).is_none());
        let mut wrong_aud = claims();
        wrong_aud.insert("aud".into(), json!("other"));
        assert!(v.verify(&key.mint(wrong_aud, 60).unwrap()).is_none());
        let other = DevKey::load_or_create(&dir.join("other")).unwrap();
        assert!(v.verify(&other.mint(claims(), 60).unwrap()).is_none());
        assert!(v.verify(&format!("{t}x")).is_none());
        // The same directory yields the same key.
        assert_eq!(DevKey::load_or_create(&dir).unwrap().kid, key.kid);
    }

    #[test]
    fn a_sign_in_takes_the_known_claims_and_refuses_anything_else() {
        let input =
            json!({"sub": " u1 ", "email": "a@example.com", "plan": "", "ttl_seconds": 120});
        let (claims, ttl) = sign_in_claims(input.as_object().unwrap()).unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["email"], "a@example.com");
        assert!(!claims.contains_key("plan"), "an empty field is left out");
        assert_eq!(ttl, 120);
        for bad in [
            json!({"email": "a@example.com"}),
            json!({"sub": ""}),
            json!({"sub": "u1", "exp": "1"}),
            json!({"sub": "u1", "iss": "https://evil.example"}),
            json!({"sub": 5}),
            json!({"sub": "u1", "ttl_seconds": 10}),
            json!({"sub": "u1", "ttl_seconds": 100_000}),
            json!({"sub": "x".repeat(201)}),
        ] {
            assert!(sign_in_claims(bad.as_object().unwrap()).is_err(), "{bad}");
        }
        let (_, ttl) = sign_in_claims(json!({"sub": "u1"}).as_object().unwrap()).unwrap();
        assert_eq!(ttl, 3600);
    }

    #[test]
    fn claims_are_stringified_as_api_gateway_does() {
        let c = json!({"exp": 5, "aud": ["a", "b"], "sub": "x", "ok": true});
        let s = claims_as_strings(c.as_object().unwrap());
        assert_eq!(s["exp"], "5");
        assert_eq!(s["aud"], "[a b]");
        assert_eq!(s["ok"], "true");
    }
}
