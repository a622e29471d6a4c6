//! Every secret the suite sees (codes, tokens, app secrets, recovery codes, full phone numbers,
//! addresses), written one per line to `E2E_SECRETS_FILE` when it is set, so that after the
//! run a test can grep every log the gateways wrote for each of them ([`leaks`]).

use std::io::Write;
use std::sync::Mutex;

use aho_corasick::AhoCorasick;
use serde_json::Value;

static FILE: Mutex<()> = Mutex::new(());

/// The fields of a request or an answer whose string values are secrets.
const SECRET_FIELDS: [&str; 12] = [
    "code",
    "step_up_token",
    "device_token",
    "assertion",
    "secret",
    "otpauth_uri",
    "recovery_code",
    "new_recovery_code",
    "phone_number",
    "email",
    "to",
    "token",
];

/// Records `value` as a secret the suite has seen.
pub fn saw(value: &str) {
    let value = value.trim();
    if value.len() < 6 || value.contains('\n') {
        return;
    }
    let Ok(path) = std::env::var("E2E_SECRETS_FILE") else {
        return;
    };
    let _guard = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{value}");
    }
}

/// Records an `otpauth://` URI and the app secret in it.
pub fn saw_uri(uri: &str) {
    saw(uri);
    if let Some(secret) = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
    {
        saw(secret);
    }
}

/// Records the secret fields of a JSON body (a request's or an answer's), at any depth.
pub fn saw_in(body: &Value) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    // An error's `code` names the error, not a secret.
                    _ if k == "error" => {}
                    Value::String(s) if k == "otpauth_uri" => saw_uri(s),
                    Value::String(s) if k == "phone_number" => {
                        // As typed, and as the service stores it (E.164).
                        saw(s);
                        if s.trim_start().starts_with('+') {
                            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                            saw(&format!("+{digits}"));
                        }
                    }
                    Value::String(s) if SECRET_FIELDS.contains(&k.as_str()) => saw(s),
                    Value::Array(items) if k == "recovery_codes" => {
                        items.iter().filter_map(Value::as_str).for_each(saw)
                    }
                    _ => saw_in(v),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(saw_in),
        _ => {}
    }
}

/// A secret found in a log: which secret and the file it is in.
#[derive(Debug, PartialEq, Eq)]
pub struct Leak {
    pub secret: String,
    pub log: String,
}

/// Every secret of `secrets` that appears in one of `logs` (name, text). A short all-digit
/// secret (a one-time code) counts only as a whole word, so a run of digits inside a longer
/// number or an id is not taken for it; anything else counts wherever it appears.
pub fn leaks<'a>(
    secrets: &[String],
    logs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<Leak> {
    let Ok(matcher) = AhoCorasick::new(secrets) else {
        return vec![];
    };
    let mut found = Vec::new();
    for (name, text) in logs {
        let bytes = text.as_bytes();
        for m in matcher.find_overlapping_iter(text) {
            let secret = &secrets[m.pattern().as_usize()];
            let code_like = secret.len() <= 10 && secret.bytes().all(|b| b.is_ascii_digit());
            let word = |i: Option<&u8>| i.is_none_or(|b| !b.is_ascii_alphanumeric());
            let whole = word(m.start().checked_sub(1).and_then(|i| bytes.get(i)))
                && word(bytes.get(m.end()));
            if (!code_like || whole)
                && !found
                    .iter()
                    .any(|l: &Leak| &l.secret == secret && l.log == name)
            {
                found.push(Leak {
                    secret: secret.clone(),
                    log: name.to_owned(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_anywhere_in_a_log_is_found_and_a_code_only_as_a_whole_word() {
        let secrets = vec![
            "482913".to_owned(),
            "+33612345678".to_owned(),
            "u1@example.com".to_owned(),
            "eyJhbGciOiJFUzI1NiJ9.x.y".to_owned(),
        ];
        let log = r#"{"message":"sent","id":"a1482913f","n":14829130,"note":"to +33612345678"}
{"fields":{"t":"Bearer eyJhbGciOiJFUzI1NiJ9.x.y"}}"#;
        let found = leaks(&secrets, [("gw.log", log)]);
        let names: Vec<&str> = found.iter().map(|l| l.secret.as_str()).collect();
        assert_eq!(names, ["+33612345678", "eyJhbGciOiJFUzI1NiJ9.x.y"]);
        let found = leaks(
            &secrets,
            [("gw.log", r#"{"code":"482913"} u1@example.com"#)],
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn the_secret_fields_of_a_body_are_recorded_at_any_depth() {
        let dir = std::env::temp_dir().join(format!("secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.txt");
        // Only this test sets the variable in this test binary's unit tests.
        std::env::set_var("E2E_SECRETS_FILE", &file);
        saw_in(&serde_json::json!({
            "step_up_token": "tok-123456789",
            "factor": { "phone_number": "+33 6 12 34 56 78", "label": "work phone" },
            "recovery_codes": ["ABCD-EFGH-IJKL"],
            "otpauth_uri": "otpauth://totp/X:u?secret=JBSWY3DPEHPK3PXP&issuer=X",
            "code": "12",
            "error": { "code": "invalid_code" }
        }));
        std::env::remove_var("E2E_SECRETS_FILE");
        let text = std::fs::read_to_string(&file).unwrap();
        let mut got: Vec<&str> = text.lines().collect();
        got.sort();
        assert_eq!(
            got,
            [
                "+33 6 12 34 56 78",
                "+33612345678",
                "ABCD-EFGH-IJKL",
                "JBSWY3DPEHPK3PXP",
                "otpauth://totp/X:u?secret=JBSWY3DPEHPK3PXP&issuer=X",
                "tok-123456789"
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
