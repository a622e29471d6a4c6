//! Several items in one round trip (`BatchGetItem`, strongly consistent), and the parsers the
//! single reads share with it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use mfa_domain::error::{Error, Result};
use mfa_domain::model::{Got, LoginGuard, RecoveryRecord, ResetMarker, Want};
use mfa_domain::rules::SendLimit;

use super::codec::*;
use super::keys::*;
use super::{build, dependency, DynamoStore};

/// Rounds of `UnprocessedKeys` (DynamoDB throttling part of a batch) before giving up.
const MAX_BATCH_ROUNDS: usize = 5;

/// The key of the item `want` names.
fn key_of(want: &Want) -> Item {
    match want {
        Want::LoginGuard(u) => key(user_pk(u), LOGIN_GUARD_SK.into()),
        Want::Challenge(u, purpose, id) => key(user_pk(u), challenge_sk(*purpose, id)),
        Want::LimitSlots(scope, limit) => key(scope.clone(), limit_sk(limit)),
        Want::SendCount(scope, name) => key(scope.clone(), counter_sk(name)),
        Want::Block(scope) => key(scope.clone(), BLOCK_SK.into()),
        Want::Recovery(u) => key(user_pk(u), RECOVERY_SK.into()),
        Want::Settings(u) => key(user_pk(u), SETTINGS_SK.into()),
        Want::Profile(u) => key(user_pk(u), PROFILE_SK.into()),
        Want::SelfReset(u) => key(user_pk(u), SELF_RESET_SK.into()),
        Want::ResetMarker(u) => key(user_pk(u), RESET_SK.into()),
        Want::OrgPolicy(org) => key(org_pk(org), ORG_POLICY_SK.into()),
    }
}

/// What `want` found in `item` (`None`: no such item).
fn got(want: &Want, item: Option<&Item>) -> Result<Got> {
    Ok(match want {
        Want::LoginGuard(_) => Got::LoginGuard(guard_from(item)),
        Want::Challenge(u, purpose, _) => {
            Got::Challenge(item.map(|i| challenge_from(i, u, *purpose)).transpose()?)
        }
        Want::LimitSlots(_, limit) => Got::LimitSlots(slots_from(item, limit)),
        Want::SendCount(..) => {
            Got::SendCount(item.map(|i| get_n(i, "n")).transpose()?.unwrap_or(0))
        }
        Want::Block(_) => Got::Block(item.map(|i| get_n(i, "until")).transpose()?),
        Want::Recovery(_) => Got::Recovery(item.map(recovery_from).transpose()?),
        Want::Settings(_) => Got::Settings(item.map(settings_from).transpose()?),
        Want::Profile(u) => Got::Profile(item.map(|i| profile_from(i, u)).transpose()?),
        Want::SelfReset(u) => Got::SelfReset(item.map(|i| self_reset_from(i, u)).transpose()?),
        Want::ResetMarker(_) => Got::ResetMarker(item.map(reset_marker_from).transpose()?),
        Want::OrgPolicy(_) => Got::OrgPolicy(item.map(org_policy_from).transpose()?),
    })
}

/// A limiter's slots (`None` for a slot never taken); an absent item has none taken.
pub(super) fn slots_from(item: Option<&Item>, limit: &SendLimit) -> Vec<Option<i64>> {
    (0..limit.max)
        .map(|i| item.and_then(|item| get_n(item, &format!("s{i}")).ok()))
        .collect()
}

/// An account's login guard; an absent item is a fresh guard.
pub(super) fn guard_from(item: Option<&Item>) -> LoginGuard {
    item.map(|i| LoginGuard {
        failures: get_n(i, "consecutive_failures").unwrap_or(0) as u32,
        locked_at: get_n(i, "locked_at").ok(),
    })
    .unwrap_or_default()
}

pub(super) fn recovery_from(item: &Item) -> Result<RecoveryRecord> {
    Ok(RecoveryRecord {
        hash: get_b(item, "code_hash")?.to_vec(),
        created_at: get_n(item, "created_at")?,
    })
}

pub(super) fn reset_marker_from(item: &Item) -> Result<ResetMarker> {
    Ok(ResetMarker {
        reset_at: get_n(item, "reset_at")?,
        by: get_s(item, "by")?.to_owned(),
    })
}

/// `pk` and `sk` of an item, to match what a batch returned to what was asked.
fn pk_sk(item: &Item) -> Result<(String, String)> {
    Ok((get_s(item, "pk")?.to_owned(), get_s(item, "sk")?.to_owned()))
}

impl DynamoStore {
    /// Every item of `wants` in one `BatchGetItem` (more only if DynamoDB leaves some keys
    /// unprocessed), strongly consistent; the answers in the order asked.
    pub(super) async fn batch_read(&self, wants: &[Want]) -> Result<Vec<Got>> {
        let keys: Vec<Item> = wants.iter().map(key_of).collect();
        // A key asked twice is fetched once (a batch refuses duplicates).
        let mut pending: Vec<Item> = Vec::with_capacity(keys.len());
        for k in &keys {
            if !pending.contains(k) {
                pending.push(k.clone());
            }
        }
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        for _ in 0..MAX_BATCH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let ask = build(
                KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build(),
            )?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ask)
                .send()
                .await
                .map_err(|e| dependency("dynamodb", e))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            for item in items {
                found.insert(pk_sk(&item)?, item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(Error::unavailable(
                "dynamodb: a batch read kept being throttled",
            ));
        }
        wants
            .iter()
            .zip(&keys)
            .map(|(want, k)| got(want, found.get(&pk_sk(k)?)))
            .collect()
    }
}
