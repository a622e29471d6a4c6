//! AWS adapters behind the domain's ports, and the production wiring. Clients are built once per cold start; endpoints come from the
//! standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`), with no local cases.

mod dynamo;
mod http1;
mod kms;
mod ses;
mod sns;
mod voice;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
pub use aws_types::SdkConfig;
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

    /// The root store: the built-in roots, or the machine's (a certificate that does not
    /// parse is skipped, as the SDK's own client does).
    fn root_store(self) -> rustls::RootCertStore {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let certs: Vec<CertificateDer<'static>> = match self {
            Self::Amazon => CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES)
                .filter_map(std::result::Result::ok)
                .collect(),
            Self::System => rustls_native_certs::load_native_certs().certs,
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(certs);
        roots
    }
}

/// The one HTTPS client every AWS client shares: HTTP/1.1 (hyper-util's pool), rustls with
/// ring, `roots`.
pub fn https_client(roots: TlsRoots) -> Result<SharedHttpClient> {
    http1::client(roots.root_store()).map_err(|e| Error::Internal(format!("TLS context: {e}")))
}

/// Reads one variable of the environment (a map in tests); blank counts as unset.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> Lookup {
    Arc::new(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// The per-service endpoint overrides of the environment, as the SDK asks for them
/// (`AWS_ENDPOINT_URL_DYNAMODB`, then `AWS_ENDPOINT_URL`); nothing from profile files.
struct EnvServiceConfig(Lookup);

impl std::fmt::Debug for EnvServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvServiceConfig")
    }
}

impl LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        (self.0)(&format!("{}_{service}", key.env())).or_else(|| (self.0)(key.env()))
    }
}

/// The shared SDK configuration, from the environment a Lambda function is given: the region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and the standard endpoint overrides
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`). Nothing else is looked for: no profile
/// file, no instance metadata, no STS (aws-config's default chain is not linked). Short
/// timeouts and few retries, so a failing dependency turns into a prompt 503 rather than a
/// hung Lambda. A missing region or credential stops the cold start.
pub fn sdk_config(roots: TlsRoots) -> Result<SdkConfig> {
    sdk_config_from(roots, process_env())
}

fn sdk_config_from(roots: TlsRoots, env: Lookup) -> Result<SdkConfig> {
    let required =
        |name: &str| env(name).ok_or_else(|| Error::Internal(format!("{name} is not set")));
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or_else(|| Error::Internal("AWS_REGION is not set".into()))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        env("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client(roots)?)
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(9))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    builder.set_endpoint_url(env("AWS_ENDPOINT_URL"));
    Ok(builder.service_config(EnvServiceConfig(env)).build())
}

/// The clients a function builds besides the ones every function needs (DynamoDB, KMS for the
/// data key, SES for notices): a function that never texts builds no SNS client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clients {
    /// SNS, for codes by SMS.
    pub sms: bool,
    /// End User Messaging voice, for codes by call.
    pub voice: bool,
    /// The KMS key that signs login assertions.
    pub signer: bool,
}

impl Clients {
    /// No optional client.
    pub const NONE: Clients = Clients {
        sms: false,
        voice: false,
        signer: false,
    };

    /// Every client (the dev gateway serves every function).
    pub const ALL: Clients = Clients {
        sms: true,
        voice: true,
        signer: true,
    };
}

/// The optional clients one binary is wired with, chosen when it is compiled: a client that is
/// not chosen is not built, and its SDK crate's code is not even linked (settings then carries
/// no SNS or voice code), which is a binary's size and most of its resident memory.
pub trait Wiring {
    const CLIENTS: Clients;
}

/// Every optional client: the dev gateway, which serves every function from one process.
pub struct AllClients;

impl Wiring for AllClients {
    const CLIENTS: Clients = Clients::ALL;
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

/// A client built the first time it is used rather than at cold start. Building an SDK client
/// parses its service's endpoint partitions (each SDK crate has its own copy, and the parse
/// compiles a regex per partition): about 0.7 M instructions, a tenth of a cold start. A
/// message client (SES, SNS, voice) is needed only by the requests that send something, so a
/// cold start that sends nothing never pays for it. Built at most once per cold start.
pub struct LazyClient<C> {
    client: OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> LazyClient<C> {
    /// A client that `make` builds on first use.
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        LazyClient {
            client: OnceLock::new(),
            make: Box::new(make),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }

    /// Whether the client has been built (tests of the laziness).
    #[cfg(test)]
    fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

/// A client already built (tests with mocked clients).
impl<C: Clone + Send + Sync + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client.clone());
        LazyClient {
            client: cell,
            make: Box::new(move || client.clone()),
        }
    }
}

pub use aws_sdk_dynamodb::config::SharedHttpClient;
/// An SDK interceptor every client of an app carries (the dev gateway's fault injection).
pub use aws_sdk_dynamodb::config::SharedInterceptor;

/// A client of `$service` from `$sdk`, with every interceptor of `$extra`; `once` for a
/// client that sends messages, which the SDK must never retry (a timed-out send may have gone
/// out, and a retry would send it again); `lazy` for a [`LazyClient`] built on first use.
macro_rules! client {
    ($service:ident, $sdk:expr, $extra:expr) => {{
        let mut builder = $service::config::Builder::from($sdk);
        for i in $extra {
            builder.push_interceptor(i.clone());
        }
        $service::Client::from_conf(builder.build())
    }};
    ($service:ident, $sdk:expr, $extra:expr, once, lazy) => {{
        let sdk = $sdk.clone();
        let extra = $extra.to_vec();
        LazyClient::new(move || client!($service, &sdk, &extra, once))
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

/// The AWS adapters, built once per cold start from `config`: only the clients `W` names
/// besides the ones every function needs.
pub async fn adapters_from_env<W: Wiring>(config: &Config) -> Result<Adapters> {
    adapters_with::<W>(config, &[]).await
}

/// The adapters with `extra` interceptors on every client (none in production).
pub async fn adapters_with<W: Wiring>(
    config: &Config,
    extra: &[SharedInterceptor],
) -> Result<Adapters> {
    let sdk = sdk_config(TlsRoots::from_env()?)?;
    let kms = client!(aws_sdk_kms, &sdk, extra);
    Ok(Adapters {
        store: Arc::new(DynamoStore::new(
            client!(aws_sdk_dynamodb, &sdk, extra),
            &config.table_name,
        )),
        mailer: Arc::new(SesMailer::new(
            client!(aws_sdk_sesv2, &sdk, extra, once, lazy),
            &config.ses_from_address,
        )),
        vault: Arc::new(KmsVault::new(kms.clone(), &config.kms_data_key_id)),
        // Constant in each binary, so the branch not taken is compiled out with its SDK.
        signer: match W::CLIENTS.signer {
            true => Arc::new(KmsSigner::new(kms, &config.assertion_key_id)),
            false => Arc::new(NotWired("the assertion signer")),
        },
        sms: match W::CLIENTS.sms {
            true => Arc::new(SnsSms::new(client!(aws_sdk_sns, &sdk, extra, once, lazy))),
            false => Arc::new(NotWired("SMS")),
        },
        voice: match W::CLIENTS.voice {
            true => Arc::new(EndUserMessagingVoice::new(
                client!(aws_sdk_pinpointsmsvoicev2, &sdk, extra, once, lazy),
                config.voice_origination_identity.clone(),
            )),
            false => Arc::new(NotWired("voice")),
        },
    })
}

/// The production wiring of one function: configuration from the environment, the AWS
/// adapters `W` wires, the system clock.
pub async fn app_from_env<W: Wiring>() -> Result<App> {
    let config = Config::from_env()?;
    let aws = adapters_from_env::<W>(&config).await?;
    Ok(App::new(config, aws, Arc::new(SystemClock)))
}

/// Every adapter, with another clock (the local dev gateway moves time; tests use it too)
/// and `extra` interceptors on every client.
pub async fn app_from_env_with_clock(
    clock: Arc<dyn Clock>,
    extra: &[SharedInterceptor],
) -> Result<App> {
    let config = Config::from_env()?;
    let aws = adapters_with::<AllClients>(&config, extra).await?;
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
    fn a_lazy_client_is_built_on_its_first_use_and_only_once_however_many_ask() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let lazy = Arc::new(LazyClient::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            String::from("client")
        }));
        assert!(!lazy.is_built());
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "nothing built before first use"
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let lazy = lazy.clone();
                std::thread::spawn(move || lazy.get().clone())
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), "client");
        }
        assert!(lazy.is_built());
        assert_eq!(
            built.load(Ordering::SeqCst),
            1,
            "built once for eight users"
        );
        let ready = LazyClient::from(String::from("mocked"));
        assert!(ready.is_built());
        assert_eq!(ready.get(), "mocked");
    }

    #[tokio::test]
    async fn a_message_client_is_built_by_its_first_send_and_not_before() {
        let env: Lookup = Arc::new(|name| match name {
            "AWS_REGION" => Some("us-east-1".into()),
            "AWS_ACCESS_KEY_ID" => Some("test".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("test".into()),
            // Nothing listens here: a send fails fast, after the client is built.
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".into()),
            _ => None,
        });
        let sdk = sdk_config_from(TlsRoots::Amazon, env).unwrap();
        let ses: LazyClient<aws_sdk_sesv2::Client> =
            client!(aws_sdk_sesv2, &sdk, &[] as &[SharedInterceptor], once, lazy);
        assert!(!ses.is_built());
        let mailer = SesMailer::new(ses, "no-reply@example.com");
        let message = mfa_domain::ports::EmailMessage {
            to: mfa_domain::types::Email::parse("someone@example.com").unwrap(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        assert!(mfa_domain::ports::Mailer::send(&mailer, &message)
            .await
            .is_err());
        assert!(mailer.client.is_built());
    }

    #[test]
    fn the_built_in_trust_store_is_the_five_amazon_trust_services_roots_and_all_parse() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let ders = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES)
            .collect::<std::result::Result<Vec<_>, _>>()
            .expect("valid PEM");
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(ders);
        assert_eq!((valid, invalid), (5, 0));
        assert_eq!(TlsRoots::Amazon.root_store().len(), 5);
        assert!(https_client(TlsRoots::Amazon).is_ok());
    }

    fn env_of(pairs: &[(&str, &str)]) -> Lookup {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |name| map.get(name).cloned())
    }

    const LAMBDA_ENV: [(&str, &str); 5] = [
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("AWS_SESSION_TOKEN", "session"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
    ];

    fn endpoint_of(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config()?.load_config(key)
    }

    #[tokio::test]
    async fn the_sdk_configuration_is_the_region_and_role_credentials_lambda_puts_in_the_environment(
    ) {
        use aws_credential_types::provider::ProvideCredentials;
        let sdk = sdk_config_from(TlsRoots::Amazon, env_of(&LAMBDA_ENV)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-3"));
        let credentials = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(
            (
                credentials.access_key_id(),
                credentials.secret_access_key(),
                credentials.session_token()
            ),
            ("AKIDEXAMPLE", "wJalrXUtnFEMI", Some("session"))
        );
        let retry = sdk.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 2);
        let timeouts = sdk.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(9)));
        assert!(sdk.sleep_impl().is_some() && sdk.time_source().is_some());
        // Without a session token (long-term keys, as locally), and with the older region name.
        let mut local = LAMBDA_ENV.to_vec();
        local.retain(|(k, _)| !matches!(*k, "AWS_SESSION_TOKEN" | "AWS_REGION"));
        local.push(("AWS_DEFAULT_REGION", "us-east-1"));
        let sdk = sdk_config_from(TlsRoots::Amazon, env_of(&local)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        let credentials = sdk.credentials_provider().unwrap();
        assert_eq!(
            credentials
                .provide_credentials()
                .await
                .unwrap()
                .session_token(),
            None
        );
    }

    #[test]
    fn an_endpoint_set_for_one_service_wins_over_the_one_set_for_all() {
        let sdk = sdk_config_from(TlsRoots::Amazon, env_of(&LAMBDA_ENV)).unwrap();
        assert_eq!(
            endpoint_of(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint_of(&sdk, "SESv2"),
            None,
            "real AWS when nothing is set"
        );
        let mut env = LAMBDA_ENV.to_vec();
        env.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"));
        env.push((
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
            "http://127.0.0.1:9",
        ));
        let sdk = sdk_config_from(TlsRoots::Amazon, env_of(&env)).unwrap();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4566"));
        for (service, url) in [
            ("DynamoDB", "http://127.0.0.1:8000"),
            ("SESv2", "http://127.0.0.1:4566"),
            ("Pinpoint SMS Voice V2", "http://127.0.0.1:9"),
        ] {
            assert_eq!(
                endpoint_of(&sdk, service).as_deref(),
                Some(url),
                "{service}"
            );
        }
    }

    #[test]
    fn a_cold_start_without_a_region_or_credentials_stops_and_names_what_is_missing() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let mut env = LAMBDA_ENV.to_vec();
            env.retain(|(k, _)| *k != missing);
            let err = sdk_config_from(TlsRoots::Amazon, env_of(&env)).unwrap_err();
            assert!(
                matches!(&err, Error::Internal(m) if m.contains(missing)),
                "{missing}: {err:?}"
            );
            assert!(!format!("{err:?}").contains("wJalrXUtnFEMI"));
        }
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
