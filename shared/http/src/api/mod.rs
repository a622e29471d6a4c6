//! The API's wire types: what each route reads and answers, one module per flow, each with its
//! OpenAPI schema. Requests refuse unknown fields; responses never carry a secret except the one
//! a route exists to show once (a new TOTP secret, a recovery code, a device token).

pub mod common;
pub mod error;
pub mod factors;
pub mod login;
pub mod recovery;
pub mod resets;
pub mod settings;
pub mod step_up;

mod document;
pub use document::{document, BEARER};
