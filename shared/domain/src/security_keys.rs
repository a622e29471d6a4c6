//! Security keys and passkeys (WebAuthn) as a second factor. The ceremonies are webauthn-rs's
//! security-key (second-factor) ones: `userVerification: "preferred"` (the UV flag is read and
//! recorded, never required: the password is the other factor), attestation `none`, no
//! discoverable credential needed. Nothing here parses CBOR or COSE or checks a signature: the
//! library does. What this module adds is where the ceremony state lives (with the pending key
//! or the login challenge, consumed by one conditional write) and what is counted.

use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, PublicKeyCredential, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};

use crate::app::App;
use crate::crypto::DataKeys;
use crate::error::{Error, Result};
use crate::events::Action;
use crate::factors::{self, Activated, Activation};
use crate::identity::Caller;
use crate::model::{
    Change, Credential, Factor, FactorKind, KeyCeremony, KeyCredential, RegisteredKey,
};
use crate::rules::{CODE_TTL_SECS, MAX_SECURITY_KEYS, PENDING_FACTOR_TTL_SECS};
use crate::types::{FactorId, Label, UserId};

/// What the "add a security key" screen gets: the options to pass to
/// `PublicKeyCredential.parseCreationOptionsFromJSON` and `navigator.credentials.create`.
#[derive(Debug)]
pub struct KeyEnrollment {
    pub factor_id: FactorId,
    /// The `publicKey` member of `PublicKeyCredentialCreationOptions`, in the WebAuthn Level 3
    /// JSON form (binary fields base64url): the inner object, not wrapped.
    pub options: serde_json::Value,
    pub expires_in: i64,
}

/// The relying party from the configuration; security keys are refused without one.
fn relying_party(app: &App) -> Result<Webauthn> {
    let c =
        app.config.webauthn.as_ref().ok_or_else(|| {
            Error::Forbidden("security keys are not enabled on this service".into())
        })?;
    let misconfigured = |what: &str| Error::Internal(format!("WEBAUTHN configuration: {what}"));
    let origins = c
        .origins
        .iter()
        .map(|o| Url::parse(o).map_err(|_| misconfigured("an origin is not a URL")))
        .collect::<Result<Vec<_>>>()?;
    let (first, more) = origins
        .split_first()
        .ok_or_else(|| misconfigured("no origin"))?;
    let mut builder = WebauthnBuilder::new(&c.rp_id, first)
        .map_err(|_| misconfigured("an origin is not on the RP id's domain"))?
        .rp_name(&c.rp_name)
        .timeout(std::time::Duration::from_secs(CODE_TTL_SECS as u64));
    for o in more {
        builder = builder.append_allowed_origin(o);
    }
    builder
        .build()
        .map_err(|_| misconfigured("the relying party does not build"))
}

/// Whether this service offers security keys at all.
pub fn enabled(app: &App) -> bool {
    app.config.webauthn.is_some()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// The WebAuthn user handle: a keyed hash of the user id, so a key never carries the user's
/// id or address, and the same user always gets the same handle.
fn user_handle(keys: &DataKeys, user: &UserId) -> Uuid {
    let mac = keys.mac("webauthn-user-handle", &[user.as_ref().as_bytes()]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&mac[..16]);
    Uuid::from_bytes(bytes)
}

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("stored security key is malformed: {what}"))
}

/// The library's form of a registered key.
fn passkey_of(key: &RegisteredKey) -> Result<SecurityKey> {
    serde_json::from_str(&key.passkey).map_err(|_| corrupt("passkey"))
}

/// The registered key of an active security key factor.
fn registered(f: &Factor) -> Result<&RegisteredKey> {
    f.security_key()
        .and_then(|k| k.key.as_ref())
        .ok_or_else(|| corrupt("an active key without its credential"))
}

/// The user's active keys among `factors`.
fn active_keys(factors: &[Factor]) -> impl Iterator<Item = &Factor> {
    factors
        .iter()
        .filter(|f| f.kind() == FactorKind::Webauthn && f.is_active())
}

fn credential_ids(factors: &[Factor]) -> Result<Vec<CredentialID>> {
    active_keys(factors)
        .map(|f| Ok(passkey_of(registered(f)?)?.cred_id().clone()))
        .collect()
}

/// The challenge a response's `clientDataJSON` answers, if it is readable: a response to
/// another ceremony cannot be a guess at this one, so it is refused before anything counts.
fn answered_challenge(client_data_json: &[u8]) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct ClientData {
        challenge: String,
    }
    serde_json::from_slice::<ClientData>(client_data_json)
        .map(|c| c.challenge)
        .map_err(|_| Error::invalid("`credential.response.clientDataJSON` is not client data"))
}

fn same_ceremony(ceremony: &KeyCeremony, client_data_json: &[u8]) -> Result<()> {
    if crate::crypto::ct_eq(
        answered_challenge(client_data_json)?.as_bytes(),
        ceremony.challenge.as_bytes(),
    ) {
        Ok(())
    } else {
        Err(Error::invalid(
            "this credential answers another ceremony's challenge",
        ))
    }
}

fn options_of<T: serde::Serialize>(public_key: &T) -> Result<(serde_json::Value, String)> {
    let options = serde_json::to_value(public_key)
        .map_err(|e| Error::Internal(format!("WebAuthn options: {e}")))?;
    let challenge = options
        .get("challenge")
        .and_then(|c| c.as_str())
        .ok_or_else(|| Error::Internal("WebAuthn options without a challenge".into()))?
        .to_owned();
    Ok((options, challenge))
}

/// Takes webauthn-rs's `credProtect` request (`userVerificationRequired`, not enforced) out of
/// registration options. Chromium refuses any policy above `userVerificationOptional` for a
/// credential that is not discoverable ("Requested protection policy is inconsistent",
/// kanidm/webauthn-rs#490), so with it no Chrome or Edge user could register a key; the
/// browser test found it. The request was opportunistic (not enforced) and the ceremony never
/// depends on its output, so nothing the service checks changes.
fn without_cred_protect(options: &mut serde_json::Value) {
    if let Some(ext) = options
        .get_mut("extensions")
        .and_then(serde_json::Value::as_object_mut)
    {
        ext.remove("credentialProtectionPolicy");
        ext.remove("enforceCredentialProtectionPolicy");
    }
}

/// Starts adding a security key: a pending key holding the registration ceremony, which lapses
/// in 10 minutes unless verified. The user's keys are excluded, so a browser will not register
/// the same key twice.
pub async fn start(app: &App, caller: &Caller, label: Option<Label>) -> Result<KeyEnrollment> {
    let rp = relying_party(app)?;
    let keys = app.keys().await?;
    let now = app.clock.now();
    let factors = app.store.list_factors(&caller.user).await?;
    let live = factors
        .iter()
        .filter(|f| f.kind() == FactorKind::Webauthn && f.is_live(now))
        .count();
    if live >= MAX_SECURITY_KEYS {
        return Err(Error::Conflict(format!(
            "at most {MAX_SECURITY_KEYS} security keys; remove one first"
        )));
    }
    let name = caller.display_name();
    let (ccr, state) = rp
        .start_securitykey_registration(
            user_handle(keys, &caller.user),
            &name,
            &name,
            Some(credential_ids(&factors)?),
            None,
            None,
        )
        .map_err(|e| Error::Internal(format!("WebAuthn registration options: {e}")))?;
    let (mut options, challenge) = options_of(&ccr.public_key)?;
    without_cred_protect(&mut options);
    let state = serde_json::to_string(&state)
        .map_err(|e| Error::Internal(format!("WebAuthn registration state: {e}")))?;
    let id = FactorId::new();
    let credential = Credential::Webauthn(KeyCredential {
        ceremony: Some(KeyCeremony { state, challenge }),
        key: None,
    });
    factors::put_pending(app, caller, &id, label, "Security key", credential).await?;
    Ok(KeyEnrollment {
        factor_id: id,
        options,
        expires_in: PENDING_FACTOR_TTL_SECS,
    })
}

/// A registration response (`credential.toJSON()` of `navigator.credentials.create`).
pub fn parse_registration(v: serde_json::Value) -> Result<RegisterPublicKeyCredential> {
    serde_json::from_value(v).map_err(|_| {
        Error::invalid("`credential` is not a RegistrationResponseJSON (credential.toJSON())")
    })
}

/// An authentication response (`credential.toJSON()` of `navigator.credentials.get`).
pub fn parse_authentication(v: serde_json::Value) -> Result<PublicKeyCredential> {
    serde_json::from_value(v).map_err(|_| {
        Error::invalid("`credential` is not an AuthenticationResponseJSON (credential.toJSON())")
    })
}

/// What a refusal by the library means for the caller.
enum Refusal {
    /// The response does not parse (CBOR, base64, client data, a COSE key), or answers
    /// another ceremony: bad input, not a guess, so nothing is counted.
    Malformed,
    /// A key the ceremony excluded (already registered to the user).
    Excluded,
    /// It parsed and did not verify (signature, origin, RP id, flags): counted.
    Counted,
}

fn refusal_of(e: &WebauthnError) -> Refusal {
    use WebauthnError as E;
    match e {
        E::ParseBase64Failure(_)
        | E::ParseCBORFailure(_)
        | E::ParseJSONFailure(_)
        | E::ParseNOMFailure
        | E::ParseInsufficientBytesAvailable
        | E::COSEKeyInvalidCBORValue
        | E::COSEKeyInvalidType
        | E::InvalidClientDataType
        | E::MismatchedChallenge => Refusal::Malformed,
        E::CredentialExcludedFromRequest | E::CredentialAlreadyExists => Refusal::Excluded,
        _ => Refusal::Counted,
    }
}

fn malformed(e: &WebauthnError) -> Error {
    tracing::info!(error = %e, "a security key's response does not parse");
    Error::invalid("`credential` does not parse as a WebAuthn response for this ceremony")
}

fn already_registered() -> Error {
    Error::Conflict("this security key is already registered".into())
}

/// A counted wrong try on a pending key, as a key's error.
pub(crate) fn as_key_error(e: Error) -> Error {
    match e {
        Error::InvalidCode { attempts_remaining } => {
            Error::InvalidCredential { attempts_remaining }
        }
        other => other,
    }
}

/// Verifies a pending key with the browser's registration response ("verify and save"). A
/// response for another ceremony is refused without a try; one that does not verify (origin,
/// RP id, signature, attestation) uses a try of the pending key.
pub async fn verify(
    app: &App,
    caller: &Caller,
    id: &FactorId,
    response: &RegisterPublicKeyCredential,
) -> Result<Activated> {
    crate::metrics::verification(async {
        let rp = relying_party(app)?;
        let f = factors::triable(app, &caller.user, id, FactorKind::Webauthn).await?;
        let ceremony = f
            .security_key()
            .and_then(|k| k.ceremony.as_ref())
            .ok_or_else(|| corrupt("a pending key without its ceremony"))?;
        same_ceremony(ceremony, response.response.client_data_json.as_ref())?;
        let state: SecurityKeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(|_| corrupt("ceremony"))?;
        // A key the user has already: a conflict, not a try (webauthn-rs refuses an excluded
        // key with the error of an altered algorithm, which is counted, so it is told here by
        // the response's id; the id the key attests is checked again below).
        let factors = app.store.list_factors(&caller.user).await?;
        let is_registered = |id: &str| -> Result<bool> {
            for other in active_keys(&factors) {
                if registered(other)?.credential_id == id {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        if is_registered(&b64(&response.raw_id))? {
            return Err(already_registered());
        }
        let key = match rp.finish_securitykey_registration(response, &state) {
            Ok(key) => key,
            Err(e) => match refusal_of(&e) {
                Refusal::Malformed => return Err(malformed(&e)),
                Refusal::Excluded => return Err(already_registered()),
                Refusal::Counted => {
                    tracing::info!(error = %e, "a security key's registration did not verify");
                    return Err(as_key_error(factors::count_wrong_try(app, &f).await?));
                }
            },
        };
        let credential_id = b64(key.cred_id().as_ref());
        if is_registered(&credential_id)? {
            return Err(already_registered());
        }
        let registered = registered_key(&key, credential_id)?;
        let how = Activation {
            action: Action::FactorAdded,
            detail: factors::describe(&f, None),
            extra: vec![],
            key: Some(registered),
            phone_slot: None,
        };
        factors::activate(app, caller, f, None, how).await
    })
    .await
}

/// What is stored of a key the library registered.
fn registered_key(key: &SecurityKey, credential_id: String) -> Result<RegisteredKey> {
    let passkey =
        serde_json::to_string(key).map_err(|e| Error::Internal(format!("security key: {e}")))?;
    let cred: webauthn_rs::prelude::Credential = key.clone().into();
    Ok(RegisteredKey {
        credential_id,
        passkey,
        counter: cred.counter,
        user_verified: cred.user_verified,
        backup_eligible: cred.backup_eligible,
        backup_state: cred.backup_state,
    })
}

/// A login's WebAuthn ceremony over the user's active keys among `factors`: the options to
/// hand out (`PublicKeyCredentialRequestOptions` JSON, `allowCredentials` = those keys) and
/// what the challenge keeps. `None` when the service offers no keys.
pub fn login_ceremony(
    app: &App,
    factors: &[Factor],
) -> Result<Option<(serde_json::Value, KeyCeremony)>> {
    if !enabled(app) {
        return Ok(None);
    }
    let rp = relying_party(app)?;
    let passkeys = active_keys(factors)
        .map(|f| passkey_of(registered(f)?))
        .collect::<Result<Vec<_>>>()?;
    if passkeys.is_empty() {
        return Ok(None);
    }
    let (rcr, state) = rp
        .start_securitykey_authentication(&passkeys)
        .map_err(|e| Error::Internal(format!("WebAuthn request options: {e}")))?;
    let (options, challenge) = options_of(&rcr.public_key)?;
    let state = serde_json::to_string(&state)
        .map_err(|e| Error::Internal(format!("WebAuthn authentication state: {e}")))?;
    Ok(Some((options, KeyCeremony { state, challenge })))
}

/// How a login's security key response came out.
pub enum KeyCheck {
    /// It verified: the write that records the key's use (conditional on its counter).
    Right(Box<Change>),
    /// It did not verify (signature, origin, RP id, a key not allowed): a wrong guess.
    Wrong,
    /// It verified but the key's signature counter did not move forward: a cloned key. The
    /// factor is the key.
    Cloned(Box<Factor>),
}

/// Refuses a response for another ceremony than `ceremony` before anything is counted.
pub fn check_ceremony(ceremony: &KeyCeremony, response: &PublicKeyCredential) -> Result<()> {
    same_ceremony(ceremony, response.response.client_data_json.as_ref())
}

/// Checks a login's response against its ceremony and the user's active keys `keys`,
/// writing nothing. A response that does not parse is bad input (`invalid_request`).
pub fn check_login(
    app: &App,
    ceremony: &KeyCeremony,
    keys: &[Factor],
    response: &PublicKeyCredential,
) -> Result<KeyCheck> {
    let rp = relying_party(app)?;
    let state: SecurityKeyAuthentication =
        serde_json::from_str(&ceremony.state).map_err(|_| corrupt("login ceremony"))?;
    let presented = b64(response.get_credential_id());
    let key = active_keys(keys)
        .map(|f| Ok((f, registered(f)?)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .find(|(_, k)| k.credential_id == presented);
    let result = match rp.finish_securitykey_authentication(response, &state) {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return Ok(match key {
                Some((f, _)) => KeyCheck::Cloned(Box::new(f.clone())),
                None => KeyCheck::Wrong,
            })
        }
        Err(e) => match refusal_of(&e) {
            Refusal::Malformed => return Err(malformed(&e)),
            Refusal::Excluded | Refusal::Counted => {
                tracing::info!(error = %e, "a security key's login response did not verify");
                return Ok(KeyCheck::Wrong);
            }
        },
    };
    // A key removed since the login started verifies against the ceremony, but not any more.
    let Some((f, stored)) = key else {
        return Ok(KeyCheck::Wrong);
    };
    Ok(KeyCheck::Right(Box::new(use_of(app, f, stored, &result)?)))
}

fn use_of(
    app: &App,
    f: &Factor,
    stored: &RegisteredKey,
    result: &AuthenticationResult,
) -> Result<Change> {
    let mut passkey = passkey_of(stored)?;
    passkey.update_credential(result);
    Ok(Change::UseKey {
        user: f.user.clone(),
        id: f.id.clone(),
        passkey: serde_json::to_string(&passkey)
            .map_err(|e| Error::Internal(format!("security key: {e}")))?,
        counter: result.counter(),
        backup_state: result.backup_state(),
        now: app.clock.now(),
    })
}
