//! The single-table store (see docs/table-design.md). Every rule that must hold under
//! concurrency is a condition on one write.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use super::dependency;
use crate::clock::UnixTime;
use crate::error::{Error, Result};
use crate::ports::{Attempt, Challenge, ChallengeStatus, Purpose, Store};
use crate::rules::{SendLimit, TTL_GRACE_SECS};
use crate::types::{ChallengeId, UserId};

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
        id: ChallengeId::parse(get_s(item, "challenge_id")?).map_err(|_| corrupt("id"))?,
        user: user.clone(),
        purpose,
        code_hash: get_b(item, "code_hash")?.to_vec(),
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
            ("code_hash".to_owned(), b(&c.code_hash)),
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
        created(self.put_new(item).await?)
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
        let k = key(user_pk(user), challenge_sk(purpose, id));
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
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| corrupt("no attributes returned"))?;
                Ok(Attempt::Counted(challenge_from(&item, user, purpose)?))
            }
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
                match old {
                    None => Ok(Attempt::Missing),
                    Some(item) => Ok(Attempt::Refused(challenge_from(&item, user, purpose)?)),
                }
            }
            Err(e) => Err(dependency("dynamodb", e)),
        }
    }

    async fn consume_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        id: &ChallengeId,
    ) -> Result<bool> {
        applied(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), challenge_sk(purpose, id))))
                .update_expression("SET #status = :used")
                .condition_expression("#status = :open")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":used", s("used"))
                .expression_attribute_values(":open", s("open"))
                .send()
                .await,
        )
    }

    async fn put_step_up_token(
        &self,
        user: &UserId,
        token_hash: &str,
        expires_at: UnixTime,
    ) -> Result<()> {
        let mut item = key(user_pk(user), format!("STEPUP#{token_hash}"));
        item.extend([
            ("type".to_owned(), s("step_up_token")),
            ("expires_at".to_owned(), n(expires_at)),
            ("ttl".to_owned(), n(expires_at + TTL_GRACE_SECS)),
        ]);
        created(self.put_new(item).await?)
    }

    async fn step_up_token_expiry(
        &self,
        user: &UserId,
        token_hash: &str,
    ) -> Result<Option<UnixTime>> {
        self.get(key(user_pk(user), format!("STEPUP#{token_hash}")))
            .await?
            .map(|i| get_n(&i, "expires_at"))
            .transpose()
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
