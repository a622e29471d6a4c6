//! The black-box tests, one binary: each module drives one part of the API over HTTP through
//! the dev gateway against the local stack (DynamoDB Local, moto), with the typed helpers of
//! `e2e` (tests/src/lib.rs) for the routes.

mod attacks;
mod factors;
mod faults;
mod login;
mod logs;
mod org_policy;
mod phones;
mod pumping;
mod races;
mod resets;
mod round_trips;
mod security_keys;
mod settings;
mod step_up;
