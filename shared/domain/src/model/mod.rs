//! The data model: what the service stores and reasons about, with no storage or transport
//! type. Ids are in `crate::types`, security events in `crate::events`; the ports that store
//! and send these are in `crate::ports`.

mod account;
mod challenge;
mod change;
mod factor;
mod method;
mod org;
mod read;

pub use account::*;
pub use challenge::*;
pub use change::*;
pub use factor::*;
pub use method::*;
pub use org::*;
pub use read::*;
