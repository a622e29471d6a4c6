//! Configuration from environment variables, read once per cold start.

use crate::error::{Error, Result};
use crate::phone::PhonePolicy;
use crate::pumping::{Ceiling, PumpingGuard};
use crate::rules::{CODE_LEN_RANGE, SELF_RESET_WAIT_DEFAULT_SECS, SELF_RESET_WAIT_RANGE};

/// Where the assertion signing key lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssertionSigner {
    /// An ECC_NIST_P256 KMS key: every assertion is one KMS `Sign` request, and the private
    /// key never leaves KMS.
    #[default]
    Kms,
    /// A P-256 key made by the service, kept sealed under the KMS-protected data key in the
    /// table and opened once per cold start: assertions are signed in process (no request,
    /// no cost per login), and the private key is in the function's memory, as the data key is.
    Local,
}

/// The relying party security keys and passkeys are registered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// The domain keys are bound to (`WEBAUTHN_RP_ID`, `example.com`; locally `localhost`).
    pub rp_id: String,
    /// The name a browser shows (`WEBAUTHN_RP_NAME`, default `SERVICE_NAME`).
    pub rp_name: String,
    /// The origins a response may come from (`WEBAUTHN_ORIGINS`, comma-separated, each
    /// `https://` or `http://localhost...`, each under `rp_id`).
    pub origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table holding every item (`TABLE_NAME`).
    pub table_name: String,
    /// KMS key that protects the data key (`KMS_DATA_KEY_ID`: key id, ARN or `alias/...`).
    pub kms_data_key_id: String,
    /// Verified SES sender (`SES_FROM_ADDRESS`).
    pub ses_from_address: String,
    /// Product name used in emails (`SERVICE_NAME`, default "Console").
    pub service_name: String,
    /// Length of emailed and texted codes (`CODE_LENGTH`, 6-8, default 6).
    pub code_length: usize,
    /// Which phone numbers may be a 2FA phone (`PHONE_ALLOWED_COUNTRIES`, `PHONE_DENY_LIST`).
    pub phone_policy: PhonePolicy,
    /// The End User Messaging origination identity (phone number or pool) that places voice
    /// calls (`VOICE_ORIGINATION_IDENTITY`); voice calls fail with 503 without it.
    pub voice_origination_identity: Option<String>,
    /// What signs login assertions (`ASSERTION_SIGNER`: `kms`, the default, or `local`).
    pub assertion_signer: AssertionSigner,
    /// The ECC_NIST_P256 KMS key that signs login assertions (`ASSERTION_KEY_ID`); required
    /// when KMS signs, unused when the key is in process.
    pub assertion_key_id: String,
    /// `iss` and `aud` of login assertions (`ASSERTION_ISSUER`, `ASSERTION_AUDIENCE`).
    pub assertion_issuer: String,
    pub assertion_audience: String,
    /// Seconds between a confirmed self-service reset and its completion
    /// (`SELF_RESET_WAIT_SECS`, 60 to 2592000, default 86400).
    pub self_reset_wait_secs: i64,
    /// Security keys (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`); without
    /// `WEBAUTHN_RP_ID` the service offers none.
    pub webauthn: Option<WebauthnConfig>,
    /// The SMS and voice pumping guard (`SMS_GUARD_*`, `SMS_DAILY_BUDGET`).
    pub pumping: PumpingGuard,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |k: &str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::Internal(format!("missing configuration {k}")))
        };
        let code_length = match get("CODE_LENGTH") {
            None => 6,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| CODE_LEN_RANGE.contains(n))
                .ok_or_else(|| Error::Internal("CODE_LENGTH must be 6, 7 or 8".into()))?,
        };
        let self_reset_wait_secs = match get("SELF_RESET_WAIT_SECS") {
            None => SELF_RESET_WAIT_DEFAULT_SECS,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| SELF_RESET_WAIT_RANGE.contains(n))
                .ok_or_else(|| {
                    Error::Internal("SELF_RESET_WAIT_SECS must be 60 to 2592000".into())
                })?,
        };
        let assertion_signer = match get("ASSERTION_SIGNER").as_deref().map(str::trim) {
            None | Some("") | Some("kms") => AssertionSigner::Kms,
            Some("local") => AssertionSigner::Local,
            Some(_) => {
                return Err(Error::Internal(
                    "ASSERTION_SIGNER must be kms or local".into(),
                ))
            }
        };
        let assertion_key_id = match assertion_signer {
            AssertionSigner::Kms => required("ASSERTION_KEY_ID")?,
            AssertionSigner::Local => get("ASSERTION_KEY_ID").unwrap_or_default(),
        };
        let service_name = get("SERVICE_NAME").unwrap_or_else(|| "Console".into());
        let webauthn = webauthn_config(&get, &service_name)?;
        let pumping = pumping_guard(&get)?;
        Ok(Config {
            pumping,
            webauthn,
            self_reset_wait_secs,
            assertion_signer,
            table_name: required("TABLE_NAME")?,
            kms_data_key_id: required("KMS_DATA_KEY_ID")?,
            ses_from_address: required("SES_FROM_ADDRESS")?,
            service_name,
            code_length,
            phone_policy: PhonePolicy::from_lists(
                &get("PHONE_ALLOWED_COUNTRIES").unwrap_or_default(),
                &get("PHONE_DENY_LIST").unwrap_or_default(),
            ),
            voice_origination_identity: get("VOICE_ORIGINATION_IDENTITY").filter(|v| !v.is_empty()),
            assertion_key_id,
            assertion_issuer: get("ASSERTION_ISSUER").unwrap_or_else(|| "mfa-service".into()),
            assertion_audience: get("ASSERTION_AUDIENCE").unwrap_or_else(|| "console".into()),
        })
    }
}

/// `SMS_GUARD_*` and `SMS_DAILY_BUDGET`: each a whole number, defaults as
/// [`PumpingGuard::default`]; a ceiling of 0 turns its counter off.
fn pumping_guard(get: &impl Fn(&str) -> Option<String>) -> Result<PumpingGuard> {
    let d = PumpingGuard::default();
    let int = |k: &str, default: i64, range: std::ops::RangeInclusive<i64>| -> Result<i64> {
        match get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "{k} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
        }
    };
    let ceiling = |name: &str, d: Ceiling| -> Result<Ceiling> {
        Ok(Ceiling {
            max: int(&format!("SMS_GUARD_{name}_MAX"), d.max, 0..=10_000_000)?,
            window_secs: int(
                &format!("SMS_GUARD_{name}_WINDOW_SECS"),
                d.window_secs,
                60..=7 * 86_400,
            )?,
        })
    };
    let proven_phones_in_block = match get("SMS_GUARD_PROVEN_PHONES_IN_BLOCK")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => d.proven_phones_in_block,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(Error::Internal(
                "SMS_GUARD_PROVEN_PHONES_IN_BLOCK must be true or false".into(),
            ))
        }
    };
    Ok(PumpingGuard {
        per_prefix: ceiling("PREFIX", d.per_prefix)?,
        per_country: ceiling("COUNTRY", d.per_country)?,
        per_source_ip: ceiling("IP", d.per_source_ip)?,
        block_secs: int("SMS_GUARD_BLOCK_SECS", d.block_secs, 60..=30 * 86_400)?,
        daily_budget: int("SMS_DAILY_BUDGET", d.daily_budget, 0..=1_000_000_000)?,
        proven_phones_in_block,
    })
}

/// `WEBAUTHN_*`: nothing without an RP id; with one, at least one origin, each on the RP id's
/// domain (or a subdomain of it) and either `https://` or a loopback `http://localhost`.
fn webauthn_config(
    get: &impl Fn(&str) -> Option<String>,
    service_name: &str,
) -> Result<Option<WebauthnConfig>> {
    let Some(rp_id) = get("WEBAUTHN_RP_ID")
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let bad = |what: &str| Error::Internal(format!("WEBAUTHN_ORIGINS: {what}"));
    let origins: Vec<String> = get("WEBAUTHN_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Err(bad("at least one origin is needed with WEBAUTHN_RP_ID"));
    }
    for o in &origins {
        let host = match o.split_once("://") {
            Some(("https", rest)) => rest,
            Some(("http", rest)) if rp_id == "localhost" => rest,
            _ => return Err(bad("each origin is https:// (http:// only for localhost)")),
        };
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
            return Err(bad(
                "each origin's host is WEBAUTHN_RP_ID or a subdomain of it",
            ));
        }
    }
    Ok(Some(WebauthnConfig {
        rp_name: get("WEBAUTHN_RP_NAME")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| service_name.to_owned()),
        rp_id,
        origins,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("ASSERTION_KEY_ID", "alias/mfa-assertion"),
        ("TABLE_NAME", "mfa"),
        ("KMS_DATA_KEY_ID", "alias/mfa-data"),
        ("SES_FROM_ADDRESS", "no-reply@example.com"),
    ];

    #[test]
    fn defaults_apply_when_only_required_values_are_set() {
        let c = Config::from_lookup(env(&BASE)).unwrap();
        assert_eq!(c.code_length, 6);
        assert_eq!(c.service_name, "Console");
        assert_eq!(c.self_reset_wait_secs, 86_400);
        assert_eq!(c.assertion_signer, AssertionSigner::Kms);
    }

    #[test]
    fn the_pumping_guard_has_defaults_takes_each_setting_and_refuses_nonsense() {
        let c = Config::from_lookup(env(&BASE)).unwrap();
        assert_eq!(c.pumping, PumpingGuard::default());
        assert_eq!(c.pumping.per_prefix.max, 10);
        assert_eq!(c.pumping.block_secs, 12 * 3600);
        assert!(c.pumping.proven_phones_in_block);
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("SMS_GUARD_PREFIX_MAX", "3"),
            ("SMS_GUARD_PREFIX_WINDOW_SECS", "600"),
            ("SMS_GUARD_COUNTRY_MAX", "0"),
            ("SMS_GUARD_IP_MAX", " 7 "),
            ("SMS_GUARD_BLOCK_SECS", "120"),
            ("SMS_DAILY_BUDGET", "25"),
            ("SMS_GUARD_PROVEN_PHONES_IN_BLOCK", "false"),
        ]);
        let g = Config::from_lookup(env(&pairs)).unwrap().pumping;
        assert_eq!((g.per_prefix.max, g.per_prefix.window_secs), (3, 600));
        assert_eq!((g.per_country.max, g.per_source_ip.max), (0, 7));
        assert_eq!((g.block_secs, g.daily_budget), (120, 25));
        assert!(!g.proven_phones_in_block);
        for (k, bad) in [
            ("SMS_GUARD_PREFIX_MAX", "-1"),
            ("SMS_GUARD_IP_MAX", "ten"),
            ("SMS_GUARD_COUNTRY_WINDOW_SECS", "0"),
            ("SMS_GUARD_BLOCK_SECS", "5"),
            ("SMS_DAILY_BUDGET", "1e6"),
            ("SMS_GUARD_PROVEN_PHONES_IN_BLOCK", "yes"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((k, bad));
            let err = Config::from_lookup(env(&pairs)).unwrap_err();
            assert!(err.to_string().contains(k), "{k}={bad}: {err}");
        }
    }

    #[test]
    fn assertions_are_signed_by_kms_unless_local_is_asked_and_only_kms_needs_a_key_id() {
        let without_key: Vec<_> = BASE
            .into_iter()
            .filter(|(k, _)| *k != "ASSERTION_KEY_ID")
            .collect();
        assert!(Config::from_lookup(env(&without_key)).is_err());
        let mut local = without_key.clone();
        local.push(("ASSERTION_SIGNER", "local"));
        let c = Config::from_lookup(env(&local)).unwrap();
        assert_eq!(c.assertion_signer, AssertionSigner::Local);
        let mut kms = BASE.to_vec();
        kms.push(("ASSERTION_SIGNER", "kms"));
        assert_eq!(
            Config::from_lookup(env(&kms)).unwrap().assertion_signer,
            AssertionSigner::Kms
        );
        for bad in ["hsm", "LOCAL", "true"] {
            let mut pairs = BASE.to_vec();
            pairs.push(("ASSERTION_SIGNER", bad));
            assert!(Config::from_lookup(env(&pairs)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_self_reset_wait_outside_a_minute_to_thirty_days_is_refused_at_start() {
        for bad in ["59", "2592001", "a day", "-1"] {
            let mut pairs = BASE.to_vec();
            pairs.push(("SELF_RESET_WAIT_SECS", bad));
            assert!(Config::from_lookup(env(&pairs)).is_err(), "{bad}");
        }
        let mut pairs = BASE.to_vec();
        pairs.push(("SELF_RESET_WAIT_SECS", "3600"));
        assert_eq!(
            Config::from_lookup(env(&pairs))
                .unwrap()
                .self_reset_wait_secs,
            3600
        );
    }

    #[test]
    fn code_length_outside_six_to_eight_is_refused_at_start() {
        for bad in ["5", "9", "six"] {
            let mut pairs = BASE.to_vec();
            pairs.push(("CODE_LENGTH", bad));
            assert!(Config::from_lookup(env(&pairs)).is_err(), "{bad}");
        }
        let mut pairs = BASE.to_vec();
        pairs.push(("CODE_LENGTH", "7"));
        assert_eq!(Config::from_lookup(env(&pairs)).unwrap().code_length, 7);
    }

    #[test]
    fn security_keys_need_an_rp_id_and_origins_on_its_domain() {
        assert_eq!(Config::from_lookup(env(&BASE)).unwrap().webauthn, None);
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = BASE.to_vec();
            all.extend_from_slice(pairs);
            Config::from_lookup(env(&all))
        };
        let c = with(&[
            ("WEBAUTHN_RP_ID", "example.com"),
            (
                "WEBAUTHN_ORIGINS",
                "https://example.com, https://app.example.com:8443/",
            ),
        ])
        .unwrap()
        .webauthn
        .unwrap();
        assert_eq!(c.rp_name, "Console");
        assert_eq!(
            c.origins,
            vec!["https://example.com", "https://app.example.com:8443"]
        );
        let local = with(&[
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_ORIGINS", "http://localhost:3000"),
            ("WEBAUTHN_RP_NAME", "Console (local)"),
        ])
        .unwrap()
        .webauthn
        .unwrap();
        assert_eq!(local.rp_name, "Console (local)");
        for bad in [
            "",
            "http://example.com",
            "https://example.org",
            "https://notexample.com",
            "example.com",
        ] {
            assert!(
                with(&[("WEBAUTHN_RP_ID", "example.com"), ("WEBAUTHN_ORIGINS", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_missing_table_name_is_refused_at_start() {
        let without: Vec<_> = BASE
            .into_iter()
            .filter(|(k, _)| *k != "TABLE_NAME")
            .collect();
        let err = Config::from_lookup(env(&without)).unwrap_err();
        assert!(format!("{err}").contains("TABLE_NAME"));
    }
}
