//! Reads of several items in one round trip: what a flow asks for, and what it gets back.

use crate::rules::SendLimit;
use crate::types::{ChallengeId, UserId};

use super::{
    Challenge, LoginGuard, Profile, Purpose, RecoveryRecord, ResetMarker, SelfReset, Settings,
};

/// One item of a [`crate::ports::Store::read_all`].
#[derive(Debug, Clone)]
pub enum Want {
    LoginGuard(UserId),
    Challenge(UserId, Purpose, ChallengeId),
    /// The slots of a limiter of `scope`.
    LimitSlots(String, SendLimit),
    /// A send counter's count (scope, name), 0 if it was never counted.
    SendCount(String, String),
    /// When the sends under a scope are blocked until, if they are.
    Block(String),
    Recovery(UserId),
    Settings(UserId),
    Profile(UserId),
    SelfReset(UserId),
    ResetMarker(UserId),
    /// An organisation's policy.
    OrgPolicy(String),
}

/// What a [`Want`] found, in the order asked.
#[derive(Debug)]
pub enum Got {
    LoginGuard(LoginGuard),
    Challenge(Option<Challenge>),
    LimitSlots(Vec<Option<i64>>),
    SendCount(i64),
    Block(Option<crate::clock::UnixTime>),
    Recovery(Option<RecoveryRecord>),
    Settings(Option<Settings>),
    Profile(Option<Profile>),
    SelfReset(Option<SelfReset>),
    ResetMarker(Option<ResetMarker>),
    OrgPolicy(Option<super::StoredOrgPolicy>),
}

/// Takes what a batch read found apart, in the order asked: each `take_*` expects the next
/// answer to be of its kind (a mismatch is the caller's bug, reported as internal).
pub struct Found(std::vec::IntoIter<Got>);

impl From<Vec<Got>> for Found {
    fn from(got: Vec<Got>) -> Self {
        Found(got.into_iter())
    }
}

macro_rules! take {
    ($name:ident, $variant:ident, $ty:ty) => {
        pub fn $name(&mut self) -> crate::error::Result<$ty> {
            match self.0.next() {
                Some(Got::$variant(v)) => Ok(v),
                other => Err(crate::error::Error::Internal(format!(
                    "a batch read answered {other:?} where {} was asked",
                    stringify!($variant)
                ))),
            }
        }
    };
}

impl Found {
    take!(login_guard, LoginGuard, LoginGuard);
    take!(challenge, Challenge, Option<Challenge>);
    take!(limit_slots, LimitSlots, Vec<Option<i64>>);
    take!(send_count, SendCount, i64);
    take!(block, Block, Option<crate::clock::UnixTime>);
    take!(recovery, Recovery, Option<RecoveryRecord>);
    take!(settings, Settings, Option<Settings>);
    take!(profile, Profile, Option<Profile>);
    take!(self_reset, SelfReset, Option<SelfReset>);
    take!(reset_marker, ResetMarker, Option<ResetMarker>);
    take!(org_policy, OrgPolicy, Option<super::StoredOrgPolicy>);
}
