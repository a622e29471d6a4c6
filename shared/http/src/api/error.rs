//! The one error body every failure answers with.

use mfa_domain::error::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, with a stable `code` a client can branch on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request`, `invalid_code`, `invalid_credential`, `unauthorized`, `step_up_required`, `forbidden`,
    /// `not_found`, `conflict`, `mfa_required`, `expired`, `too_many_attempts`, `rate_limited`,
    /// `unavailable` or `internal`.
    #[schema(example = "invalid_code")]
    pub code: &'static str,
    /// For people; never echoes a submitted value.
    pub message: String,
    /// `invalid_code`, `invalid_credential`: tries left on this challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_remaining: Option<u32>,
    /// `step_up_required`: the level the route needs (`email` or `factor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_level: Option<&'static str>,
    /// `step_up_required`: how the caller can step up to that level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
    /// `rate_limited` and `unavailable`: seconds to wait (also the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl From<&Error> for ErrorBody {
    fn from(err: &Error) -> Self {
        let (required_level, methods) = match err {
            Error::StepUpRequired { level, methods } => {
                (Some(level.as_str()), Some(methods.clone()))
            }
            _ => (None, None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: err.code(),
                message: err.public_message(),
                attempts_remaining: match err {
                    Error::InvalidCode { attempts_remaining }
                    | Error::InvalidCredential { attempts_remaining } => Some(*attempts_remaining),
                    _ => None,
                },
                required_level,
                methods,
                retry_after: err.retry_after(),
            },
        }
    }
}

/// The body API Gateway itself answers with when it refuses a request before any function
/// runs (a missing or invalid token: `{"message":"Unauthorized"}`). HTTP APIs cannot change it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayError {
    #[schema(example = "Unauthorized")]
    pub message: String,
}
