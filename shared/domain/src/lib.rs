//! The domain crate shared by every flow. It knows no AWS, HTTP or Lambda type: the edge is
//! `mfa-http`, the adapters and their wiring are `mfa-aws`.
//!
//! - `types`, `rules`, `config`, `error`: validated values, the design's numbers, settings, errors.
//! - `crypto`, `clock`: the crypto base and the time port.
//! - `ports`: the traits the domain needs (store, mail, keys); `app`: the service built on them;
//!   `identity`: the caller.
//! - `challenge`, `limits`, `step_up`, `email`: the flows' shared rules.
//! - `factors`, `totp`, `security_keys`, `recovery`, `events`: second factors (apps, security
//!   keys), recovery code, security events.
//! - `pumping`: the SMS and voice pumping guard (velocity per range, country and IP; daily budget).
//! - `login`, `devices`, `settings`, `assertion`: login verification, remembered devices, the
//!   settings page, the signed login assertion.
//! - `reset`, `self_reset`: admin and self-service resets, member profiles.
//! - `model`: what is stored; `parsers_never_panic` (tests): every parser of outside input on
//!   arbitrary input.

pub mod app;
pub mod assertion;
pub mod challenge;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod devices;
pub mod email;
pub mod error;
pub mod events;
pub mod factors;
pub mod identity;
pub mod limits;
pub mod login;
pub mod metrics;
pub mod model;
pub mod org_policy;
pub mod phone;
pub mod phones;
pub mod ports;
pub mod pumping;
pub mod recovery;
pub mod reset;
pub mod rules;
pub mod security_keys;
pub mod self_reset;
pub mod settings;
pub mod step_up;
pub mod totp;
pub mod types;

pub use app::App;
pub use error::{Error, Result};

#[cfg(test)]
mod parsers_never_panic;
