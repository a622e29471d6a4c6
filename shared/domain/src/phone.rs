//! Phone numbers for SMS and voice codes, parsed with libphonenumber's metadata
//! (`rlibphonenumber`, a port tested against Google's C++ library): typed with spaces and
//! punctuation, or national with a country, and always kept as E.164. Refused with a clear
//! reason when they cannot or must not take codes.
//!
//! Only enrolment parses a number, and it loads only the metadata of the number's country
//! calling code ([`metadata`]). What the parse found (the country code and the kind of line) is
//! sealed with the number ([`PhoneNumber::to_stored`]), so sending a code, listing methods or
//! masking a stored number never loads metadata: a function that never enrols a phone does not
//! link it.

mod metadata;

use std::fmt;
use std::sync::Arc;

use rlibphonenumber::{PhoneNumberFormat, PhoneNumberType as Type, PhoneNumberUtil, Region};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Channel;

/// What the operator allows (from configuration).
#[derive(Debug, Clone, Default)]
pub struct PhonePolicy {
    /// ISO 3166 region codes allowed (`US`, `GB`, ...); empty allows every region.
    pub allowed_countries: Vec<String>,
    /// Numbers that must never be a 2FA phone (the operator's own, seed 004). An entry ending
    /// in `*` is a prefix.
    pub deny_list: Vec<String>,
}

impl PhonePolicy {
    /// Parses `PHONE_ALLOWED_COUNTRIES` / `PHONE_DENY_LIST` style comma-separated lists.
    pub fn from_lists(allowed: &str, deny: &str) -> Self {
        let split = |s: &str| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
        };
        PhonePolicy {
            allowed_countries: split(allowed)
                .into_iter()
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            deny_list: split(deny),
        }
    }

    fn denies(&self, e164: &str) -> bool {
        self.deny_list.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => e164.starts_with(prefix),
            None => d == e164,
        })
    }
}

/// Whether a line can take SMS, or only calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Mobile,
    FixedLineOrMobile,
    FixedLine,
}

/// A number that can receive codes on at least one channel. Its Debug is masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: String,
    /// Unknown only for a number sealed before the country code was (see `from_stored`).
    country_code: Option<u16>,
    kind: LineKind,
}

/// The sealed form of a phone factor's number.
#[derive(Serialize, Deserialize)]
struct Stored {
    e164: String,
    cc: u16,
    line: LineKind,
}

/// `+` then 1 to 15 digits, the first not 0.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        !digits.is_empty()
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Where a parse gets libphonenumber from: the metadata of one country calling code at a time
/// ([`ByCode`]), or in tests the crate's whole metadata, to compare the two.
trait Utils {
    /// A util that can read a number with these digits (E.164 without the `+`), if any can.
    fn for_number(&self, digits: &str) -> Result<Option<Arc<PhoneNumberUtil>>>;
    /// A util that can read national numbers of this region, if any can.
    fn for_region(&self, region: Region) -> Result<Option<Arc<PhoneNumberUtil>>>;
}

struct ByCode;

impl Utils for ByCode {
    fn for_number(&self, digits: &str) -> Result<Option<Arc<PhoneNumberUtil>>> {
        let Some(cc) = metadata::country_code_of(digits) else {
            return Ok(None);
        };
        let entries = metadata::entries_of(cc);
        let Some(&main) = entries.first() else {
            return Ok(None);
        };
        if entries.len() > 1 {
            let util = metadata::util_for(&[main])?;
            if main_region_answers(&util, digits, metadata::region_of(main)) {
                return Ok(Some(util));
            }
        }
        metadata::util_for(&entries).map(Some)
    }

    fn for_region(&self, region: Region) -> Result<Option<Arc<PhoneNumberUtil>>> {
        metadata::entry_of_region(&region.to_string())
            .map(|entry| metadata::util_for(&[entry]))
            .transpose()
    }
}

/// Whether a number of a code several regions share is its main region's, so that region's
/// metadata alone answers for it as the whole code's does. libphonenumber tries a shared code's
/// regions main region first and takes the first whose leading digits or number types match
/// the number. If the main region is loaded (with any others of the code) and is the one
/// taken, with a known type, the whole code would take it too: parsing, validity and type then
/// read only its metadata. For any other number the whole code is loaded (all 25 NANPA
/// regions for a Canadian number, about 0.7 MB of heap more than the US alone).
fn main_region_answers(util: &PhoneNumberUtil, digits: &str, main: &str) -> bool {
    let Ok(number) = util.parse(format!("+{digits}"), None) else {
        return false;
    };
    util.get_number_type(&number) != Type::Unknown
        && util
            .get_region_for_number(&number)
            .is_some_and(|region| region.to_string() == main)
}

fn not_a_number() -> Error {
    Error::invalid("phone_number is not a phone number")
}

impl PhoneNumber {
    /// Parses an E.164 number (`+` and digits, nothing else) and checks it may be used for
    /// `channel` under `policy`. Every refusal says why, without echoing the number.
    pub fn parse(s: &str, channel: Channel, policy: &PhonePolicy) -> Result<Self> {
        Self::parse_using(&ByCode, s, channel, policy)
    }

    fn parse_using(
        utils: &impl Utils,
        s: &str,
        channel: Channel,
        policy: &PhonePolicy,
    ) -> Result<Self> {
        if !is_e164(s) {
            return Err(Error::invalid(
                "phone_number must be in E.164 form: + then country code and number, digits only (e.g. +14155552671)",
            ));
        }
        let util = utils.for_number(&s[1..])?.ok_or_else(not_a_number)?;
        let parsed = util.parse(s, None).map_err(|_| not_a_number())?;
        if !util.is_valid_number(&parsed) {
            return Err(Error::invalid(
                "phone_number is not a valid number in its country",
            ));
        }
        let e164 = util.format(&parsed, PhoneNumberFormat::E164).into_owned();
        if e164 != s {
            return Err(Error::invalid(
                "phone_number is not in canonical E.164 form",
            ));
        }
        let kind = match util.get_number_type(&parsed) {
            Type::Mobile => LineKind::Mobile,
            Type::FixedLineOrMobile => LineKind::FixedLineOrMobile,
            Type::FixedLine => LineKind::FixedLine,
            Type::TollFree => return Err(Error::invalid("toll-free numbers cannot receive codes")),
            Type::PremiumRate | Type::SharedCost => {
                return Err(Error::invalid(
                    "premium-rate and shared-cost numbers cannot receive codes",
                ))
            }
            Type::VoIP => return Err(Error::invalid("VoIP numbers cannot receive codes")),
            Type::Pager | Type::UAN | Type::PersonalNumber | Type::VoiceMail => {
                return Err(Error::invalid("this kind of number cannot receive codes"))
            }
            _ => {
                return Err(Error::invalid(
                    "the number's line type is unknown, so it cannot receive codes",
                ))
            }
        };
        let number = PhoneNumber {
            e164,
            country_code: u16::try_from(parsed.country_code).ok(),
            kind,
        };
        number.check_channel(channel)?;
        if !policy.allowed_countries.is_empty() {
            let region = util.get_region_for_number(&parsed).map(|id| id.to_string());
            if !region.is_some_and(|r| policy.allowed_countries.contains(&r.to_ascii_uppercase())) {
                return Err(Error::invalid(
                    "numbers from this country are not supported",
                ));
            }
        }
        if policy.denies(&number.e164) {
            return Err(Error::invalid(
                "this number cannot be used for two-factor authentication",
            ));
        }
        Ok(number)
    }

    /// Refuses SMS to a landline (`400`: the caller asked for the wrong channel).
    pub fn check_channel(&self, channel: Channel) -> Result<()> {
        if self.kind == LineKind::FixedLine && channel == Channel::Sms {
            return Err(Error::invalid(
                "this is a landline and cannot receive SMS; use channel \"voice\"",
            ));
        }
        Ok(())
    }

    /// What a phone factor seals: the number and what its parse found.
    pub fn to_stored(&self) -> Result<Vec<u8>> {
        let country_code = self
            .country_code
            .ok_or_else(|| Error::Internal("a number with no country code to store".into()))?;
        serde_json::to_vec(&Stored {
            e164: self.e164.clone(),
            cc: country_code,
            line: self.kind,
        })
        .map_err(|e| Error::Internal(format!("phone number encoding: {e}")))
    }

    /// A number as [`PhoneNumber::to_stored`] sealed it, after it passed [`PhoneNumber::parse`]
    /// at enrolment (no policy is checked again). A factor sealed before the country code and
    /// line were holds the bare E.164: it masks without its country code, and takes SMS only
    /// if it was enrolled by SMS (`enrolled`), which proved it is not a landline.
    pub fn from_stored(bytes: &[u8], enrolled: Channel) -> Result<Self> {
        let corrupt = || Error::Internal("stored phone number is corrupt".into());
        let number = if bytes.first() == Some(&b'{') {
            let stored: Stored = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
            let cc = stored.cc.to_string();
            if !stored
                .e164
                .strip_prefix('+')
                .is_some_and(|d| d.starts_with(&cc))
            {
                return Err(corrupt());
            }
            PhoneNumber {
                e164: stored.e164,
                country_code: Some(stored.cc),
                kind: stored.line,
            }
        } else {
            let e164 = std::str::from_utf8(bytes).map_err(|_| corrupt())?;
            PhoneNumber {
                e164: e164.to_owned(),
                country_code: None,
                kind: match enrolled {
                    Channel::Sms => LineKind::FixedLineOrMobile,
                    Channel::Voice => LineKind::FixedLine,
                },
            }
        };
        if !is_e164(&number.e164) {
            return Err(corrupt());
        }
        Ok(number)
    }

    /// Parses a number as a person types it: `+` and the country code, then digits with
    /// spaces, dashes, dots or parentheses between them (`+1 (415) 555-0134`); or a national
    /// number (`06 12 34 56 78`) with its ISO 3166 `country` (`FR`). The result is the
    /// canonical E.164, checked as [`PhoneNumber::parse`] checks it.
    pub fn parse_input(
        s: &str,
        country: Option<&str>,
        channel: Channel,
        policy: &PhonePolicy,
    ) -> Result<Self> {
        Self::parse_input_using(&ByCode, s, country, channel, policy)
    }

    fn parse_input_using(
        utils: &impl Utils,
        s: &str,
        country: Option<&str>,
        channel: Channel,
        policy: &PhonePolicy,
    ) -> Result<Self> {
        let s = s.trim();
        let (plus, rest) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if s.len() > 40
            || !rest
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(Error::invalid(
                "phone_number may hold only digits, spaces, dashes, dots and parentheses after the +",
            ));
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if plus {
            return Self::parse_using(utils, &format!("+{digits}"), channel, policy);
        }
        let Some(country) = country else {
            return Err(Error::invalid(
                "phone_number must start with + and the country code, or give its country",
            ));
        };
        let region = Region::from_code(&country.trim().to_ascii_uppercase())
            .map_err(|_| Error::invalid("country must be an ISO 3166 code such as US or FR"))?;
        let util = utils.for_region(region)?.ok_or_else(not_a_number)?;
        let parsed = util
            .parse(&digits, Some(region))
            .map_err(|_| not_a_number())?;
        Self::parse_using(
            utils,
            &util.format(&parsed, PhoneNumberFormat::E164),
            channel,
            policy,
        )
    }

    pub fn e164(&self) -> &str {
        &self.e164
    }

    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// The country calling code (`33`), if it was stored with the number.
    pub fn country_code(&self) -> Option<u16> {
        self.country_code
    }

    /// The destination range: the E.164 number without its last four digits (`+3361234`),
    /// which the pumping guard counts and blocks as one.
    pub fn range(&self) -> &str {
        &self.e164[..self.e164.len().saturating_sub(4).max(2)]
    }

    /// `+1******0123`: the country code and the last four digits (`+*******0123` when the
    /// country code is not stored).
    pub fn masked(&self) -> String {
        let cc = self
            .country_code
            .map(|cc| cc.to_string())
            .unwrap_or_default();
        let national = &self.e164[1 + cc.len()..];
        let keep = national.len().min(4);
        format!(
            "+{cc}{}{}",
            "*".repeat(national.len() - keep),
            &national[national.len() - keep..]
        )
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_as_people_type_it_is_read_as_its_e164() {
        let p = PhonePolicy::default();
        for typed in [
            "+1 (415) 555-0134",
            "+1 415.555.0134",
            " +1-415-555-0134 ",
            "+14155550134",
        ] {
            let n = PhoneNumber::parse_input(typed, None, Channel::Voice, &p).unwrap();
            assert_eq!(n.e164(), "+14155550134", "{typed}");
        }
        let fr = PhoneNumber::parse_input("06 12 34 56 78", Some("fr"), Channel::Sms, &p).unwrap();
        assert_eq!(fr.e164(), "+33612345678");
        let same = PhoneNumber::parse_input("+33 6 12 34 56 78", Some("US"), Channel::Sms, &p);
        assert_eq!(
            same.unwrap().e164(),
            "+33612345678",
            "a + number ignores country"
        );
    }

    #[test]
    fn typed_input_that_is_not_a_number_is_refused_without_echoing_it() {
        let p = PhonePolicy::default();
        for (typed, country) in [
            ("+1 415 555 0134 ext 2", None),
            ("+1/415/5550134", None),
            ("06 12 34 56 78", None),
            ("06 12 34 56 78", Some("ZZ")),
            ("", Some("FR")),
            ("+", None),
        ] {
            let err = PhoneNumber::parse_input(typed, country, Channel::Sms, &p).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{typed:?}");
            if typed.len() > 3 {
                assert!(!err.public_message().contains(typed), "{typed}");
            }
        }
    }

    #[test]
    fn typed_numbers_refused_for_what_they_are_stay_refused() {
        let deny = PhonePolicy::from_lists("", "+33612345678");
        let err = PhoneNumber::parse_input("+33 6 12 34 56 78", None, Channel::Sms, &deny);
        assert!(err.is_err(), "deny list");
        let fr_only = PhonePolicy::from_lists("FR", "");
        assert!(
            PhoneNumber::parse_input("+1 (415) 555-0134", None, Channel::Voice, &fr_only).is_err()
        );
        // A French landline cannot take SMS, typed or not.
        assert!(PhoneNumber::parse_input(
            "01 42 68 53 00",
            Some("FR"),
            Channel::Sms,
            &Default::default()
        )
        .is_err());
        assert!(PhoneNumber::parse_input(
            "01 42 68 53 00",
            Some("FR"),
            Channel::Voice,
            &Default::default()
        )
        .is_ok());
        // Toll-free.
        assert!(PhoneNumber::parse_input(
            "+1 (800) 555-0199",
            None,
            Channel::Voice,
            &Default::default()
        )
        .is_err());
    }
    #[test]
    fn a_stored_number_keeps_its_line_and_country_code_and_is_not_parsed_again() {
        for (e164, channel, kind, masked) in [
            (
                "+33612345678",
                Channel::Sms,
                LineKind::Mobile,
                "+33*****5678",
            ),
            (
                "+12015550123",
                Channel::Sms,
                LineKind::FixedLineOrMobile,
                "+1******0123",
            ),
            (
                "+442079460123",
                Channel::Voice,
                LineKind::FixedLine,
                "+44******0123",
            ),
        ] {
            let parsed = PhoneNumber::parse(e164, channel, &any()).unwrap();
            let stored = parsed.to_stored().unwrap();
            assert!(
                !String::from_utf8_lossy(&stored).contains("Mobile"),
                "snake case"
            );
            // The channel a factor was enrolled by does not matter once the line is stored.
            let back = PhoneNumber::from_stored(&stored, Channel::Voice).unwrap();
            assert_eq!(back, parsed, "{e164}");
            assert_eq!((back.kind(), back.masked()), (kind, masked.to_owned()));
            assert_eq!(
                back.check_channel(Channel::Sms).is_ok(),
                kind != LineKind::FixedLine,
                "{e164}"
            );
            assert!(back.check_channel(Channel::Voice).is_ok());
        }
    }

    #[test]
    fn a_number_stored_bare_takes_sms_only_if_it_was_enrolled_by_sms_and_masks_its_country_code() {
        let by_sms = PhoneNumber::from_stored(b"+33612345678", Channel::Sms).unwrap();
        assert_eq!(by_sms.e164(), "+33612345678");
        assert_eq!(by_sms.masked(), "+*******5678");
        assert!(by_sms.check_channel(Channel::Sms).is_ok());
        let by_voice = PhoneNumber::from_stored(b"+33612345678", Channel::Voice).unwrap();
        let err = by_voice.check_channel(Channel::Sms).unwrap_err();
        assert!(err.public_message().contains("landline"));
        assert!(by_voice.check_channel(Channel::Voice).is_ok());
        // A bare number cannot be stored again: its country code is unknown.
        assert_eq!(by_sms.to_stored().unwrap_err().code(), "internal");
    }

    #[test]
    fn a_stored_number_that_does_not_read_back_is_an_internal_error() {
        for bad in [
            &b""[..],
            b"{}",
            b"{\"e164\":\"\",\"cc\":1,\"line\":\"mobile\"}",
            b"{\"e164\":\"+33612345678\",\"cc\":1,\"line\":\"mobile\"}",
            b"{\"e164\":\"+33612345678\",\"cc\":33,\"line\":\"pager\"}",
            b"33612345678",
            b"+",
            b"\xff\xfe",
        ] {
            let err = PhoneNumber::from_stored(bad, Channel::Sms).unwrap_err();
            assert_eq!(err.code(), "internal", "{:?}", String::from_utf8_lossy(bad));
        }
    }

    use proptest::prelude::*;

    fn any() -> PhonePolicy {
        PhonePolicy::default()
    }

    #[test]
    fn mobile_numbers_take_sms_and_voice_and_are_masked() {
        let p = PhoneNumber::parse("+33612345678", Channel::Sms, &any()).unwrap();
        assert_eq!(p.kind(), LineKind::Mobile);
        assert_eq!(p.masked(), "+33*****5678");
        assert!(!format!("{p:?}").contains("61234"));
        let us = PhoneNumber::parse("+12015550123", Channel::Sms, &any()).unwrap();
        assert_eq!(us.kind(), LineKind::FixedLineOrMobile);
        assert_eq!(us.masked(), "+1******0123");
    }

    #[test]
    fn a_landline_takes_voice_but_not_sms() {
        assert!(PhoneNumber::parse("+442079460123", Channel::Voice, &any()).is_ok());
        let err = PhoneNumber::parse("+442079460123", Channel::Sms, &any()).unwrap_err();
        assert!(err.public_message().contains("landline"));
    }

    #[test]
    fn unsuitable_numbers_are_refused_with_a_reason() {
        let cases = [
            ("4155550123", "E.164"),
            ("+1 415 555 0123", "E.164"),
            ("+", "E.164"),
            ("+0447700900123", "E.164"),
            ("+999123456789", "not a phone number"),
            ("+1415555", "valid"),
            ("+448001234567", "toll-free"),
            ("+449098790123", "premium"),
            ("+445612345678", "VoIP"),
            ("+447640123456", "cannot receive codes"),
        ];
        for (n, why) in cases {
            let err = PhoneNumber::parse(n, Channel::Voice, &any()).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{n}");
            assert!(
                err.public_message().contains(why),
                "{n}: {}",
                err.public_message()
            );
            if n.len() > 6 {
                assert!(
                    !err.public_message().contains(&n[n.len() - 6..]),
                    "{n} echoed"
                );
            }
        }
    }

    #[test]
    fn a_valid_number_with_a_digit_too_many_is_not_valid() {
        // Serbian mobiles are 6, a second digit, then 6 or 7 more. The phonenumber crate matched
        // a pattern as a prefix, so the 10-digit form passed and a code went to no one.
        for n in ["+38164859970", "+381648599700"] {
            let p = PhoneNumber::parse(n, Channel::Sms, &any()).unwrap();
            assert_eq!(p.kind(), LineKind::Mobile, "{n}");
        }
        for n in ["+3816485997005", "+33612345678901", "+4420794601234"] {
            let err = PhoneNumber::parse(n, Channel::Voice, &any()).unwrap_err();
            assert!(err.public_message().contains("valid"), "{n}: {err:?}");
        }
    }

    #[test]
    fn the_operator_policy_refuses_denied_numbers_and_other_countries() {
        let policy = PhonePolicy::from_lists("fr, US", "+33612345679, +1201555*");
        assert!(PhoneNumber::parse("+33612345678", Channel::Sms, &policy).is_ok());
        assert!(PhoneNumber::parse("+33612345679", Channel::Sms, &policy).is_err());
        assert!(PhoneNumber::parse("+12015550123", Channel::Sms, &policy).is_err());
        assert!(PhoneNumber::parse("+14155550123", Channel::Sms, &policy).is_ok());
        let other = PhoneNumber::parse("+4915123456789", Channel::Sms, &policy).unwrap_err();
        assert!(other.public_message().contains("country"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_plus_and_digits(s in "\\PC{0,20}") {
            if let Ok(p) = PhoneNumber::parse(&s, Channel::Voice, &any()) {
                prop_assert!(p.e164().starts_with('+'));
                prop_assert!(p.e164()[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(p.masked().ends_with(&p.e164()[p.e164().len() - 4..]));
                let back = PhoneNumber::from_stored(&p.to_stored().unwrap(), Channel::Sms);
                prop_assert_eq!(back.unwrap(), p);
            }
        }

        #[test]
        fn reading_a_stored_number_never_panics(b in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..60)) {
            for channel in [Channel::Sms, Channel::Voice] {
                if let Err(e) = PhoneNumber::from_stored(&b, channel) {
                    prop_assert_eq!(e.code(), "internal");
                }
            }
        }
    }
}

/// Loading one country code at a time must read every number as the whole metadata does.
#[cfg(test)]
mod against_the_whole_metadata {
    use super::*;

    struct Whole(Arc<PhoneNumberUtil>);

    impl Utils for Whole {
        fn for_number(&self, _: &str) -> Result<Option<Arc<PhoneNumberUtil>>> {
            Ok(Some(self.0.clone()))
        }
        fn for_region(&self, _: Region) -> Result<Option<Arc<PhoneNumberUtil>>> {
            Ok(Some(self.0.clone()))
        }
    }

    type Outcome = std::result::Result<(String, Option<u16>, LineKind), (&'static str, String)>;

    fn outcome(r: Result<PhoneNumber>) -> Outcome {
        r.map(|n| (n.e164, n.country_code, n.kind))
            .map_err(|e| (e.code(), e.public_message()))
    }

    /// The crate's example number of every type of every region and non-geographic entity,
    /// each also with a digit more, a digit less and its last digit changed; then numbers
    /// with random digits behind `+`, so unassigned codes and bad lengths are tried too.
    fn e164_corpus(whole: &PhoneNumberUtil) -> Vec<String> {
        let mut examples = Vec::new();
        for region in whole.get_supported_regions() {
            for kind in whole.get_supported_types_for_region(region).unwrap() {
                if let Ok(n) = whole.get_example_number_for_type_and_region(region, kind) {
                    examples.push(n);
                }
            }
        }
        for cc in whole.get_supported_global_network_calling_codes() {
            examples.extend(whole.get_example_number_for_non_geo_entity(cc));
        }
        let mut corpus = Vec::new();
        for n in examples {
            let e164 = whole.format(&n, PhoneNumberFormat::E164).into_owned();
            let last = e164.as_bytes()[e164.len() - 1] - b'0';
            let head = &e164[..e164.len() - 1];
            corpus.push(format!("{e164}7"));
            corpus.push(head.to_owned());
            corpus.push(format!("{head}{}", (last + 3) % 10));
            corpus.push(e164);
        }
        // A fixed xorshift, so a failure names the same numbers on every run.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 6 + (x % 10) as usize;
            let digits: String = (0..len)
                .map(|i| char::from(b'0' + ((x >> (i * 4)) % 10) as u8))
                .collect();
            corpus.push(format!("+{}{digits}", 1 + x % 9));
        }
        corpus
    }

    #[test]
    fn every_example_number_is_read_as_the_whole_metadata_reads_it() {
        let whole = Whole(Arc::new(PhoneNumberUtil::new().unwrap()));
        let policies = [
            PhonePolicy::default(),
            PhonePolicy::from_lists("FR,US,GB,RS", ""),
        ];
        let corpus = e164_corpus(&whole.0);
        let mut valid = 0;
        for s in &corpus {
            for policy in &policies {
                let ours = outcome(PhoneNumber::parse(s, Channel::Voice, policy));
                let theirs = outcome(PhoneNumber::parse_using(&whole, s, Channel::Voice, policy));
                assert_eq!(ours, theirs, "{s}");
                valid += usize::from(ours.is_ok());
            }
        }
        // Most examples are numbers that take codes; the corpus is not all refusals.
        assert!(valid > 1000, "{valid} of {}", corpus.len() * 2);
    }

    #[test]
    fn a_number_of_a_shared_code_is_read_with_its_main_region_only_when_it_is_that_regions() {
        let nanpa = metadata::entries_of(1);
        let us = metadata::build(&nanpa[..1]).unwrap();
        let whole = metadata::build(&nanpa).unwrap();
        // San Francisco; Winnipeg (CA); Antigua (AG, tried before CA); a US toll-free number,
        // which CA's toll-free pattern matches too.
        for (digits, region, main) in [
            ("14155550134", "US", true),
            ("12042345678", "CA", false),
            ("12684601234", "AG", false),
            ("18002345678", "US", true),
        ] {
            let number = whole.parse(format!("+{digits}"), None).unwrap();
            assert!(whole.is_valid_number(&number), "{digits}");
            let found = whole.get_region_for_number(&number).map(|r| r.to_string());
            assert_eq!(found.as_deref(), Some(region), "{digits}");
            assert_eq!(main_region_answers(&us, digits, "US"), main, "{digits}");
            assert_eq!(main_region_answers(&whole, digits, "US"), main, "{digits}");
        }
        // Whatever else is loaded, a number that is not the main region's is not read by it.
        let us_and_ca =
            metadata::build(&[nanpa[0], metadata::entry_of_region("CA").unwrap()]).unwrap();
        assert!(!main_region_answers(&us_and_ca, "12042345678", "US"));
    }

    #[test]
    fn every_national_example_is_read_as_the_whole_metadata_reads_it() {
        let whole = Whole(Arc::new(PhoneNumberUtil::new().unwrap()));
        let policy = PhonePolicy::default();
        let mut valid = 0;
        let mut tried = 0;
        for region in whole.0.get_supported_regions() {
            let Ok(n) = whole
                .0
                .get_example_number_for_type_and_region(region, Type::Mobile)
            else {
                continue;
            };
            let national = whole.0.format(&n, PhoneNumberFormat::National).into_owned();
            let code = region.to_string();
            for (typed, country) in [
                (national.as_str(), code.as_str()),
                (national.as_str(), "001"),
                (national.as_str(), "ZZ"),
            ] {
                let ours = outcome(PhoneNumber::parse_input(
                    typed,
                    Some(country),
                    Channel::Sms,
                    &policy,
                ));
                let theirs = outcome(PhoneNumber::parse_input_using(
                    &whole,
                    typed,
                    Some(country),
                    Channel::Sms,
                    &policy,
                ));
                assert_eq!(ours, theirs, "{typed} in {country}");
                valid += usize::from(ours.is_ok());
                tried += 1;
            }
        }
        assert!(valid > 150, "{valid} of {tried}");
    }
}
