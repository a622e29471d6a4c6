//! The single-table store (see docs/table-design.md): `keys` names the items, `codec` turns
//! them into domain types and back, and this module is the store. Every rule that must hold
//! under concurrency is a condition on one write.

mod codec;
mod keys;
mod read;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use super::dependency;
use mfa_domain::clock::UnixTime;
use mfa_domain::error::{Error, Result};
use mfa_domain::events::EventCursor;
use mfa_domain::model::{
    Attempt, Challenge, ChallengeStatus, Change, Channel, Commit, Device, EventPage, Factor, Got,
    LoginGuard, OrgMember, Profile, Purpose, RecoveryRecord, ResetMarker, SelfReset,
    SelfResetStatus, Settings, StepUpLevel, Want,
};
use mfa_domain::ports::{ServiceSecret, Store};
use mfa_domain::rules::{SendLimit, DEVICE_IDLE_SECS, TTL_GRACE_SECS};
use mfa_domain::types::{ChallengeId, FactorId, OrgRole, UserId};

type Item = HashMap<String, AttributeValue>;

// The expressions of a limiter slot and of a challenge's code, shared by the single-item
// writes and their transaction items.
const TAKE_SLOT: &str = "SET #slot = :now, #ttl = :ttl, #type = :type";
const SLOT_FREE: &str = "attribute_not_exists(#slot)";
const SLOT_SEEN: &str = "#slot = :seen";
const SET_CODE: &str = "SET code_hash = :h, code_channel = :c";
const REMOVE_CODE: &str = "REMOVE code_hash, code_channel";
const CHALLENGE_OPEN: &str = "#status = :open AND expires_at > :now AND attempts < max_attempts";
const CODE_IS: &str = "code_hash = :expect";
const NO_CODE: &str = "attribute_not_exists(code_hash)";
const COUNT_TRY: &str = "ADD attempts :one";
const SET_PHONE_CODE: &str =
    "SET code_hash = :new, channel = :channel, expires_at = :expires, #ttl = :ttl";
const PHONE_CODE_IS: &str =
    "#status = :pending AND expires_at > :now AND attempts < max_attempts AND code_hash = :expect";
const TRY_LEFT: &str =
    "attribute_exists(pk) AND #status = :open AND attempts < max_attempts AND expires_at > :now";

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

use codec::*;
use keys::*;
use read::{guard_from, recovery_from, reset_marker_from, slots_from};

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
            .update_expression(COUNT_TRY)
            .condition_expression(TRY_LEFT)
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
        // An update of the item at `k`, finished by `updated`.
        let update = |k: Item| Update::builder().table_name(&self.table).set_key(Some(k));
        let updated = |u: UpdateBuilder| -> Result<TransactWriteItem> {
            Ok(TransactWriteItem::builder()
                .update(build(u.build())?)
                .build())
        };
        match change {
            Change::PutFactor(f) => put(factor_item(f), Some("attribute_not_exists(pk)")),
            Change::PutEvent(e) => put(event_item(e), Some("attribute_not_exists(pk)")),
            Change::PutProfile(p) => put(profile_item(p), None),
            Change::PutOrgMember(m) => put(org_member_item(m), None),
            Change::DeleteOrgMember { org_id, user, role } => {
                delete(key(org_pk(org_id), member_sk(*role, user)))
            }
            Change::PutOrgPolicy(p) => put(org_policy_item(p), None),
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
                let u = update(key(user_pk(user), challenge_sk(*purpose, id)))
                    .update_expression("SET #status = :used")
                    .condition_expression("#status = :open AND attempts < max_attempts")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":used", s("used"))
                    .expression_attribute_values(":open", s("open"));
                updated(u)
            }
            Change::UseKey {
                user,
                id,
                passkey,
                counter,
                backup_state,
                now,
            } => {
                // A key that keeps no counter stays at 0; one that does only moves forward.
                let counted = if *counter == 0 {
                    "sign_count = :count"
                } else {
                    "sign_count < :count"
                };
                let u = update(key(user_pk(user), factor_sk(id)))
                    .update_expression(
                        "SET passkey = :passkey, sign_count = :count, backup_state = :bs, last_used_at = :now",
                    )
                    .condition_expression(format!("#status = :active AND {counted}"))
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":active", s("active"))
                    .expression_attribute_values(":passkey", s(passkey))
                    .expression_attribute_values(":count", n(*counter))
                    .expression_attribute_values(":bs", AttributeValue::Bool(*backup_state))
                    .expression_attribute_values(":now", n(*now));
                updated(u)
            }
            Change::RenameFactor {
                user,
                id,
                kind,
                label,
            } => {
                let u = update(key(user_pk(user), factor_sk(id)))
                    .update_expression("SET #label = :label")
                    .condition_expression("attribute_exists(pk) AND #kind = :kind")
                    .expression_attribute_names("#label", "label")
                    .expression_attribute_names("#kind", "kind")
                    .expression_attribute_values(":label", s(label))
                    .expression_attribute_values(":kind", s(kind.as_str()));
                updated(u)
            }
            Change::AcceptTotpStep {
                user,
                id,
                step,
                now,
            } => {
                let u = update(key(user_pk(user), factor_sk(id)))
                    .update_expression("SET last_step = :step, last_used_at = :now")
                    .condition_expression(
                        "#status = :active AND (attribute_not_exists(last_step) OR last_step < :step)",
                    )
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":active", s("active"))
                    .expression_attribute_values(":step", n(*step))
                    .expression_attribute_values(":now", n(*now));
                updated(u)
            }
            Change::FactorUsed { user, id, now } => {
                let u = update(key(user_pk(user), factor_sk(id)))
                    .update_expression("SET last_used_at = :now")
                    .condition_expression("#status = :active")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":active", s("active"))
                    .expression_attribute_values(":now", n(*now));
                updated(u)
            }
            Change::SwapRecovery {
                user,
                old_hash,
                new,
            } => {
                let u = update(key(user_pk(user), RECOVERY_SK.into()))
                    .update_expression("SET code_hash = :new, created_at = :created")
                    .condition_expression("code_hash = :old")
                    .expression_attribute_values(":new", b(&new.hash))
                    .expression_attribute_values(":old", b(old_hash))
                    .expression_attribute_values(":created", n(new.created_at));
                updated(u)
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
                let u = update(key(user_pk(user), LOGIN_GUARD_SK.into()))
                    .update_expression("SET consecutive_failures = :zero, #type = :type")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":type", s("login_guard"));
                updated(u)
            }
            Change::CountLoginFailure { user, lock_at } => {
                let u = update(key(user_pk(user), LOGIN_GUARD_SK.into()))
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":type", s("login_guard"));
                updated(match lock_at {
                    None => u.update_expression("ADD consecutive_failures :one SET #type = :type"),
                    Some(at) => u
                        .update_expression(
                            "ADD consecutive_failures :one \
                             SET #type = :type, locked_at = if_not_exists(locked_at, :at)",
                        )
                        .expression_attribute_values(":at", n(*at)),
                })
            }
            Change::DeleteLoginGuard { user } => delete(key(user_pk(user), LOGIN_GUARD_SK.into())),
            Change::DeleteLimit { scope, limit } => delete(key(scope.clone(), limit_sk(limit))),
            Change::TakeLimitSlot {
                scope,
                limit,
                slot,
                seen,
                now,
            } => {
                let u = update(key(scope.clone(), limit_sk(limit)))
                    .update_expression(TAKE_SLOT)
                    .expression_attribute_names("#slot", format!("s{slot}"))
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":now", n(*now))
                    .expression_attribute_values(":type", s("send_limit"))
                    .expression_attribute_values(
                        ":ttl",
                        n(now + limit.window_secs + TTL_GRACE_SECS),
                    );
                updated(match seen {
                    None => u.condition_expression(SLOT_FREE),
                    Some(v) => u
                        .condition_expression(SLOT_SEEN)
                        .expression_attribute_values(":seen", n(*v)),
                })
            }
            Change::LimitRoom {
                scope,
                limit,
                slot,
                seen,
            } => {
                let c = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(scope.clone(), limit_sk(limit))))
                    .expression_attribute_names("#slot", format!("s{slot}"));
                let c = match seen {
                    None => c.condition_expression(SLOT_FREE),
                    Some(v) => c
                        .condition_expression(SLOT_SEEN)
                        .expression_attribute_values(":seen", n(*v)),
                };
                Ok(TransactWriteItem::builder()
                    .condition_check(build(c.build())?)
                    .build())
            }
            Change::CountSend {
                scope,
                name,
                max,
                expires_at,
                tag: _,
            } => {
                let u = update(key(scope.clone(), counter_sk(name)))
                    .update_expression("ADD #n :one SET #ttl = :ttl, #type = :type")
                    .expression_attribute_names("#n", "n")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":ttl", n(expires_at + TTL_GRACE_SECS))
                    .expression_attribute_values(":type", s("send_counter"));
                updated(match max {
                    None => u,
                    Some(max) => u
                        .condition_expression("attribute_not_exists(#n) OR #n < :max")
                        .expression_attribute_values(":max", n(*max)),
                })
            }
            Change::UncountSend { scope, name } => {
                let u = update(key(scope.clone(), counter_sk(name)))
                    .update_expression("ADD #n :minus")
                    .condition_expression("#n > :zero")
                    .expression_attribute_names("#n", "n")
                    .expression_attribute_values(":minus", n(-1))
                    .expression_attribute_values(":zero", n(0));
                updated(u)
            }
            Change::PutBlock { scope, until } => {
                let u = update(key(scope.clone(), BLOCK_SK.into()))
                    .update_expression("SET #until = :until, #ttl = :ttl, #type = :type")
                    .expression_attribute_names("#until", "until")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":until", n(*until))
                    .expression_attribute_values(":ttl", n(until + TTL_GRACE_SECS))
                    .expression_attribute_values(":type", s("send_block"));
                updated(u)
            }
            Change::NotBlocked { scope, now } => {
                let c = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(scope.clone(), BLOCK_SK.into())))
                    .condition_expression("attribute_not_exists(#until) OR #until <= :now")
                    .expression_attribute_names("#until", "until")
                    .expression_attribute_values(":now", n(*now));
                Ok(TransactWriteItem::builder()
                    .condition_check(build(c.build())?)
                    .build())
            }
            Change::PutChallenge(c) => put(challenge_item(c), Some("attribute_not_exists(pk)")),
            Change::CountAttempt {
                user,
                purpose,
                id,
                now,
            } => {
                let u = update(key(user_pk(user), challenge_sk(*purpose, id)))
                    .update_expression(COUNT_TRY)
                    .condition_expression(TRY_LEFT)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":open", s("open"))
                    .expression_attribute_values(":now", n(*now));
                updated(u)
            }
            Change::SetChallengeCode {
                user,
                purpose,
                id,
                code,
                expect,
                now,
            } => {
                let u = update(key(user_pk(user), challenge_sk(*purpose, id)))
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":open", s("open"))
                    .expression_attribute_values(":now", n(*now));
                let u = match code {
                    Some((hash, channel)) => u
                        .update_expression(SET_CODE)
                        .expression_attribute_values(":h", b(hash))
                        .expression_attribute_values(":c", s(channel.as_str())),
                    None => u.update_expression(REMOVE_CODE),
                };
                updated(match expect {
                    Some(old) => u
                        .condition_expression(format!("{CHALLENGE_OPEN} AND {CODE_IS}"))
                        .expression_attribute_values(":expect", b(old)),
                    None => u.condition_expression(format!("{CHALLENGE_OPEN} AND {NO_CODE}")),
                })
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
                let mut u = update(key(user_pk(user), SELF_RESET_SK.into()))
                    .update_expression("SET #status = :to")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":id", s(request_id.as_ref()))
                    .expression_attribute_values(":waiting", s(SelfResetStatus::Waiting.as_str()))
                    .expression_attribute_values(":to", s(to.as_str()));
                if let Some(due) = due_at {
                    cond.push_str(" AND completes_at <= :due");
                    u = u.expression_attribute_values(":due", n(*due));
                }
                updated(u.condition_expression(cond))
            }
            Change::DeleteRecovery { user } => delete(key(user_pk(user), RECOVERY_SK.into())),
            Change::ClaimPhone {
                user,
                id,
                slot,
                replacing,
            } => {
                let mut item = key(user_pk(user), phone_sk(*slot));
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
            Change::ReleasePhone { user, id, slot } => {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user_pk(user), phone_sk(*slot))))
                    .condition_expression("attribute_not_exists(pk) OR factor_id = :id")
                    .expression_attribute_values(":id", s(id.as_ref()));
                Ok(TransactWriteItem::builder()
                    .delete(build(d.build())?)
                    .build())
            }
            Change::SetPhoneCode {
                user,
                id,
                code,
                expect,
            } => {
                let u = update(key(user_pk(user), factor_sk(id)))
                    .update_expression(SET_PHONE_CODE)
                    .condition_expression(PHONE_CODE_IS)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":new", b(&code.hash))
                    .expression_attribute_values(":channel", s(code.channel.as_str()))
                    .expression_attribute_values(":expires", n(code.expires_at))
                    .expression_attribute_values(":ttl", n(code.expires_at + TTL_GRACE_SECS))
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":now", n(code.now))
                    .expression_attribute_values(":expect", b(expect));
                updated(u)
            }
            Change::ActivateFactor {
                user,
                id,
                step,
                key: registered,
                phone_slot,
                now,
            } => {
                let mut u = update(key(user_pk(user), factor_sk(id)))
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
                // A security key: its key in, its ceremony out, in the same write.
                let mut set = set.to_owned();
                let mut remove = String::new();
                if let Some(k) = registered {
                    for (name, value) in key_attributes(k) {
                        set.push_str(&format!(", {name} = :{name}"));
                        u = u.expression_attribute_values(format!(":{name}"), value);
                    }
                    remove.push_str(", webauthn_state, webauthn_challenge");
                }
                // A phone: its guard place in, what it was to replace out.
                if let Some(slot) = phone_slot {
                    set.push_str(", phone_slot = :slot");
                    u = u.expression_attribute_values(":slot", n(*slot));
                    remove.push_str(", replaces");
                }
                u = u
                    .update_expression(format!(
                        "SET #status = :active, activated_at = :now{set} REMOVE expires_at, #ttl{remove}"
                    ))
                    .condition_expression(format!(
                        "#status = :pending AND expires_at > :now AND attempts < max_attempts{cond}"
                    ));
                updated(u)
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
    async fn get_secret(&self, which: ServiceSecret) -> Result<Option<Vec<u8>>> {
        let (sk, _, attr) = secret_item(which);
        self.get(key(CONFIG_PK.into(), sk.into()))
            .await?
            .map(|i| get_b(&i, attr).map(<[u8]>::to_vec))
            .transpose()
    }

    async fn put_secret_if_absent(
        &self,
        which: ServiceSecret,
        stored: &[u8],
        now: UnixTime,
    ) -> Result<bool> {
        let (sk, kind, attr) = secret_item(which);
        let mut item = key(CONFIG_PK.into(), sk.into());
        item.insert("type".into(), s(kind));
        item.insert(attr.into(), b(stored));
        item.insert("created_at".into(), n(now));
        self.put_new(item).await
    }

    async fn limit_slots(&self, scope: &str, limit: &SendLimit) -> Result<Vec<Option<i64>>> {
        let item = self.get(key(scope.into(), limit_sk(limit))).await?;
        Ok(slots_from(item.as_ref(), limit))
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
            .set_key(Some(key(scope.into(), limit_sk(limit))))
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
        let item = challenge_item(c);
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
                .update_expression(SET_CODE)
                .expression_attribute_values(":h", b(hash))
                .expression_attribute_values(":c", s(channel.as_str())),
            None => req.update_expression(REMOVE_CODE),
        };
        req = match expect {
            Some(old) => req
                .condition_expression(format!("{CHALLENGE_OPEN} AND {CODE_IS}"))
                .expression_attribute_values(":expect", b(old)),
            None => req.condition_expression(format!("{CHALLENGE_OPEN} AND {NO_CODE}")),
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
            .as_ref()
            .map(recovery_from)
            .transpose()
    }

    async fn get_profile(&self, user: &UserId) -> Result<Option<Profile>> {
        self.get(key(user_pk(user), PROFILE_SK.into()))
            .await?
            .map(|i| profile_from(&i, user))
            .transpose()
    }

    async fn org_owners(&self, org_id: &str, limit: usize) -> Result<Vec<OrgMember>> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(org_pk(org_id)))
            .expression_attribute_values(":prefix", s(members_prefix(OrgRole::Owner)))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| dependency("dynamodb", e))?;
        page.items()
            .iter()
            .map(|i| org_member_from(i, org_id))
            .collect()
    }

    async fn get_reset_marker(&self, user: &UserId) -> Result<Option<ResetMarker>> {
        self.get(key(user_pk(user), RESET_SK.into()))
            .await?
            .as_ref()
            .map(reset_marker_from)
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

    async fn touch_device(
        &self,
        user: &UserId,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Option<Device>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), device_sk(token_hash))))
            .update_expression("SET last_used_at = :now")
            .condition_expression("expires_at > :now AND last_used_at > :idle_since")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":idle_since", n(now - DEVICE_IDLE_SECS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => out
                .attributes()
                .map(|item| device_from(item, user))
                .transpose(),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(dependency("dynamodb", e)),
        }
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

    async fn login_guard(&self, user: &UserId) -> Result<LoginGuard> {
        let item = self.get(key(user_pk(user), LOGIN_GUARD_SK.into())).await?;
        Ok(guard_from(item.as_ref()))
    }

    async fn read_all(&self, wants: &[Want]) -> Result<Vec<Got>> {
        self.batch_read(wants).await
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
