//! Local development tools: the dev gateway (API Gateway HTTP API + JWT authorizer stand-in),
//! dev tokens signed by a local key, the reference console page (`local/web/`), and the bootstrap
//! that prepares the local AWS stack.
//! Nothing here is deployed.

pub mod bootstrap;
pub mod faults;
pub mod gateway;
pub mod jwt;
pub mod openapi;
pub mod voice_inbox;
pub mod web;

use std::path::PathBuf;

/// Where local state lives (dev signing key, pids, logs): `MFA_LOCAL_STATE`, else `local/.state`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("MFA_LOCAL_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".state"))
}
