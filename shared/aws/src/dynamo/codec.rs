//! Item codecs: each stored type to and from its DynamoDB item, with no network. A missing or
//! malformed attribute is a corrupt item (`internal`), never a panic.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use mfa_domain::clock::UnixTime;
use mfa_domain::error::{Error, Result};
use mfa_domain::events::{Action, SecurityEvent, OUTCOMES, RETENTION_SECS};
use mfa_domain::model::{
    Challenge, ChallengeStatus, Channel, Credential, Device, Factor, FactorStatus, KeyCeremony,
    KeyCredential, Method, OrgMember, OrgPolicy, PhoneCredential, Profile, Purpose, RegisteredKey,
    RememberPolicy, SelfReset, SelfResetStatus, Settings, StepUpLevel, StoredOrgPolicy,
    TotpCredential,
};
use mfa_domain::rules::TTL_GRACE_SECS;
use mfa_domain::types::{ChallengeId, DeviceId, Email, FactorId, OrgRole, UserId};

use super::keys::*;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::Internal(format!("stored item is malformed: {what}"))
}

pub(super) fn get_n(item: &Item, k: &str) -> Result<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(k))
}

pub(super) fn get_s<'a>(item: &'a Item, k: &str) -> Result<&'a str> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(k))
}

pub(super) fn get_b<'a>(item: &'a Item, k: &str) -> Result<&'a [u8]> {
    item.get(k)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
        .ok_or_else(|| corrupt(k))
}

/// A WebAuthn ceremony stored as `webauthn_state` and `webauthn_challenge`, if there is one.
fn ceremony_from(item: &Item) -> Result<Option<KeyCeremony>> {
    if !item.contains_key("webauthn_state") {
        return Ok(None);
    }
    Ok(Some(KeyCeremony {
        state: get_s(item, "webauthn_state")?.to_owned(),
        challenge: get_s(item, "webauthn_challenge")?.to_owned(),
    }))
}

fn ceremony_attributes(c: &KeyCeremony) -> [(String, AttributeValue); 2] {
    [
        ("webauthn_state".to_owned(), s(&c.state)),
        ("webauthn_challenge".to_owned(), s(&c.challenge)),
    ]
}

/// The attributes of a registered key (`credential_id`, `passkey`, `sign_count`, flags).
pub(super) fn key_attributes(k: &RegisteredKey) -> Vec<(&'static str, AttributeValue)> {
    vec![
        ("credential_id", s(&k.credential_id)),
        ("passkey", s(&k.passkey)),
        ("sign_count", n(k.counter)),
        ("user_verified", AttributeValue::Bool(k.user_verified)),
        ("backup_eligible", AttributeValue::Bool(k.backup_eligible)),
        ("backup_state", AttributeValue::Bool(k.backup_state)),
    ]
}

fn get_bool(item: &Item, k: &str) -> Result<bool> {
    item.get(k)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| corrupt(k))
}

fn key_from(item: &Item) -> Result<Option<RegisteredKey>> {
    if !item.contains_key("passkey") {
        return Ok(None);
    }
    Ok(Some(RegisteredKey {
        credential_id: get_s(item, "credential_id")?.to_owned(),
        passkey: get_s(item, "passkey")?.to_owned(),
        counter: u32::try_from(get_n(item, "sign_count")?).map_err(|_| corrupt("sign_count"))?,
        user_verified: get_bool(item, "user_verified")?,
        backup_eligible: get_bool(item, "backup_eligible")?,
        backup_state: get_bool(item, "backup_state")?,
    }))
}

pub(super) fn challenge_from(item: &Item, user: &UserId, purpose: Purpose) -> Result<Challenge> {
    Ok(Challenge {
        webauthn: ceremony_from(item)?,
        id: ChallengeId::parse(get_s(item, "challenge_id")?, "id").map_err(|_| corrupt("id"))?,
        user: user.clone(),
        purpose,
        code_hash: item
            .get("code_hash")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
        code_channel: item
            .get("code_channel")
            .and_then(|v| v.as_s().ok())
            .and_then(|c| Channel::parse(c)),
        methods: item
            .get("methods")
            .and_then(|v| v.as_s().ok())
            .map(|m| {
                m.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| Method::parse(x).ok_or_else(|| corrupt("methods")))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default(),
        attempts: get_n(item, "attempts")? as u32,
        max_attempts: get_n(item, "max_attempts")? as u32,
        status: match get_s(item, "status")? {
            "open" => ChallengeStatus::Open,
            "used" => ChallengeStatus::Used,
            _ => return Err(corrupt("status")),
        },
        created_at: get_n(item, "created_at")?,
        expires_at: get_n(item, "expires_at")?,
    })
}

pub(super) fn factor_item(f: &Factor) -> Item {
    let mut item = key(user_pk(&f.user), factor_sk(&f.id));
    item.extend([
        ("type".to_owned(), s("factor")),
        ("factor_id".to_owned(), s(f.id.as_ref())),
        ("kind".to_owned(), s(f.kind().as_str())),
        (
            "status".to_owned(),
            s(match f.status {
                FactorStatus::Pending => "pending",
                FactorStatus::Active => "active",
            }),
        ),
        ("created_at".to_owned(), n(f.created_at)),
        ("attempts".to_owned(), n(f.attempts)),
        ("max_attempts".to_owned(), n(f.max_attempts)),
    ]);
    let mut optional = vec![
        ("label", f.label.as_ref().map(|l| s(l.as_str()))),
        ("activated_at", f.activated_at.map(n)),
        ("expires_at", f.expires_at.map(n)),
        ("ttl", f.expires_at.map(|e| n(e + TTL_GRACE_SECS))),
        ("last_used_at", f.last_used_at.map(n)),
    ];
    match &f.credential {
        Credential::Totp(t) => optional.extend([
            ("secret", Some(b(&t.secret))),
            ("last_step", t.last_step.map(n)),
        ]),
        Credential::Phone(p) => optional.extend([
            ("phone", Some(b(&p.number))),
            ("channel", Some(s(p.channel.as_str()))),
            ("code_hash", p.code_hash.as_deref().map(b)),
            ("replaces", p.replaces.as_ref().map(|r| s(r.as_ref()))),
            ("phone_slot", p.slot.map(n)),
        ]),
        Credential::Webauthn(k) => {
            if let Some(c) = &k.ceremony {
                item.extend(ceremony_attributes(c));
            }
            if let Some(key) = &k.key {
                optional.extend(key_attributes(key).into_iter().map(|(k, v)| (k, Some(v))));
            }
        }
    }
    item.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    item
}

pub(super) fn factor_from(item: &Item, user: &UserId) -> Result<Factor> {
    let opt_n = |k: &str| item.contains_key(k).then(|| get_n(item, k)).transpose();
    let opt_b = |k: &str| item.contains_key(k).then(|| get_b(item, k)).transpose();
    let credential = match get_s(item, "kind")? {
        "totp" => Credential::Totp(TotpCredential {
            secret: get_b(item, "secret")?.to_vec(),
            last_step: opt_n("last_step")?,
        }),
        "phone" => Credential::Phone(PhoneCredential {
            number: get_b(item, "phone")?.to_vec(),
            channel: Channel::parse(get_s(item, "channel")?).ok_or_else(|| corrupt("channel"))?,
            code_hash: opt_b("code_hash")?.map(<[u8]>::to_vec),
            replaces: item
                .contains_key("replaces")
                .then(|| {
                    FactorId::parse(get_s(item, "replaces")?, "replaces")
                        .map_err(|_| corrupt("replaces"))
                })
                .transpose()?,
            slot: opt_n("phone_slot")?
                .map(|s| u8::try_from(s).map_err(|_| corrupt("phone_slot")))
                .transpose()?,
        }),
        "webauthn" => {
            let credential = KeyCredential {
                ceremony: ceremony_from(item)?,
                key: key_from(item)?,
            };
            if credential.ceremony.is_none() && credential.key.is_none() {
                return Err(corrupt("a security key with neither ceremony nor key"));
            }
            Credential::Webauthn(credential)
        }
        _ => return Err(corrupt("kind")),
    };
    Ok(Factor {
        id: FactorId::parse(get_s(item, "factor_id")?, "id").map_err(|_| corrupt("factor_id"))?,
        user: user.clone(),
        status: match get_s(item, "status")? {
            "pending" => FactorStatus::Pending,
            "active" => FactorStatus::Active,
            _ => return Err(corrupt("status")),
        },
        label: item.get("label").and_then(|v| v.as_s().ok()).cloned(),
        created_at: get_n(item, "created_at")?,
        activated_at: opt_n("activated_at")?,
        expires_at: opt_n("expires_at")?,
        attempts: get_n(item, "attempts")? as u32,
        max_attempts: get_n(item, "max_attempts")? as u32,
        last_used_at: opt_n("last_used_at")?,
        credential,
    })
}

pub(super) fn event_item(e: &SecurityEvent) -> Item {
    let mut item = key(user_pk(&e.target), event_sk(e.at, &e.id));
    item.extend([
        ("type".to_owned(), s("event")),
        ("event_id".to_owned(), s(&e.id)),
        ("actor".to_owned(), s(&e.actor)),
        ("target".to_owned(), s(e.target.as_ref())),
        ("action".to_owned(), s(e.action.as_str())),
        ("detail".to_owned(), s(&e.detail)),
        ("outcome".to_owned(), s(e.outcome)),
        ("at".to_owned(), n(e.at)),
        ("ttl".to_owned(), n(e.at + RETENTION_SECS)),
    ]);
    if let Some(ip) = &e.source_ip {
        item.insert("source_ip".into(), s(ip));
    }
    if let Some(ua) = &e.user_agent {
        item.insert("user_agent".into(), s(ua));
    }
    item
}

pub(super) fn event_from(item: &Item) -> Result<SecurityEvent> {
    let opt = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let outcome = get_s(item, "outcome")?;
    Ok(SecurityEvent {
        id: get_s(item, "event_id")?.to_owned(),
        target: UserId::parse(get_s(item, "target")?).map_err(|_| corrupt("target"))?,
        actor: get_s(item, "actor")?.to_owned(),
        action: Action::parse(get_s(item, "action")?).ok_or_else(|| corrupt("action"))?,
        detail: get_s(item, "detail")?.to_owned(),
        outcome: OUTCOMES
            .into_iter()
            .find(|o| *o == outcome)
            .ok_or_else(|| corrupt("outcome"))?,
        at: get_n(item, "at")?,
        source_ip: opt("source_ip"),
        user_agent: opt("user_agent"),
    })
}

pub(super) fn step_up_item(
    user: &UserId,
    token_hash: &str,
    level: StepUpLevel,
    expires_at: UnixTime,
) -> Item {
    let mut item = key(user_pk(user), format!("STEPUP#{token_hash}"));
    item.extend([
        ("type".to_owned(), s("step_up_token")),
        ("level".to_owned(), s(level.as_str())),
        ("expires_at".to_owned(), n(expires_at)),
        ("ttl".to_owned(), n(expires_at + TTL_GRACE_SECS)),
    ]);
    item
}

pub(super) fn device_item(d: &Device) -> Item {
    let mut item = key(user_pk(&d.user), device_sk(&d.token_hash));
    item.extend([
        ("type".to_owned(), s("device")),
        ("device_id".to_owned(), s(d.id.as_ref())),
        ("name".to_owned(), s(&d.name)),
        ("created_at".to_owned(), n(d.created_at)),
        ("last_used_at".to_owned(), n(d.last_used_at)),
        ("expires_at".to_owned(), n(d.expires_at)),
        ("ttl".to_owned(), n(d.expires_at + TTL_GRACE_SECS)),
    ]);
    item
}

pub(super) fn device_from(item: &Item, user: &UserId) -> Result<Device> {
    let sk = get_s(item, "sk")?;
    Ok(Device {
        id: DeviceId::parse(get_s(item, "device_id")?, "device_id")
            .map_err(|_| corrupt("device_id"))?,
        user: user.clone(),
        token_hash: sk
            .strip_prefix("DEVICE#")
            .ok_or_else(|| corrupt("sk"))?
            .to_owned(),
        name: get_s(item, "name")?.to_owned(),
        created_at: get_n(item, "created_at")?,
        last_used_at: get_n(item, "last_used_at")?,
        expires_at: get_n(item, "expires_at")?,
    })
}

pub(super) fn opt_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(super) fn profile_item(p: &Profile) -> Item {
    let mut item = key(user_pk(&p.user), PROFILE_SK.into());
    item.insert("type".into(), s("profile"));
    item.insert("updated_at".into(), n(p.updated_at));
    if let Some(e) = &p.email {
        item.insert("email".into(), s(e.as_ref()));
    }
    if let Some(o) = &p.org_id {
        item.insert("org_id".into(), s(o));
    }
    if let Some(r) = p.org_role {
        item.insert("org_role".into(), s(r.as_str()));
    }
    if p.org_indexed {
        item.insert("org_indexed".into(), AttributeValue::Bool(true));
    }
    item
}

/// A member's entry under their organisation.
pub(super) fn org_member_item(m: &OrgMember) -> Item {
    let mut item = key(org_pk(&m.org_id), member_sk(m.role, &m.user));
    item.insert("type".into(), s("org_member"));
    item.insert("user_id".into(), s(m.user.as_ref()));
    item.insert("org_role".into(), s(m.role.as_str()));
    if let Some(e) = &m.email {
        item.insert("email".into(), s(e.as_ref()));
    }
    item
}

pub(super) fn org_member_from(item: &Item, org_id: &str) -> Result<OrgMember> {
    Ok(OrgMember {
        org_id: org_id.to_owned(),
        user: UserId::parse(get_s(item, "user_id")?).map_err(|_| corrupt("user_id"))?,
        role: OrgRole::parse(get_s(item, "org_role")?).map_err(|_| corrupt("org_role"))?,
        email: opt_s(item, "email")
            .map(|e| Email::parse(e).map_err(|_| corrupt("email")))
            .transpose()?,
    })
}

/// An organisation's policy.
pub(super) fn org_policy_item(p: &StoredOrgPolicy) -> Item {
    let mut item = key(org_pk(&p.org_id), ORG_POLICY_SK.into());
    item.extend([
        ("type".to_owned(), s("org_policy")),
        ("org_id".to_owned(), s(&p.org_id)),
        (
            "require_mfa".to_owned(),
            AttributeValue::Bool(p.policy.require_mfa),
        ),
        ("allowed_methods".to_owned(), s(p.policy.method_list())),
        (
            "remember_device_max_days".to_owned(),
            n(p.policy.remember_device_max_days),
        ),
        ("updated_at".to_owned(), n(p.updated_at)),
        ("updated_by".to_owned(), s(p.updated_by.as_ref())),
    ]);
    item
}

pub(super) fn org_policy_from(item: &Item) -> Result<StoredOrgPolicy> {
    let methods = get_s(item, "allowed_methods")?
        .split(',')
        .map(|m| Method::parse(m).ok_or_else(|| corrupt("allowed_methods")))
        .collect::<Result<Vec<_>>>()?;
    let days = u16::try_from(get_n(item, "remember_device_max_days")?)
        .map_err(|_| corrupt("remember_device_max_days"))?;
    Ok(StoredOrgPolicy {
        org_id: get_s(item, "org_id")?.to_owned(),
        policy: OrgPolicy::new(get_bool(item, "require_mfa")?, &methods, days)
            .map_err(|_| corrupt("org policy"))?,
        updated_at: get_n(item, "updated_at")?,
        updated_by: UserId::parse(get_s(item, "updated_by")?).map_err(|_| corrupt("updated_by"))?,
    })
}

pub(super) fn profile_from(item: &Item, user: &UserId) -> Result<Profile> {
    Ok(Profile {
        user: user.clone(),
        email: opt_s(item, "email")
            .map(|e| Email::parse(e).map_err(|_| corrupt("email")))
            .transpose()?,
        org_id: opt_s(item, "org_id").map(str::to_owned),
        org_role: opt_s(item, "org_role")
            .map(|r| OrgRole::parse(r).map_err(|_| corrupt("org_role")))
            .transpose()?,
        updated_at: get_n(item, "updated_at")?,
        org_indexed: item.contains_key("org_indexed"),
    })
}

pub(super) fn self_reset_from(item: &Item, user: &UserId) -> Result<SelfReset> {
    Ok(SelfReset {
        user: user.clone(),
        request_id: ChallengeId::parse(get_s(item, "request_id")?, "request_id")
            .map_err(|_| corrupt("request_id"))?,
        status: SelfResetStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        confirmed_at: get_n(item, "confirmed_at")?,
        completes_at: get_n(item, "completes_at")?,
    })
}

pub(super) fn settings_from(item: &Item) -> Result<Settings> {
    Ok(Settings {
        remember: RememberPolicy::parse(get_s(item, "remember")?)
            .ok_or_else(|| corrupt("remember"))?,
        default_method: match item.get("default_method").and_then(|v| v.as_s().ok()) {
            Some(m) => Some(Method::parse(m).ok_or_else(|| corrupt("default_method"))?),
            None => None,
        },
    })
}

pub(super) fn challenge_item(c: &Challenge) -> Item {
    let mut item = key(user_pk(&c.user), challenge_sk(c.purpose, &c.id));
    item.extend([
        ("type".to_owned(), s("challenge")),
        ("challenge_id".to_owned(), s(c.id.as_ref())),
        ("purpose".to_owned(), s(c.purpose.as_str())),
        (
            "methods".to_owned(),
            s(c.methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(",")),
        ),
        ("attempts".to_owned(), n(c.attempts)),
        ("max_attempts".to_owned(), n(c.max_attempts)),
        (
            "status".to_owned(),
            s(match c.status {
                ChallengeStatus::Open => "open",
                ChallengeStatus::Used => "used",
            }),
        ),
        ("created_at".to_owned(), n(c.created_at)),
        ("expires_at".to_owned(), n(c.expires_at)),
        ("ttl".to_owned(), n(c.expires_at + TTL_GRACE_SECS)),
    ]);
    if let Some(h) = &c.code_hash {
        item.insert("code_hash".into(), b(h));
    }
    if let Some(ch) = c.code_channel {
        item.insert("code_channel".into(), s(ch.as_str()));
    }
    if let Some(ceremony) = &c.webauthn {
        item.extend(ceremony_attributes(ceremony));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::parse("user-1").unwrap()
    }

    fn totp_pending() -> Factor {
        Factor {
            id: FactorId::new(),
            user: user(),
            status: FactorStatus::Pending,
            label: Some("Phone".into()),
            created_at: 1_790_000_000,
            activated_at: None,
            expires_at: Some(1_790_000_600),
            attempts: 2,
            max_attempts: 5,
            last_used_at: None,
            credential: Credential::Totp(TotpCredential {
                secret: vec![1, 2, 3],
                last_step: None,
            }),
        }
    }

    #[test]
    fn a_factor_of_each_kind_round_trips_through_its_item() {
        let app = totp_pending();
        let used_app = Factor {
            status: FactorStatus::Active,
            last_used_at: Some(1_790_000_300),
            credential: Credential::Totp(TotpCredential {
                secret: vec![5; 40],
                last_step: Some(59_666_669),
            }),
            ..totp_pending()
        };
        let phone = Factor {
            id: FactorId::new(),
            status: FactorStatus::Active,
            label: None,
            activated_at: Some(1_790_000_100),
            expires_at: None,
            last_used_at: Some(1_790_000_400),
            credential: Credential::Phone(PhoneCredential {
                number: vec![9, 8, 7],
                channel: Channel::Voice,
                code_hash: Some(vec![4; 32]),
                replaces: Some(FactorId::new()),
                slot: Some(2),
            }),
            ..totp_pending()
        };
        let pending_key = Factor {
            id: FactorId::new(),
            credential: Credential::Webauthn(KeyCredential {
                ceremony: Some(KeyCeremony {
                    state: r#"{"rs":{}}"#.into(),
                    challenge: "Y2hhbGxlbmdl".into(),
                }),
                key: None,
            }),
            ..totp_pending()
        };
        let key = Factor {
            id: FactorId::new(),
            status: FactorStatus::Active,
            activated_at: Some(1_790_000_100),
            expires_at: None,
            credential: Credential::Webauthn(KeyCredential {
                ceremony: None,
                key: Some(RegisteredKey {
                    credential_id: "AAEC".into(),
                    passkey: r#"{"cred":{}}"#.into(),
                    counter: 7,
                    user_verified: true,
                    backup_eligible: true,
                    backup_state: false,
                }),
            }),
            last_used_at: Some(1_790_000_200),
            ..totp_pending()
        };
        for f in [app, used_app, phone, pending_key, key] {
            let item = factor_item(&f);
            assert_eq!(get_s(&item, "pk").unwrap(), "USER#user-1");
            let back = factor_from(&item, &user()).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn a_factor_without_its_kinds_payload_is_corrupt_not_a_panic() {
        let mut item = factor_item(&totp_pending());
        item.remove("secret");
        assert!(matches!(
            factor_from(&item, &user()),
            Err(Error::Internal(_))
        ));
        let mut item = factor_item(&totp_pending());
        item.insert("kind".into(), s("phone"));
        assert!(matches!(
            factor_from(&item, &user()),
            Err(Error::Internal(_))
        ));
        // A security key with neither its ceremony nor its key, or half a key.
        let mut item = factor_item(&totp_pending());
        item.insert("kind".into(), s("webauthn"));
        assert!(matches!(
            factor_from(&item, &user()),
            Err(Error::Internal(_))
        ));
        item.insert("passkey".into(), s("{}"));
        assert!(matches!(
            factor_from(&item, &user()),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn a_factors_debug_output_shows_no_sealed_value_or_code_hash() {
        let phone = Factor {
            credential: Credential::Phone(PhoneCredential {
                number: vec![0xAB; 8],
                channel: Channel::Sms,
                code_hash: Some(vec![0xCD; 32]),
                replaces: None,
                slot: None,
            }),
            ..totp_pending()
        };
        let shown = format!("{phone:?} {:?}", totp_pending());
        // Debug prints bytes as `[171, 171, ...]`; ids are random and may hold the digits.
        for bytes in ["171, 171", "205, 205", "[1, 2, 3]"] {
            assert!(!shown.contains(bytes), "{shown}");
        }
    }

    #[test]
    fn a_login_challenge_keeps_its_methods_in_order_and_the_channel_of_its_code() {
        let c = Challenge {
            id: ChallengeId::new(),
            user: user(),
            purpose: Purpose::Login,
            code_hash: Some(vec![7; 32]),
            code_channel: Some(Channel::Voice),
            methods: vec![
                Method::Webauthn,
                Method::Voice,
                Method::Totp,
                Method::RecoveryCode,
            ],
            webauthn: Some(KeyCeremony {
                state: r#"{"ast":{}}"#.into(),
                challenge: "Y2hhbGxlbmdl".into(),
            }),
            attempts: 1,
            max_attempts: 5,
            status: ChallengeStatus::Open,
            created_at: 100,
            expires_at: 700,
        };
        let item = challenge_item(&c);
        assert_eq!(get_n(&item, "ttl").unwrap(), 700 + TTL_GRACE_SECS);
        let back = challenge_from(&item, &user(), Purpose::Login).unwrap();
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
    }

    #[test]
    fn an_event_round_trips_and_is_kept_400_days() {
        let e = SecurityEvent {
            id: uuid::Uuid::now_v7().to_string(),
            target: user(),
            actor: "admin-1".into(),
            action: Action::MfaReset,
            detail: "by admin".into(),
            outcome: "failure",
            at: 1_790_000_000,
            source_ip: Some("192.0.2.1".into()),
            user_agent: None,
        };
        let item = event_item(&e);
        assert_eq!(get_n(&item, "ttl").unwrap() - e.at, 400 * 86_400);
        let back = event_from(&item).unwrap();
        assert_eq!(format!("{back:?}"), format!("{e:?}"));
    }

    #[test]
    fn a_device_round_trips_and_a_step_up_token_records_its_level() {
        let d = Device {
            id: DeviceId::new(),
            user: user(),
            token_hash: "ab".repeat(32),
            name: "Work laptop".into(),
            created_at: 10,
            last_used_at: 20,
            expires_at: 30,
        };
        let back = device_from(&device_item(&d), &user()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{d:?}"));
        let token = step_up_item(&user(), "cd", StepUpLevel::Factor, 900);
        assert_eq!(get_s(&token, "level").unwrap(), "factor");
        assert_eq!(get_s(&token, "sk").unwrap(), "STEPUP#cd");
    }

    #[test]
    fn a_malformed_item_is_an_internal_error_never_a_panic() {
        let mut item = factor_item(&totp_pending());
        item.insert("kind".into(), s("fax"));
        assert_eq!(factor_from(&item, &user()).unwrap_err().code(), "internal");
        item.remove("kind");
        assert_eq!(factor_from(&item, &user()).unwrap_err().code(), "internal");

        let mut item = challenge_item(&Challenge {
            id: ChallengeId::new(),
            user: user(),
            purpose: Purpose::Login,
            code_hash: None,
            code_channel: None,
            methods: vec![Method::Totp],
            webauthn: None,
            attempts: 0,
            max_attempts: 5,
            status: ChallengeStatus::Open,
            created_at: 1,
            expires_at: 2,
        });
        item.insert("methods".into(), s("totp,carrier_pigeon"));
        assert_eq!(
            challenge_from(&item, &user(), Purpose::Login)
                .unwrap_err()
                .code(),
            "internal"
        );
        item.insert("attempts".into(), s("one"));
        assert!(challenge_from(&item, &user(), Purpose::Login).is_err());

        let mut settings = key("USER#user-1".into(), SETTINGS_SK.into());
        settings.insert("remember".into(), s("sometimes"));
        assert_eq!(settings_from(&settings).unwrap_err().code(), "internal");
        settings.insert("remember".into(), s("every_login"));
        assert_eq!(
            settings_from(&settings).unwrap().remember,
            RememberPolicy::EveryLogin
        );
    }
}
