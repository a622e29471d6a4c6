//! The one error type every flow returns, and its stable public codes.
//!
//! The mapping to HTTP lives in `mfa-http` (`status` and `error_response`); nothing else decides
//! a status.

/// Seconds a client should wait after a dependency failure before retrying.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong. The message is shown to the caller and never echoes a value.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid code")]
    InvalidCode { attempts_remaining: u32 },
    /// A security key's response that does not verify (signature, origin, relying party):
    /// counted like a wrong code.
    #[error("invalid credential")]
    InvalidCredential { attempts_remaining: u32 },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A step-up token of at least `level` is needed; `methods` are the ways this caller can
    /// step up (so a page can ask for the right code).
    #[error("step-up required")]
    StepUpRequired {
        level: crate::model::StepUpLevel,
        methods: Vec<&'static str>,
    },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("mfa required: {0}")]
    MfaRequired(String),
    #[error("expired: {0}")]
    Expired(String),
    #[error("too many attempts: {0}")]
    TooManyAttempts(String),
    #[error("rate limited, retry after {retry_after}s")]
    RateLimited { retry_after: u64 },
    /// A dependency (DynamoDB, SES, KMS, ...) failed. `detail` is for the log only, never the
    /// body. With `maybe_done`, the dependency may have acted before it failed (it took the
    /// request, then timed out): a message may still go out.
    #[error("unavailable: {detail}")]
    Unavailable { detail: String, maybe_done: bool },
    /// A bug or a broken deployment (bad configuration, corrupt item). Logged; the caller sees a
    /// generic message.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Error::Unavailable {
            detail: detail.into(),
            maybe_done: false,
        }
    }

    /// A dependency that took the request and then did not answer: it may have done it.
    pub fn unavailable_maybe_done(detail: impl Into<String>) -> Self {
        Error::Unavailable {
            detail: detail.into(),
            maybe_done: true,
        }
    }

    /// True when the failed call may still have taken effect (a message may arrive).
    pub fn maybe_done(&self) -> bool {
        matches!(
            self,
            Error::Unavailable {
                maybe_done: true,
                ..
            }
        )
    }

    /// Stable machine-readable code (DESIGN.md "Errors").
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidCode { .. } => "invalid_code",
            Error::InvalidCredential { .. } => "invalid_credential",
            Error::Unauthorized(_) => "unauthorized",
            Error::StepUpRequired { .. } => "step_up_required",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::MfaRequired(_) => "mfa_required",
            Error::Expired(_) => "expired",
            Error::TooManyAttempts(_) => "too_many_attempts",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable { .. } => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The human message shown to the caller. Internal details never appear here.
    pub fn public_message(&self) -> String {
        match self {
            Error::InvalidRequest(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::MfaRequired(m)
            | Error::Expired(m)
            | Error::TooManyAttempts(m) => m.clone(),
            Error::InvalidCode { .. } => "the code is not correct".into(),
            Error::InvalidCredential { .. } => {
                "the security key's response did not verify for this site".into()
            }
            Error::StepUpRequired { level, .. } => match level {
                crate::model::StepUpLevel::Email => {
                    "this action needs a recent step-up: send a valid X-Step-Up-Token header".into()
                }
                crate::model::StepUpLevel::Factor => {
                    "this action needs a recent step-up with one of your two-factor methods \
                     (an email code is not enough once two-factor authentication is on)"
                        .into()
                }
            },
            Error::RateLimited { .. } => "too many requests; try again later".into(),
            Error::Unavailable { .. } => {
                "a service this request depends on is unavailable; try again shortly".into()
            }
            Error::Internal(_) => "internal error".into(),
        }
    }

    /// Seconds for a `Retry-After` header, where the design asks for one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after } => Some((*retry_after).max(1)),
            Error::Unavailable { .. } => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_dependency_failure_then_the_detail_stays_out_of_the_public_message() {
        let err = Error::unavailable("ServiceError: AccessDenied arn:aws:kms:...");
        assert!(!err.public_message().contains("kms"));
        assert_eq!(err.retry_after(), Some(UNAVAILABLE_RETRY_AFTER_SECS));
    }
}
