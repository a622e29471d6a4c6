//! The single-table store (see docs/table-design.md). Every rule that must hold under
//! concurrency is a condition on one write.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use super::dependency;
use mfa_domain::clock::UnixTime;
use mfa_domain::error::{Error, Result};
use mfa_domain::events::{Action, EventCursor, SecurityEvent, OUTCOMES, RETENTION_SECS};
use mfa_domain::ports::Method;
use mfa_domain::ports::{
    Attempt, Challenge, ChallengeStatus, Change, Channel, Commit, Device, EventPage, Factor,
    FactorKind, FactorStatus, PhoneCode, Profile, Purpose, RecoveryRecord, RememberPolicy,
    ResetMarker, SelfReset, SelfResetStatus, Settings, StepUpLevel, Store,
};
use mfa_domain::rules::{SendLimit, DEVICE_IDLE_SECS, TTL_GRACE_SECS};
use mfa_domain::types::{ChallengeId, DeviceId, Email, FactorId, OrgRole, UserId};

type Item = HashMap<String, AttributeValue>;

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{}", user.as_ref())
}
fn challenge_sk(purpose: Purpose, id: &ChallengeId) -> String {
    format!("CHALLENGE#{}#{}", purpose.as_str(), id.as_ref())
}
fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}
const DATA_KEY_PK: &str = "CONFIG";
const DATA_KEY_SK: &str = "DATA_KEY#v1";

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("stored item is malformed: {what}"))
}
fn get_n(item: &Item, k: &str) -> Result<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(k))
}
fn get_s<'a>(item: &'a Item, k: &str) -> Result<&'a str> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(k))
}
fn get_b<'a>(item: &'a Item, k: &str) -> Result<&'a [u8]> {
    item.get(k)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
        .ok_or_else(|| corrupt(k))
}

fn challenge_from(item: &Item, user: &UserId, purpose: Purpose) -> Result<Challenge> {
    Ok(Challenge {
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

fn factor_sk(id: &FactorId) -> String {
    format!("FACTOR#{}", id.as_ref())
}
const RECOVERY_SK: &str = "RECOVERY";
/// The guard that holds the id of the user's one phone factor.
const PHONE_SK: &str = "PHONE";
/// Consecutive login failures and the lock.
const LOGIN_GUARD_SK: &str = "LOGIN_GUARD";

fn factor_item(f: &Factor) -> Item {
    let mut item = key(user_pk(&f.user), factor_sk(&f.id));
    item.extend([
        ("type".to_owned(), s("factor")),
        ("factor_id".to_owned(), s(f.id.as_ref())),
        ("kind".to_owned(), s(f.kind.as_str())),
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
    let optional = [
        ("label", f.label.as_ref().map(|l| s(l.as_str()))),
        ("activated_at", f.activated_at.map(n)),
        ("expires_at", f.expires_at.map(n)),
        ("ttl", f.expires_at.map(|e| n(e + TTL_GRACE_SECS))),
        ("secret", f.secret.as_deref().map(b)),
        ("last_step", f.last_step.map(n)),
        ("phone", f.phone.as_deref().map(b)),
        ("channel", f.channel.map(|c| s(c.as_str()))),
        ("code_hash", f.code_hash.as_deref().map(b)),
    ];
    item.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    item
}

fn factor_from(item: &Item, user: &UserId) -> Result<Factor> {
    let opt_n = |k: &str| item.contains_key(k).then(|| get_n(item, k)).transpose();
    Ok(Factor {
        id: FactorId::parse(get_s(item, "factor_id")?, "id").map_err(|_| corrupt("factor_id"))?,
        user: user.clone(),
        kind: match get_s(item, "kind")? {
            "totp" => FactorKind::Totp,
            "phone" => FactorKind::Phone,
            _ => return Err(corrupt("kind")),
        },
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
        secret: item
            .get("secret")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
        last_step: opt_n("last_step")?,
        phone: item
            .get("phone")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
        channel: match item
            .get("channel")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
        {
            None => None,
            Some("sms") => Some(Channel::Sms),
            Some("voice") => Some(Channel::Voice),
            Some(_) => return Err(corrupt("channel")),
        },
        code_hash: item
            .get("code_hash")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
    })
}

fn event_item(e: &SecurityEvent) -> Item {
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

fn event_sk(at: UnixTime, id: &str) -> String {
    format!("EVENT#{at:012}#{id}")
}

fn event_from(item: &Item) -> Result<SecurityEvent> {
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

fn step_up_item(user: &UserId, token_hash: &str, level: StepUpLevel, expires_at: UnixTime) -> Item {
    let mut item = key(user_pk(user), format!("STEPUP#{token_hash}"));
    item.extend([
        ("type".to_owned(), s("step_up_token")),
        ("level".to_owned(), s(level.as_str())),
        ("expires_at".to_owned(), n(expires_at)),
        ("ttl".to_owned(), n(expires_at + TTL_GRACE_SECS)),
    ]);
    item
}

fn device_sk(token_hash: &str) -> String {
    format!("DEVICE#{token_hash}")
}

fn device_item(d: &Device) -> Item {
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

fn device_from(item: &Item, user: &UserId) -> Result<Device> {
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

const SETTINGS_SK: &str = "SETTINGS";
const PROFILE_SK: &str = "PROFILE";
const RESET_SK: &str = "RESET";
const SELF_RESET_SK: &str = "SELF_RESET";

fn opt_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn profile_from(item: &Item, user: &UserId) -> Result<Profile> {
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
    })
}

fn self_reset_from(item: &Item, user: &UserId) -> Result<SelfReset> {
    Ok(SelfReset {
        user: user.clone(),
        request_id: ChallengeId::parse(get_s(item, "request_id")?, "request_id")
            .map_err(|_| corrupt("request_id"))?,
        status: SelfResetStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        confirmed_at: get_n(item, "confirmed_at")?,
        completes_at: get_n(item, "completes_at")?,
    })
}

fn settings_from(item: &Item) -> Result<Settings> {
    Ok(Settings {
        remember: RememberPolicy::parse(get_s(item, "remember")?)
            .ok_or_else(|| corrupt("remember"))?,
        default_method: match item.get("default_method").and_then(|v| v.as_s().ok()) {
            Some(m) => Some(Method::parse(m).ok_or_else(|| corrupt("default_method"))?),
            None => None,
        },
    })
}

fn build<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| Error::Internal(format!("dynamodb request: {e}")))
}

/// True when an SDK error is a failed condition (the write was refused, not broken).
fn condition_failed<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// `Ok(true)` if a conditional write applied, `Ok(false)` if its condition refused it.
fn applied<T, E>(res: std::result::Result<T, SdkError<E>>) -> Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(dependency("dynamodb", e)),
    }
}

impl DynamoStore {
    /// A strongly consistent read of one item.
    async fn get(&self, key: Item) -> Result<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dependency("dynamodb", e))?
            .item)
    }

    /// Counts one try on an item whose `status` is `open_status`, unexpired at `now`, with tries
    /// left; a refusal returns the item as it is, to say why.
    async fn count_attempt_on(
        &self,
        k: Item,
        open_status: &str,
        now: UnixTime,
    ) -> Result<Attempt<Item>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k.clone()))
            .update_expression("ADD attempts :one")
            .condition_expression(
                "attribute_exists(pk) AND #status = :open AND attempts < max_attempts AND expires_at > :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":open", s(open_status))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Attempt::Counted(
                out.attributes
                    .ok_or_else(|| corrupt("no attributes returned"))?,
            )),
            Err(e) if condition_failed(&e) => {
                let old = match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                // Engines that do not return the item on a failed condition: read it.
                let old = match old {
                    Some(i) => Some(i),
                    None => self.get(k).await?,
                };
                Ok(old.map(Attempt::Refused).unwrap_or(Attempt::Missing))
            }
            Err(e) => Err(dependency("dynamodb", e)),
        }
    }

    /// The transaction item for one change.
    fn transact_item(&self, change: &Change) -> Result<TransactWriteItem> {
        let put = |item: Item, cond: Option<&str>| -> Result<TransactWriteItem> {
            let p = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(cond.map(str::to_owned));
            Ok(TransactWriteItem::builder().put(build(p.build())?).build())
        };
        // An unconditional delete (nothing to do if the item is already gone).
        let delete = |k: Item| -> Result<TransactWriteItem> {
            let d = Delete::builder().table_name(&self.table).set_key(Some(k));
            Ok(TransactWriteItem::builder()
                .delete(build(d.build())?)
                .build())
        };
        match change {
            Change::PutFactor(f) => put(factor_item(f), Some("attribute_not_exists(pk)")),
            Change::PutEvent(e) => put(event_item(e), Some("attribute_not_exists(pk)")),
            Change::PutRecovery {
                user,
                record,
                only_if_absent,
            } => {
                let mut item = key(user_pk(user), RECOVERY_SK.into());
                item.insert("type".into(), s("recovery_code"));
                item.insert("code_hash".into(), b(&record.hash));
                item.insert("created_at".into(), n(record.created_at));
                put(item, only_if_absent.then_some("attribute_not_exists(pk)"))
            }
            Change::DeleteFactor { user, id } => {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), factor_sk(id))))
                    .condition_expression("attribute_exists(pk)");
                Ok(TransactWriteItem::builder()
                    .delete(build(d.build())?)
                    .build())
            }
            Change::PutDevice(d) => put(device_item(d), Some("attribute_not_exists(pk)")),
            Change::DeleteDevice { user, token_hash } => {
                delete(key(user_pk(user), device_sk(token_hash)))
            }
            Change::PutSettings { user, settings } => {
                let mut item = key(user_pk(user), SETTINGS_SK.into());
                item.insert("type".into(), s("settings"));
                item.insert("remember".into(), s(settings.remember.as_str()));
                if let Some(m) = settings.default_method {
                    item.insert("default_method".into(), s(m.as_str()));
                }
                put(item, None)
            }
            Change::DeleteChallenge { user, purpose, id } => {
                delete(key(user_pk(user), challenge_sk(*purpose, id)))
            }
            Change::DeleteStepUpToken { user, token_hash } => {
                delete(key(user_pk(user), format!("STEPUP#{token_hash}")))
            }
            Change::PutStepUpToken {
                user,
                token_hash,
                level,
                expires_at,
            } => put(
                step_up_item(user, token_hash, *level, *expires_at),
                Some("attribute_not_exists(pk)"),
            ),
            Change::ConsumeChallenge { user, purpose, id } => {
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), challenge_sk(*purpose, id))))
                    .update_expression("SET #status = :used")
                    .condition_expression("#status = :open")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":used", s("used"))
                    .expression_attribute_values(":open", s("open"));
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            }
            Change::AcceptTotpStep { user, id, step } => {
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), factor_sk(id))))
                    .update_expression("SET last_step = :step")
                    .condition_expression(
                        "#status = :active AND (attribute_not_exists(last_step) OR last_step < :step)",
                    )
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":active", s("active"))
                    .expression_attribute_values(":step", n(*step));
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            }
            Change::SwapRecovery {
                user,
                old_hash,
                new,
            } => {
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), RECOVERY_SK.into())))
                    .update_expression("SET code_hash = :new, created_at = :created")
                    .condition_expression("code_hash = :old")
                    .expression_attribute_values(":new", b(&new.hash))
                    .expression_attribute_values(":old", b(old_hash))
                    .expression_attribute_values(":created", n(new.created_at));
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            }
            Change::ConsumeRecovery { user, old_hash } => {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), RECOVERY_SK.into())))
                    .condition_expression("code_hash = :old")
                    .expression_attribute_values(":old", b(old_hash));
                Ok(TransactWriteItem::builder()
                    .delete(build(d.build())?)
                    .build())
            }
            Change::ResetLoginFailures { user } => {
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), LOGIN_GUARD_SK.into())))
                    .update_expression("SET consecutive_failures = :zero, #type = :type")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":type", s("login_guard"));
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            }
            Change::DeleteLoginGuard { user } => delete(key(user_pk(user), LOGIN_GUARD_SK.into())),
            Change::DeleteLimit { scope, limit } => {
                delete(key(scope.clone(), format!("LIMIT#{}", limit.name)))
            }
            Change::DeleteResetMarker { user } => delete(key(user_pk(user), RESET_SK.into())),
            Change::PutResetMarker { user, marker } => {
                let mut item = key(user_pk(user), RESET_SK.into());
                item.insert("type".into(), s("reset_marker"));
                item.insert("reset_at".into(), n(marker.reset_at));
                item.insert("by".into(), s(&marker.by));
                put(item, None)
            }
            Change::PutSelfReset(r) => {
                let mut item = key(user_pk(&r.user), SELF_RESET_SK.into());
                item.extend([
                    ("type".to_owned(), s("self_reset")),
                    ("request_id".to_owned(), s(r.request_id.as_ref())),
                    ("status".to_owned(), s(r.status.as_str())),
                    ("confirmed_at".to_owned(), n(r.confirmed_at)),
                    ("completes_at".to_owned(), n(r.completes_at)),
                ]);
                let p = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk) OR #status <> :waiting")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":waiting", s(SelfResetStatus::Waiting.as_str()));
                Ok(TransactWriteItem::builder().put(build(p.build())?).build())
            }
            Change::EndSelfReset {
                user,
                request_id,
                to,
                due_at,
            } => {
                let mut cond = "request_id = :id AND #status = :waiting".to_owned();
                let mut u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), SELF_RESET_SK.into())))
                    .update_expression("SET #status = :to")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":id", s(request_id.as_ref()))
                    .expression_attribute_values(":waiting", s(SelfResetStatus::Waiting.as_str()))
                    .expression_attribute_values(":to", s(to.as_str()));
                if let Some(due) = due_at {
                    cond.push_str(" AND completes_at <= :due");
                    u = u.expression_attribute_values(":due", n(*due));
                }
                Ok(TransactWriteItem::builder()
                    .update(build(u.condition_expression(cond).build())?)
                    .build())
            }
            Change::DeleteRecovery { user } => delete(key(user_pk(user), RECOVERY_SK.into())),
            Change::ClaimPhone {
                user,
                id,
                replacing,
            } => {
                let mut item = key(user_pk(user), PHONE_SK.into());
                item.insert("type".into(), s("phone_guard"));
                item.insert("factor_id".into(), s(id.as_ref()));
                let mut p = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(match replacing {
                        Some(_) => "attribute_not_exists(pk) OR factor_id = :replacing",
                        None => "attribute_not_exists(pk)",
                    });
                if let Some(r) = replacing {
                    p = p.expression_attribute_values(":replacing", s(r.as_ref()));
                }
                Ok(TransactWriteItem::builder().put(build(p.build())?).build())
            }
            Change::ReleasePhone { user, id } => {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), PHONE_SK.into())))
                    .condition_expression("attribute_not_exists(pk) OR factor_id = :id")
                    .expression_attribute_values(":id", s(id.as_ref()));
                Ok(TransactWriteItem::builder()
                    .delete(build(d.build())?)
                    .build())
            }
            Change::ActivateFactor {
                user,
                id,
                step,
                now,
            } => {
                let mut u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), factor_sk(id))))
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":active", s("active"))
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":now", n(*now));
                let (set, cond) = match step {
                    Some(step) => {
                        u = u.expression_attribute_values(":step", n(*step));
                        (
                            ", last_step = :step",
                            " AND (attribute_not_exists(last_step) OR last_step < :step)",
                        )
                    }
                    None => ("", ""),
                };
                u = u
                    .update_expression(format!(
                        "SET #status = :active, activated_at = :now{set} REMOVE expires_at, #ttl"
                    ))
                    .condition_expression(format!(
                        "#status = :pending AND expires_at > :now{cond}"
                    ));
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            }
        }
    }

    /// Every item of the user whose sort key starts with `prefix` (strongly consistent).
    async fn query_prefix(&self, user: &UserId, prefix: &str) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(user)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dependency("dynamodb", e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Writes a new item; `false` if one with that key already exists.
    async fn put_new(&self, item: Item) -> Result<bool> {
        applied(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        )
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_data_key(&self) -> Result<Option<Vec<u8>>> {
        self.get(key(DATA_KEY_PK.into(), DATA_KEY_SK.into()))
            .await?
            .map(|i| get_b(&i, "ciphertext").map(<[u8]>::to_vec))
            .transpose()
    }

    async fn put_data_key_if_absent(&self, ciphertext: &[u8], now: UnixTime) -> Result<bool> {
        let mut item = key(DATA_KEY_PK.into(), DATA_KEY_SK.into());
        item.insert("type".into(), s("data_key"));
        item.insert("ciphertext".into(), b(ciphertext));
        item.insert("created_at".into(), n(now));
        self.put_new(item).await
    }

    async fn limit_slots(&self, scope: &str, limit: &SendLimit) -> Result<Vec<Option<i64>>> {
        let item = self
            .get(key(scope.into(), format!("LIMIT#{}", limit.name)))
            .await?
            .unwrap_or_default();
        Ok((0..limit.max)
            .map(|i| get_n(&item, &format!("s{i}")).ok())
            .collect())
    }

    async fn take_limit_slot(
        &self,
        scope: &str,
        limit: &SendLimit,
        slot: usize,
        seen: Option<i64>,
        now: UnixTime,
    ) -> Result<bool> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(scope.into(), format!("LIMIT#{}", limit.name))))
            .update_expression("SET #slot = :now, #ttl = :ttl, #type = :type")
            .expression_attribute_names("#slot", format!("s{slot}"))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":type", s("send_limit"))
            .expression_attribute_values(":ttl", n(now + limit.window_secs + TTL_GRACE_SECS));
        let req = match seen {
            None => req.condition_expression("attribute_not_exists(#slot)"),
            Some(v) => req
                .condition_expression("#slot = :seen")
                .expression_attribute_values(":seen", n(v)),
        };
        applied(req.send().await)
    }

    async fn release_limit_slot(
        &self,
        scope: &str,
        limit: &SendLimit,
        slot: usize,
        taken_at: UnixTime,
        restore: Option<i64>,
    ) -> Result<()> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(scope.into(), format!("LIMIT#{}", limit.name))))
            .condition_expression("#slot = :mine")
            .expression_attribute_names("#slot", format!("s{slot}"))
            .expression_attribute_values(":mine", n(taken_at));
        let req = match restore {
            None => req.update_expression("REMOVE #slot"),
            Some(v) => req
                .update_expression("SET #slot = :restore")
                .expression_attribute_values(":restore", n(v)),
        };
        // A refused condition means someone else holds the slot now: ours is already gone.
        applied(req.send().await).map(|_| ())
    }

    async fn put_challenge(&self, c: &Challenge) -> Result<()> {
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
        created(self.put_new(item).await?)
    }

    async fn set_challenge_code(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
        code: Option<(&[u8], Channel)>,
        expect: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), challenge_sk(purpose, id))))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":now", n(now));
        req = match code {
            Some((hash, channel)) => req
                .update_expression("SET code_hash = :h, code_channel = :c")
                .expression_attribute_values(":h", b(hash))
                .expression_attribute_values(":c", s(channel.as_str())),
            None => req.update_expression("REMOVE code_hash, code_channel"),
        };
        let open = "#status = :open AND expires_at > :now AND attempts < max_attempts";
        req = match expect {
            Some(old) => req
                .condition_expression(format!("{open} AND code_hash = :expect"))
                .expression_attribute_values(":expect", b(old)),
            None => req.condition_expression(format!("{open} AND attribute_not_exists(code_hash)")),
        };
        applied(req.send().await)
    }

    async fn get_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<Option<Challenge>> {
        self.get(key(user_pk(user), challenge_sk(purpose, id)))
            .await?
            .map(|i| challenge_from(&i, user, purpose))
            .transpose()
    }

    async fn release_attempt(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<()> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), challenge_sk(purpose, id))))
                .update_expression("ADD attempts :minus_one")
                .condition_expression("#status = :open AND attempts > :zero")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":minus_one", n(-1))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":open", s("open"))
                .send()
                .await,
        )
        .map(|_| ())
    }

    async fn delete_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), challenge_sk(purpose, id))))
            .send()
            .await
            .map_err(|e| dependency("dynamodb", e))?;
        Ok(())
    }

    async fn count_attempt(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
        now: UnixTime,
    ) -> Result<Attempt> {
        Ok(
            match self
                .count_attempt_on(key(user_pk(user), challenge_sk(purpose, id)), "open", now)
                .await?
            {
                Attempt::Counted(i) => Attempt::Counted(challenge_from(&i, user, purpose)?),
                Attempt::Refused(i) => Attempt::Refused(challenge_from(&i, user, purpose)?),
                Attempt::Missing => Attempt::Missing,
            },
        )
    }

    async fn get_step_up_token(
        &self,
        user: &UserId,
        token_hash: &str,
    ) -> Result<Option<(UnixTime, StepUpLevel)>> {
        self.get(key(user_pk(user), format!("STEPUP#{token_hash}")))
            .await?
            .map(|i| {
                // A token from before levels existed proved the mailbox only.
                let level = opt_s(&i, "level")
                    .and_then(StepUpLevel::parse)
                    .unwrap_or(StepUpLevel::Email);
                Ok((get_n(&i, "expires_at")?, level))
            })
            .transpose()
    }

    async fn commit(&self, changes: &[Change]) -> Result<Commit> {
        let items = changes
            .iter()
            .map(|c| self.transact_item(c))
            .collect::<Result<Vec<_>>>()?;
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Commit::Done),
            Err(e) => {
                let refused = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => None,
                };
                // The reasons come in the order of the items: name the refused change's kind.
                match refused.and_then(|i| changes.get(i)) {
                    Some(change) => Ok(Commit::Refused(change.kind())),
                    None => Err(dependency("dynamodb", e)),
                }
            }
        }
    }

    async fn list_factors(&self, user: &UserId) -> Result<Vec<Factor>> {
        self.query_prefix(user, "FACTOR#")
            .await?
            .iter()
            .map(|i| factor_from(i, user))
            .collect()
    }

    async fn get_factor(&self, user: &UserId, id: &FactorId) -> Result<Option<Factor>> {
        self.get(key(user_pk(user), factor_sk(id)))
            .await?
            .map(|i| factor_from(&i, user))
            .transpose()
    }

    async fn count_factor_attempt(
        &self,
        user: &UserId,
        id: &FactorId,
        now: UnixTime,
    ) -> Result<Attempt<Factor>> {
        Ok(
            match self
                .count_attempt_on(key(user_pk(user), factor_sk(id)), "pending", now)
                .await?
            {
                Attempt::Counted(i) => Attempt::Counted(factor_from(&i, user)?),
                Attempt::Refused(i) => Attempt::Refused(factor_from(&i, user)?),
                Attempt::Missing => Attempt::Missing,
            },
        )
    }

    async fn get_recovery(&self, user: &UserId) -> Result<Option<RecoveryRecord>> {
        self.get(key(user_pk(user), RECOVERY_SK.into()))
            .await?
            .map(|i| {
                Ok(RecoveryRecord {
                    hash: get_b(&i, "code_hash")?.to_vec(),
                    created_at: get_n(&i, "created_at")?,
                })
            })
            .transpose()
    }

    async fn set_phone_code(
        &self,
        user: &UserId,
        id: &FactorId,
        code: &PhoneCode,
        expect: &[u8],
    ) -> Result<bool> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), factor_sk(id))))
                .update_expression(
                    "SET code_hash = :new, channel = :channel, expires_at = :expires, #ttl = :ttl",
                )
                .condition_expression(
                    "#status = :pending AND expires_at > :now AND attempts < max_attempts AND code_hash = :expect",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":new", b(&code.hash))
                .expression_attribute_values(":channel", s(code.channel.as_str()))
                .expression_attribute_values(":expires", n(code.expires_at))
                .expression_attribute_values(":ttl", n(code.expires_at + TTL_GRACE_SECS))
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":now", n(code.now))
                .expression_attribute_values(":expect", b(expect))
                .send()
                .await,
        )
    }

    async fn record_login_failure(&self, user: &UserId) -> Result<u32> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), LOGIN_GUARD_SK.into())))
            .update_expression("ADD consecutive_failures :one SET #type = :type")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":type", s("login_guard"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| dependency("dynamodb", e))?;
        let item = out.attributes.unwrap_or_default();
        Ok(get_n(&item, "consecutive_failures")? as u32)
    }

    async fn lock_login(&self, user: &UserId, now: UnixTime) -> Result<bool> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), LOGIN_GUARD_SK.into())))
                .update_expression("SET locked_at = :now")
                .condition_expression("attribute_not_exists(locked_at)")
                .expression_attribute_values(":now", n(now))
                .send()
                .await,
        )
    }

    async fn get_profile(&self, user: &UserId) -> Result<Option<Profile>> {
        self.get(key(user_pk(user), PROFILE_SK.into()))
            .await?
            .map(|i| profile_from(&i, user))
            .transpose()
    }

    async fn put_profile(&self, p: &Profile) -> Result<()> {
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
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| dependency("dynamodb", e))?;
        Ok(())
    }

    async fn get_reset_marker(&self, user: &UserId) -> Result<Option<ResetMarker>> {
        self.get(key(user_pk(user), RESET_SK.into()))
            .await?
            .map(|i| {
                Ok(ResetMarker {
                    reset_at: get_n(&i, "reset_at")?,
                    by: get_s(&i, "by")?.to_owned(),
                })
            })
            .transpose()
    }

    async fn get_self_reset(&self, user: &UserId) -> Result<Option<SelfReset>> {
        self.get(key(user_pk(user), SELF_RESET_SK.into()))
            .await?
            .map(|i| self_reset_from(&i, user))
            .transpose()
    }

    async fn list_open_challenges(&self, user: &UserId, now: UnixTime) -> Result<Vec<Challenge>> {
        let mut out = Vec::new();
        for item in self.query_prefix(user, "CHALLENGE#").await? {
            let purpose = get_s(&item, "sk")?
                .split('#')
                .nth(1)
                .and_then(Purpose::parse)
                .ok_or_else(|| corrupt("sk"))?;
            let c = challenge_from(&item, user, purpose)?;
            if c.status == ChallengeStatus::Open && c.expires_at > now {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn list_step_up_tokens(&self, user: &UserId, now: UnixTime) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for item in self.query_prefix(user, "STEPUP#").await? {
            if get_n(&item, "expires_at")? > now {
                let sk = get_s(&item, "sk")?;
                out.push(sk.trim_start_matches("STEPUP#").to_owned());
            }
        }
        Ok(out)
    }

    async fn get_settings(&self, user: &UserId) -> Result<Option<Settings>> {
        self.get(key(user_pk(user), SETTINGS_SK.into()))
            .await?
            .map(|i| settings_from(&i))
            .transpose()
    }

    async fn list_devices(&self, user: &UserId) -> Result<Vec<Device>> {
        self.query_prefix(user, "DEVICE#")
            .await?
            .iter()
            .map(|i| device_from(i, user))
            .collect()
    }

    async fn touch_device(&self, user: &UserId, token_hash: &str, now: UnixTime) -> Result<bool> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), device_sk(token_hash))))
                .update_expression("SET last_used_at = :now")
                .condition_expression("expires_at > :now AND last_used_at > :idle_since")
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":idle_since", n(now - DEVICE_IDLE_SECS))
                .send()
                .await,
        )
    }

    async fn list_events(
        &self,
        user: &UserId,
        limit: usize,
        before: Option<&EventCursor>,
    ) -> Result<EventPage> {
        let pk = user_pk(user);
        // One more than asked, to know whether another page follows.
        let want = limit + 1;
        let mut events = Vec::new();
        let mut start = before.map(|c| key(pk.clone(), event_sk(c.at, &c.id)));
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s("EVENT#"))
                .scan_index_forward(false)
                .limit((want - events.len()) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dependency("dynamodb", e))?;
            for item in page.items() {
                events.push(event_from(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if events.len() < want => start = Some(k),
                _ => break,
            }
        }
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(EventCursor::of)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }

    async fn login_locked_at(&self, user: &UserId) -> Result<Option<UnixTime>> {
        Ok(self
            .get(key(user_pk(user), LOGIN_GUARD_SK.into()))
            .await?
            .and_then(|i| get_n(&i, "locked_at").ok()))
    }
}

/// A fresh random id that already exists means something is badly wrong; never overwrite.
fn created(written: bool) -> Result<()> {
    if written {
        Ok(())
    } else {
        Err(Error::Internal(
            "an item with a fresh random id already exists".into(),
        ))
    }
}
