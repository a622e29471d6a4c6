//! AWS adapters behind the ports. Clients are built once per cold start; endpoints come from the
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

pub use dynamo::DynamoStore;
pub use kms::KmsVault;
pub use ses::SesMailer;
pub use sns::SnsSms;
pub use voice::EndUserMessagingVoice;

use crate::config::Config;
use crate::error::Error;
use crate::ports::{KeyVault, Mailer, SmsSender, Store, VoiceCaller};

pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub vault: Arc<dyn KeyVault>,
    pub sms: Arc<dyn SmsSender>,
    pub voice: Arc<dyn VoiceCaller>,
}

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

impl Adapters {
    pub async fn from_env(config: &Config) -> Self {
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
            sms: Arc::new(SnsSms::new(aws_sdk_sns::Client::new(&sdk))),
            voice: Arc::new(EndUserMessagingVoice::new(
                aws_sdk_pinpointsmsvoicev2::Client::new(&sdk),
                config.voice_origination_identity.clone(),
            )),
        }
    }
}

/// An AWS SDK failure becomes `unavailable`; the full error goes to the log, not the caller.
fn dependency<E>(service: &str, err: E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::unavailable(format!(
        "{service}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    ))
}
