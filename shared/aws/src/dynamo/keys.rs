//! The table's keys: every item of a user lives in their partition `USER#<sub>`, and its sort
//! key says what it is (see docs/table-design.md).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use mfa_domain::clock::UnixTime;
use mfa_domain::model::Purpose;
use mfa_domain::ports::ServiceSecret;
use mfa_domain::rules::SendLimit;
use mfa_domain::types::{ChallengeId, FactorId, OrgRole, UserId};

/// One DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn user_pk(user: &UserId) -> String {
    format!("USER#{}", user.as_ref())
}

/// The partition of an organisation's items: its policy and its members.
pub(super) fn org_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

/// A member's entry under their organisation, by role, so that a role's members are one query.
pub(super) fn member_sk(role: OrgRole, user: &UserId) -> String {
    format!("{}{}", members_prefix(role), user.as_ref())
}

pub(super) fn members_prefix(role: OrgRole) -> String {
    format!("MEMBER#{}#", role.as_str())
}

pub(super) const ORG_POLICY_SK: &str = "POLICY";

pub(super) fn challenge_sk(purpose: Purpose, id: &ChallengeId) -> String {
    format!("CHALLENGE#{}#{}", purpose.as_str(), id.as_ref())
}

pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

/// The partition of the service's own items (its secrets).
pub(super) const CONFIG_PK: &str = "CONFIG";

/// Where a service secret is stored: its sort key, its `type` and the attribute holding it.
pub(super) fn secret_item(which: ServiceSecret) -> (&'static str, &'static str, &'static str) {
    match which {
        ServiceSecret::DataKey => ("DATA_KEY#v1", "data_key", "ciphertext"),
        // The in-process assertion signing key (`ASSERTION_SIGNER=local`).
        ServiceSecret::SigningKey => ("SIGNING_KEY#v1", "signing_key", "sealed"),
    }
}

/// The sort key of a limiter (its partition is the limit's scope).
pub(super) fn limit_sk(limit: &SendLimit) -> String {
    format!("LIMIT#{}", limit.name)
}

/// The sort key of a send counter of the pumping guard (its partition is the counter's scope).
pub(super) fn counter_sk(name: &str) -> String {
    format!("COUNT#{name}")
}

/// The block of the sends under a scope (a destination range).
pub(super) const BLOCK_SK: &str = "BLOCK";

pub(super) fn factor_sk(id: &FactorId) -> String {
    format!("FACTOR#{}", id.as_ref())
}

pub(super) const RECOVERY_SK: &str = "RECOVERY";

/// The guard that holds the id of the user's one phone factor.
/// The guard item of phone place `slot`: place 0 is `PHONE`, as it was when a user could have
/// only one phone, so a phone verified then still holds its place.
pub(super) fn phone_sk(slot: u8) -> String {
    match slot {
        0 => "PHONE".into(),
        n => format!("PHONE#{n}"),
    }
}

/// Consecutive login failures and the lock.
pub(super) const LOGIN_GUARD_SK: &str = "LOGIN_GUARD";

pub(super) fn event_sk(at: UnixTime, id: &str) -> String {
    format!("EVENT#{at:012}#{id}")
}

pub(super) fn device_sk(token_hash: &str) -> String {
    format!("DEVICE#{token_hash}")
}

pub(super) const SETTINGS_SK: &str = "SETTINGS";

pub(super) const PROFILE_SK: &str = "PROFILE";

pub(super) const RESET_SK: &str = "RESET";

pub(super) const SELF_RESET_SK: &str = "SELF_RESET";
