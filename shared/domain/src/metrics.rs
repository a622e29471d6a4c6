//! The counters an operator watches: codes sent, verifications passed and failed, lockouts and
//! delivery failures. The domain only says that one happened, as a `tracing` event of target
//! [`TARGET`]; the edge (`mfa-http`) writes each as a CloudWatch Embedded Metric Format line,
//! so no metrics client is called and nothing here knows CloudWatch.

use crate::error::{Error, Result};

/// The `tracing` target of a counter event; its one field, `metric`, is the counter's name.
pub const TARGET: &str = "mfa::metric";

/// One thing worth counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A one-time code went out (email, SMS or voice).
    CodeSent,
    /// A code, app code or recovery code was accepted.
    VerificationPassed,
    /// A presented code was refused (wrong, spent or expired).
    VerificationFailed,
    /// Guessing was stopped: a challenge's or enrollment's tries ran out, or the account's
    /// second step was locked.
    Lockout,
    /// A message (a code or a security notice) could not be handed to the provider.
    DeliveryFailed,
    /// A destination range was blocked by the pumping guard.
    PhoneRangeBlocked,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::CodeSent,
        Metric::VerificationPassed,
        Metric::VerificationFailed,
        Metric::Lockout,
        Metric::DeliveryFailed,
        Metric::PhoneRangeBlocked,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CodeSent => "CodesSent",
            Metric::VerificationPassed => "VerificationsPassed",
            Metric::VerificationFailed => "VerificationsFailed",
            Metric::Lockout => "Lockouts",
            Metric::DeliveryFailed => "DeliveryFailures",
            Metric::PhoneRangeBlocked => "PhoneRangesBlocked",
        }
    }
}

/// Counts one `metric`.
pub fn count(metric: Metric) {
    tracing::info!(target: TARGET, metric = metric.name());
}

/// Counts what became of a presented code: accepted, or refused for what the code is (wrong,
/// spent, expired). Refusals that are not about the code (bad input, no such challenge, a
/// dependency down) are not verifications and are not counted.
pub async fn verification<T>(outcome: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let outcome = outcome.await;
    match &outcome {
        Ok(_) => count(Metric::VerificationPassed),
        Err(
            Error::InvalidCode { .. }
            | Error::InvalidCredential { .. }
            | Error::TooManyAttempts(_)
            | Error::Expired(_),
        ) => count(Metric::VerificationFailed),
        Err(_) => {}
    }
    outcome
}

/// Counts a delivery: a code sent, or a delivery failure.
pub fn delivery(outcome: &Result<()>) {
    count(match outcome {
        Ok(()) => Metric::CodeSent,
        Err(_) => Metric::DeliveryFailed,
    });
}
