//! A software security key for the tests. It holds a P-256 credential and answers the
//! service's WebAuthn options the way a browser with a hardware key answers them
//! (`credential.toJSON()`), with `none` attestation: CBOR by ciborium, signatures by p256. The
//! service checks all of it with webauthn-rs; nothing here is shared with the service.

use ciborium::value::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate as _;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::Rng as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where the dev gateway's page is, as a browser reports it.
pub const ORIGIN: &str = "http://localhost:3000";
/// The relying party the local stack is configured with (`WEBAUTHN_RP_ID`).
pub const RP_ID: &str = "localhost";

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

#[derive(Clone)]
pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The signature counter: it moves forward before each signature, as a hardware key's does.
    pub counter: u32,
    /// The origin the "browser" puts in the client data, and the RP id the key signs for.
    pub origin: String,
    pub rp_id: String,
    /// Whether the key says it verified the user (a PIN).
    pub user_verified: bool,
}

impl Default for SoftKey {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftKey {
    pub fn new() -> Self {
        let mut id = vec![0u8; 32];
        UnwrapErr(SysRng).fill_bytes(&mut id);
        SoftKey {
            key: SigningKey::generate_from_rng(&mut UnwrapErr(SysRng)),
            credential_id: id,
            counter: 0,
            origin: ORIGIN.into(),
            rp_id: RP_ID.into(),
            user_verified: true,
        }
    }

    /// The credential id as the options and the responses carry it (base64url).
    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let int = |i: i64| Cbor::Integer(i.into());
        let key = Cbor::Map(vec![
            (int(1), int(2)),  // kty: EC2
            (int(3), int(-7)), // alg: ES256
            (int(-1), int(1)), // crv: P-256
            (int(-2), Cbor::Bytes(point.x().unwrap().to_vec())),
            (int(-3), Cbor::Bytes(point.y().unwrap().to_vec())),
        ]);
        let mut out = vec![];
        ciborium::into_writer(&key, &mut out).unwrap();
        out
    }

    /// Authenticator data: RP id hash, flags (user present, verified, attested data), counter,
    /// and at registration the credential and its public key.
    fn authenticator_data(&self, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let flags =
            0x01 | if self.user_verified { 0x04 } else { 0 } | if attested { 0x40 } else { 0 };
        data.push(flags);
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([0u8; 16]); // AAGUID: none given
            data.extend((self.credential_id.len() as u16).to_be_bytes());
            data.extend(&self.credential_id);
            data.extend(self.cose_key());
        }
        data
    }

    /// The RegistrationResponseJSON for creation options with `challenge`.
    pub fn register_for(&self, challenge: &str) -> Value {
        let client_data = self.client_data("webauthn.create", challenge);
        let text = |s: &str| Cbor::Text(s.into());
        let attestation = Cbor::Map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), Cbor::Map(vec![])),
            (text("authData"), Cbor::Bytes(self.authenticator_data(true))),
        ]);
        let mut object = vec![];
        ciborium::into_writer(&attestation, &mut object).unwrap();
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&object),
                "transports": ["usb"],
            },
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
        })
    }

    /// Answers `POST /v1/factors/webauthn`'s `options`.
    pub fn register(&self, options: &Value) -> Value {
        self.register_for(options["challenge"].as_str().expect("a challenge"))
    }

    /// The AuthenticationResponseJSON for request options with `challenge`, at the current
    /// counter.
    pub fn assertion_for(&self, challenge: &str) -> Value {
        let client_data = self.client_data("webauthn.get", challenge);
        let data = self.authenticator_data(false);
        let mut signed = data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = self.key.sign(&signed);
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&data),
                "signature": b64(signature.as_bytes()),
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers a login's `webauthn.options`: the counter moves on, then the key signs.
    pub fn sign(&mut self, options: &Value) -> Value {
        self.counter += 1;
        self.assertion_for(options["challenge"].as_str().expect("a challenge"))
    }
}
