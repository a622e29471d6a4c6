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
use aws_smithy_http_client::tls;
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
use mfa_domain::phone::PhoneNumber;
use mfa_domain::ports::{Signer, SmsSender, VoiceCaller, VoiceMessage};

/// The roots every AWS service endpoint's certificate chains to (Amazon Trust Services).
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The certificates the AWS clients trust, from `MFA_TLS_ROOTS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// `amazon` (the default): the five Amazon Trust Services roots built into the binary. No
    /// file is read at cold start, and no other CA can vouch for an AWS endpoint.
    #[default]
    Amazon,
    /// `system`: the machine's CA store (for a TLS-inspecting proxy, or an endpoint that is
    /// not AWS); read at cold start, about 150 certificates.
    System,
}

impl TlsRoots {
    /// From `MFA_TLS_ROOTS`; anything but `amazon`, `system` or unset stops the cold start.
    pub fn from_env() -> Result<Self> {
        Self::parse(std::env::var("MFA_TLS_ROOTS").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self> {
        match value.map(str::trim) {
            None | Some("") | Some("amazon") => Ok(Self::Amazon),
            Some("system") => Ok(Self::System),
            Some(_) => Err(Error::Internal(
                "MFA_TLS_ROOTS must be amazon or system".into(),
            )),
        }
    }

    fn trust_store(self) -> tls::TrustStore {
        match self {
            Self::Amazon => tls::TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_SERVICES),
            Self::System => tls::TrustStore::empty().with_native_roots(true),
        }
    }
}

/// The one HTTPS client every AWS client shares: hyper 1, rustls with ring, `roots`.
pub fn https_client(roots: TlsRoots) -> Result<SharedHttpClient> {
    let context = tls::TlsContext::builder()
        .with_trust_store(roots.trust_store())
        .build()
        .map_err(|e| Error::Internal(format!("TLS context: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https())
}

/// The shared SDK configuration: short timeouts and few retries, so a failing dependency turns
/// into a prompt 503 rather than a hung Lambda.
pub async fn sdk_config(roots: TlsRoots) -> Result<SdkConfig> {
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(roots)?)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(9))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await)
}

/// The clients a function builds besides the ones every function needs (DynamoDB, KMS for the
/// data key, SES for notices): a function that never texts builds no SNS client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clients {
    /// SNS, for codes by SMS.
    pub sms: bool,
    /// End User Messaging voice, for codes by call.
    pub voice: bool,
    /// The KMS key that signs login assertions.
    pub signer: bool,
}

impl Clients {
    /// Every client (the dev gateway serves every function).
    pub const ALL: Clients = Clients {
        sms: true,
        voice: true,
        signer: true,
    };
}

/// Stands in for a client a function does not build: using it is a deployment bug, answered
/// as an internal error rather than a panic.
struct NotWired(&'static str);

impl NotWired {
    fn refuse(&self) -> Error {
        Error::Internal(format!("{} is not wired into this function", self.0))
    }
}

#[async_trait::async_trait]
impl SmsSender for NotWired {
    async fn send_sms(&self, _: &PhoneNumber, _: &str) -> Result<()> {
        Err(self.refuse())
    }
}

#[async_trait::async_trait]
impl VoiceCaller for NotWired {
    async fn call(&self, _: &PhoneNumber, _: &VoiceMessage) -> Result<()> {
        Err(self.refuse())
    }
}

#[async_trait::async_trait]
impl Signer for NotWired {
    async fn sign(&self, _: &str, _: &[u8]) -> Result<Vec<u8>> {
        Err(self.refuse())
    }
    async fn public_key(&self) -> Result<(String, Vec<u8>)> {
        Err(self.refuse())
    }
}

pub use aws_sdk_dynamodb::config::SharedHttpClient;
/// An SDK interceptor every client of an app carries (the dev gateway's fault injection).
pub use aws_sdk_dynamodb::config::SharedInterceptor;

/// A client of `$service` from `$sdk`, with every interceptor of `$extra`; `once` for a
/// client that sends messages, which the SDK must never retry (a timed-out send may have gone
/// out, and a retry would send it again).
macro_rules! client {
    ($service:ident, $sdk:expr, $extra:expr) => {{
        let mut builder = $service::config::Builder::from($sdk);
        for i in $extra {
            builder.push_interceptor(i.clone());
        }
        $service::Client::from_conf(builder.build())
    }};
    ($service:ident, $sdk:expr, $extra:expr, once) => {{
        let mut builder = $service::config::Builder::from($sdk);
        for i in $extra {
            builder.push_interceptor(i.clone());
        }
        builder.set_retry_config(Some(RetryConfig::disabled()));
        $service::Client::from_conf(builder.build())
    }};
}

/// The AWS adapters, built once per cold start from `config`: only the `clients` asked for
/// besides the ones every function needs.
pub async fn adapters_from_env(config: &Config, clients: Clients) -> Result<Adapters> {
    adapters_with(config, clients, &[]).await
}

/// The adapters with `extra` interceptors on every client (none in production).
pub async fn adapters_with(
    config: &Config,
    clients: Clients,
    extra: &[SharedInterceptor],
) -> Result<Adapters> {
    let sdk = sdk_config(TlsRoots::from_env()?).await?;
    let kms = client!(aws_sdk_kms, &sdk, extra);
    Ok(Adapters {
        store: Arc::new(DynamoStore::new(
            client!(aws_sdk_dynamodb, &sdk, extra),
            &config.table_name,
        )),
        mailer: Arc::new(SesMailer::new(
            client!(aws_sdk_sesv2, &sdk, extra, once),
            &config.ses_from_address,
        )),
        vault: Arc::new(KmsVault::new(kms.clone(), &config.kms_data_key_id)),
        signer: match clients.signer {
            true => Arc::new(KmsSigner::new(kms, &config.assertion_key_id)),
            false => Arc::new(NotWired("the assertion signer")),
        },
        sms: match clients.sms {
            true => Arc::new(SnsSms::new(client!(aws_sdk_sns, &sdk, extra, once))),
            false => Arc::new(NotWired("SMS")),
        },
        voice: match clients.voice {
            true => Arc::new(EndUserMessagingVoice::new(
                client!(aws_sdk_pinpointsmsvoicev2, &sdk, extra, once),
                config.voice_origination_identity.clone(),
            )),
            false => Arc::new(NotWired("voice")),
        },
    })
}

/// The production wiring of one function: configuration from the environment, the AWS
/// adapters it uses, the system clock.
pub async fn app_from_env(clients: Clients) -> Result<App> {
    let config = Config::from_env()?;
    let aws = adapters_from_env(&config, clients).await?;
    Ok(App::new(config, aws, Arc::new(SystemClock)))
}

/// Every adapter, with another clock (the local dev gateway moves time; tests use it too)
/// and `extra` interceptors on every client.
pub async fn app_from_env_with_clock(
    clock: Arc<dyn Clock>,
    extra: &[SharedInterceptor],
) -> Result<App> {
    let config = Config::from_env()?;
    let aws = adapters_with(&config, Clients::ALL, extra).await?;
    Ok(App::new(config, aws, clock))
}

/// An AWS SDK failure becomes `unavailable`. Only the kind of failure and the AWS error code
/// are kept for the log: service messages can quote an address or a phone number.
fn dependency<E, R>(service: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata,
{
    // A call that timed out, or whose answer could not be read, may have been carried out:
    // the caller must not assume that nothing happened (a text may still arrive).
    let (kind, maybe_done) = match &err {
        SdkError::ConstructionFailure(_) => ("request construction failed", false),
        SdkError::TimeoutError(_) => ("timed out", true),
        SdkError::DispatchFailure(d) if d.is_timeout() => ("timed out", true),
        SdkError::DispatchFailure(_) => ("could not connect", false),
        SdkError::ResponseError(_) => ("unreadable response", true),
        SdkError::ServiceError(_) => ("service error", false),
        _ => ("failed", true),
    };
    let detail = format!("{service}: {kind} ({})", err.code().unwrap_or("no code"));
    match maybe_done {
        true => Error::unavailable_maybe_done(detail),
        false => Error::unavailable(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_trust_store_is_the_five_amazon_trust_services_roots_and_all_parse() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        // The same parse the SDK's HTTPS client does (it panics on a bad certificate).
        let ders = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES)
            .collect::<std::result::Result<Vec<_>, _>>()
            .expect("valid PEM");
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(ders);
        assert_eq!((valid, invalid), (5, 0));
        assert!(https_client(TlsRoots::Amazon).is_ok());
    }

    #[test]
    fn the_tls_roots_setting_is_amazon_by_default_system_on_request_and_refuses_anything_else() {
        assert_eq!(TlsRoots::parse(None).unwrap(), TlsRoots::Amazon);
        assert_eq!(TlsRoots::parse(Some("")).unwrap(), TlsRoots::Amazon);
        assert_eq!(TlsRoots::parse(Some("amazon")).unwrap(), TlsRoots::Amazon);
        assert_eq!(TlsRoots::parse(Some(" system ")).unwrap(), TlsRoots::System);
        for bad in ["none", "Amazon", "/etc/ssl/certs"] {
            assert!(
                matches!(TlsRoots::parse(Some(bad)), Err(Error::Internal(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn given_a_client_the_function_did_not_build_then_using_it_is_an_internal_error() {
        let sms: &dyn SmsSender = &NotWired("SMS");
        let number = PhoneNumber::parse(
            "+33623456789",
            mfa_domain::model::Channel::Sms,
            &Default::default(),
        )
        .unwrap();
        let err = sms.send_sms(&number, "hi").await.unwrap_err();
        assert_eq!(err.code(), "internal");
        let signer: &dyn Signer = &NotWired("the assertion signer");
        assert_eq!(signer.public_key().await.unwrap_err().code(), "internal");
    }
    #[test]
    fn a_timed_out_call_may_have_been_done_and_a_refused_connection_was_not() {
        let timeout: SdkError<SendEmailError, ()> =
            SdkError::timeout_error("operation timed out".to_owned());
        let e = dependency("ses", timeout);
        assert!(e.maybe_done(), "{e:?}");
        assert_eq!(e.code(), "unavailable");
        let service: SdkError<SendEmailError, ()> =
            SdkError::service_error(SendEmailError::unhandled("throttled".to_owned()), ());
        assert!(!dependency("ses", service).maybe_done());
    }

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
            Error::Unavailable { detail, maybe_done } => {
                assert_eq!(detail, "ses: service error (MessageRejected)");
                assert!(!maybe_done, "refused outright: nothing was sent");
            }
            other => panic!("{other:?}"),
        }
    }
}
