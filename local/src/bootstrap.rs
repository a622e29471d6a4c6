//! Prepares a local AWS stack the way the IaC template prepares a real account: the table (with
//! TTL), the KMS key behind the data key, and the SES sender identity. Safe to run again.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

pub struct Settings {
    pub table_name: String,
    pub kms_alias: String,
    /// Alias of the ECC_NIST_P256 key that signs login assertions.
    pub assertion_alias: String,
    pub from_address: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let get = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(Settings {
            table_name: get("TABLE_NAME")?,
            kms_alias: get("KMS_DATA_KEY_ID")?,
            assertion_alias: get("ASSERTION_KEY_ID")?,
            from_address: get("SES_FROM_ADDRESS")?,
        })
    }
}

/// The error with its whole source chain (the SDK's top-level text alone says little).
fn err(what: &str, e: impl std::error::Error) -> String {
    let mut s = format!("{what}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Prepares everything with clients built from one SDK configuration.
pub async fn run(sdk: &SdkConfig, s: &Settings) -> Result<(), String> {
    run_with(
        &aws_sdk_dynamodb::Client::new(sdk),
        &aws_sdk_kms::Client::new(sdk),
        &aws_sdk_sesv2::Client::new(sdk),
        s,
    )
    .await
}

/// Prepares everything with the given clients (tests point KMS and SES at a private moto).
pub async fn run_with(
    db: &aws_sdk_dynamodb::Client,
    kms: &aws_sdk_kms::Client,
    ses: &aws_sdk_sesv2::Client,
    s: &Settings,
) -> Result<(), String> {
    create_table(db, &s.table_name).await?;
    create_kms_key(kms, &s.kms_alias, KeyKind::DataKey).await?;
    create_kms_key(kms, &s.assertion_alias, KeyKind::Signing).await?;
    create_sender(ses, &s.from_address).await
}

async fn create_table(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .map_err(|e| e.to_string())
    };
    let res = db
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(err("create table", e)),
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("ttl")
        .enabled(true)
        .build()
        .map_err(|e| e.to_string())?;
    // Enabling TTL twice is refused with a validation error; the state we want is reached.
    let _ = db
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await;
    Ok(())
}

#[derive(Clone, Copy)]
enum KeyKind {
    /// Symmetric: protects the data key.
    DataKey,
    /// ECC_NIST_P256 sign/verify: signs login assertions.
    Signing,
}

async fn create_kms_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
    kind: KeyKind,
) -> Result<(), String> {
    let aliases = kms
        .list_aliases()
        .send()
        .await
        .map_err(|e| err("list kms aliases", e))?;
    if aliases
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some(alias) && a.target_key_id().is_some())
    {
        return Ok(());
    }
    let request = match kind {
        KeyKind::DataKey => kms
            .create_key()
            .description("mfa local data-key master key"),
        KeyKind::Signing => kms
            .create_key()
            .description("mfa local assertion signing key")
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify),
    };
    let key = request.send().await.map_err(|e| err("create kms key", e))?;
    let key_id = key
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or("kms returned no key id")?;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
        .map_err(|e| err("create kms alias", e))?;
    Ok(())
}

async fn create_sender(ses: &aws_sdk_sesv2::Client, from: &str) -> Result<(), String> {
    match ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(err("create ses identity", e)),
    }
}
