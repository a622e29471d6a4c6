//! Validated values. Each type can only be built by `parse`, so a value that exists is valid and
//! the domain never checks it again (parse, don't validate).

use std::fmt;

use crate::error::{Error, Result};

/// The `sub` claim: who is calling. Printable ASCII, no `#` (our key separator), 1-128 chars.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(s: &str) -> Result<Self> {
        let ok =
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if ok {
            Ok(UserId(s.to_owned()))
        } else {
            Err(Error::Unauthorized(
                "the token's sub claim is not a valid user id".into(),
            ))
        }
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// An email address (RFC 5322 addr-spec as checked by `email_address`). Its Debug is masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self> {
        if s.len() > 254 || !email_address::EmailAddress::is_valid(s) {
            return Err(Error::invalid("not a valid email address"));
        }
        Ok(Email(s.to_owned()))
    }

    /// `j***@example.com`: enough for a person to recognise their own address, no more.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

/// A one-time code as typed by a person: exactly `len` ASCII digits. Its Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// Parses a code of exactly `len` digits. Spaces and dashes a person may type are dropped.
    pub fn parse(s: &str, len: usize) -> Result<Self> {
        let digits: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if s.len() > 32 || digits.len() != len || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(format!("code must be {len} digits")));
        }
        Ok(OtpCode(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// Identifiers of things we created: a UUID v4, hyphenated. Each kind is its own type, so a
/// factor id can never be passed where a challenge id is expected.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new() -> Self {
                $name(uuid::Uuid::new_v4().to_string())
            }

            /// Parses an id sent as `field` (named in the error).
            pub fn parse(s: &str, field: &str) -> Result<Self> {
                uuid::Uuid::parse_str(s)
                    .ok()
                    .filter(|u| u.hyphenated().to_string() == s)
                    .map(|_| $name(s.to_owned()))
                    .ok_or_else(|| Error::invalid(format!("{field} is not a valid id")))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

uuid_id!(
    /// A one-time code challenge (login, step-up, self-reset request).
    ChallengeId
);
uuid_id!(
    /// A second factor.
    FactorId
);
uuid_id!(
    /// A remembered device.
    DeviceId
);

/// An opaque bearer secret we issued (step-up token, later device tokens): 32 random bytes,
/// base64url without padding. Its Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    pub const ENCODED_LEN: usize = 43;

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        OpaqueToken(data_encoding::BASE64URL_NOPAD.encode(bytes))
    }

    pub fn parse(s: &str) -> Result<Self> {
        let ok = s.len() == Self::ENCODED_LEN
            && data_encoding::BASE64URL_NOPAD
                .decode(s.as_bytes())
                .is_ok_and(|b| b.len() == 32);
        if ok {
            Ok(OpaqueToken(s.to_owned()))
        } else {
            Err(Error::invalid("malformed token"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// A person's name for a factor ("Work phone"): 1-64 printable characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
            return Err(Error::invalid("label must be 1-64 printable characters"));
        }
        Ok(Label(t.to_owned()))
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Role in the caller's organisation (`org_role` claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgRole {
    Owner,
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "owner" => Ok(OrgRole::Owner),
            "admin" => Ok(OrgRole::Admin),
            "member" => Ok(OrgRole::Member),
            _ => Err(Error::Unauthorized(
                "the token's org_role claim is not known".into(),
            )),
        }
    }
}

/// The account's plan (`plan` claim): 2FA is optional on trial, required on paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Trial,
    Paid,
}

impl Plan {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "trial" => Ok(Plan::Trial),
            "paid" => Ok(Plan::Paid),
            _ => Err(Error::Unauthorized(
                "the token's plan claim is not known".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_masked_to_first_letter_and_domain() {
        let e = Email::parse("jane.doe@example.com").unwrap();
        assert_eq!(e.masked(), "j***@example.com");
        assert!(!format!("{e:?}").contains("jane"));
    }

    #[test]
    fn otp_code_accepts_exact_digits_and_strips_separators() {
        assert_eq!(OtpCode::parse("123 456", 6).unwrap().as_str(), "123456");
        assert_eq!(OtpCode::parse("1234-567", 7).unwrap().as_str(), "1234567");
        for bad in ["12345", "1234567", "12a456", "", "١٢٣٤٥٦"] {
            assert!(OtpCode::parse(bad, 6).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", OtpCode::parse("123456", 6).unwrap()),
            "OtpCode(<redacted>)"
        );
    }

    #[test]
    fn user_id_refuses_separator_and_whitespace() {
        assert!(UserId::parse("auth0|abc-123").is_ok());
        for bad in ["", "a#b", "a b", "ä", &"x".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(
            Label::parse("  Work phone ").unwrap().as_ref(),
            "Work phone"
        );
        for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
            assert!(Label::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_and_plans_parse_only_known_values() {
        assert_eq!(OrgRole::parse("owner").unwrap(), OrgRole::Owner);
        assert!(OrgRole::parse("Owner").is_err());
        assert_eq!(Plan::parse("paid").unwrap(), Plan::Paid);
        assert!(Plan::parse("free").is_err());
    }

    proptest! {
        #[test]
        fn otp_code_parse_accepts_only_strings_of_len_digits(s in "\\PC{0,12}", len in 6usize..=8) {
            let digits = s.chars().filter(|c| *c != ' ' && *c != '-').collect::<String>();
            let expect = digits.len() == len && digits.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(OtpCode::parse(&s, len).is_ok(), expect);
        }

        #[test]
        fn otp_code_round_trips_any_code_of_its_length(n in 0u32..1_000_000) {
            let s = format!("{n:06}");
            let parsed = OtpCode::parse(&s, 6).unwrap();
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }

        #[test]
        fn id_parse_accepts_generated_ids_and_refuses_noise(s in "\\PC{0,40}") {
            let id = ChallengeId::new();
            prop_assert!(ChallengeId::parse(id.as_ref(), "id").is_ok());
            prop_assert!(FactorId::parse(FactorId::new().as_ref(), "id").is_ok());
            prop_assert!(DeviceId::parse(DeviceId::new().as_ref(), "id").is_ok());
            if uuid::Uuid::parse_str(&s).map(|u| u.hyphenated().to_string() != s).unwrap_or(true) {
                prop_assert!(ChallengeId::parse(&s, "id").is_err());
                prop_assert!(FactorId::parse(&s, "id").is_err());
                prop_assert!(DeviceId::parse(&s, "id").is_err());
            }
        }

        #[test]
        fn opaque_token_parse_round_trips_and_refuses_other_lengths(bytes in any::<[u8; 32]>(), s in "[A-Za-z0-9_-]{0,42}") {
            let t = OpaqueToken::from_bytes(&bytes);
            prop_assert_eq!(OpaqueToken::parse(t.as_str()).unwrap(), t);
            prop_assert!(OpaqueToken::parse(&s).is_err());
        }

        #[test]
        fn email_masking_never_reveals_more_than_the_first_letter(local in "[a-z]{2,20}", domain in "[a-z]{1,10}\\.com") {
            let e = Email::parse(&format!("{local}@{domain}")).unwrap();
            let expected = format!("{}***@{}", &local[..1], domain);
            prop_assert_eq!(e.masked(), expected);
        }

        #[test]
        fn user_id_never_accepts_the_key_separator(a in "[!-~]{0,20}", b in "[!-~]{0,20}") {
            let s = format!("{a}#{b}");
            prop_assert!(UserId::parse(&s).is_err());
        }
    }
}
