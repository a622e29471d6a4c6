//! AWS adapters behind the domain's ports, and the production wiring. Clients are built once per cold start; endpoints come from the
//! standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`), with no local cases.

mod dynamo;
mod kms;
mod ses;
mod sns;
mod voice;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use mfa_domain::app::{Adapters, App};
use mfa_domain::clock::{Clock, SystemClock};

pub use dynamo::DynamoStore;
pub use kms::{KmsSigner, KmsVault};
pub use ses::SesMailer;
pub use sns::SnsSms;
pub use voice::EndUserMessagingVoice;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use mfa_domain::config::Config;
use mfa_domain::error::{Error, Result};

/// The shared SDK configuration: short timeouts and few retries, so a failing dependency turns
/// into a prompt 503 rather than a hung Lambda.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(9))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// Every AWS adapter, built once per cold start from `config`.
pub async fn adapters_from_env(config: &Config) -> Adapters {
    let sdk = sdk_config().await;
    Adapters {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.table_name,
        )),
        mailer: Arc::new(SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            &config.ses_from_address,
        )),
        vault: Arc::new(KmsVault::new(
            aws_sdk_kms::Client::new(&sdk),
            &config.kms_data_key_id,
        )),
        signer: Arc::new(KmsSigner::new(
            aws_sdk_kms::Client::new(&sdk),
            &config.assertion_key_id,
        )),
        sms: Arc::new(SnsSms::new(aws_sdk_sns::Client::new(&sdk))),
        voice: Arc::new(EndUserMessagingVoice::new(
            aws_sdk_pinpointsmsvoicev2::Client::new(&sdk),
            config.voice_origination_identity.clone(),
        )),
    }
}

/// The production wiring: configuration from the environment, AWS adapters, system clock.
pub async fn app_from_env() -> Result<App> {
    app_from_env_with_clock(Arc::new(SystemClock)).await
}

/// As [`app_from_env`] with another clock (the local dev gateway moves time).
pub async fn app_from_env_with_clock(clock: Arc<dyn Clock>) -> Result<App> {
    let config = Config::from_env()?;
    let aws = adapters_from_env(&config).await;
    Ok(App::new(config, aws, clock))
}

/// An AWS SDK failure becomes `unavailable`. Only the kind of failure and the AWS error code
/// are kept for the log: service messages can quote an address or a phone number.
fn dependency<E, R>(service: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata,
{
    let kind = match &err {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not connect",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "failed",
    };
    Error::unavailable(format!(
        "{service}: {kind} ({})",
        err.code().unwrap_or("no code")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::operation::send_email::SendEmailError;
    use aws_sdk_sesv2::types::error::MessageRejected;

    #[test]
    fn a_dependency_error_keeps_the_code_but_not_the_message() {
        let err: SdkError<SendEmailError, ()> = SdkError::service_error(
            SendEmailError::MessageRejected(
                MessageRejected::builder()
                    .message("Email address is not verified: jane@example.com")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("MessageRejected")
                            .build(),
                    )
                    .build(),
            ),
            (),
        );
        match dependency("ses", err) {
            Error::Unavailable { detail } => {
                assert_eq!(detail, "ses: service error (MessageRejected)");
            }
            other => panic!("{other:?}"),
        }
    }
}
