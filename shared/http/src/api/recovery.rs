//! Flow 5: a new recovery code.

use serde::Serialize;
use utoipa::ToSchema;

/// The new recovery code, shown only here; the old one stopped working.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryIssued {
    #[schema(example = "ABCD-EFGH-JKLM-NPQR")]
    pub recovery_code: String,
    pub created_at: String,
}
