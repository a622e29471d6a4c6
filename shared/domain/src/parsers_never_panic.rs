//! Every parser that takes outside input, on arbitrary input: it answers (a value or a 4xx
//! error with a stable code), never panics, and never echoes what it was given. Strings are
//! drawn from any Unicode, controls included, and from arbitrary bytes read as UTF-8 lossily.

use proptest::prelude::*;

use crate::crypto::DataKeys;
use crate::error::Error;
use crate::events::EventCursor;
use crate::model::{Channel, Method, Purpose, RememberPolicy, SelfResetStatus, StepUpLevel};
use crate::phone::{PhoneNumber, PhonePolicy};
use crate::recovery::RecoveryCode;
use crate::types::{
    ChallengeId, DeviceId, Email, FactorId, Label, OpaqueToken, OrgRole, OtpCode, Plan, UserId,
};

/// Bad input is a client error, never a fault of the service.
fn client_error<T>(r: crate::error::Result<T>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(
            !matches!(e, Error::Internal(_) | Error::Unavailable { .. }),
            "{e:?}"
        );
    }
    Ok(())
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,120}",
        proptest::collection::vec(any::<u8>(), 0..120)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Near misses: the alphabets the real values use, at nearby lengths.
        "[0-9 +()._-]{0,24}",
        "[A-Za-z0-9_=.-]{0,90}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_parser_of_outside_input_panics_or_faults(s in input(), len in 6usize..=8) {
        client_error(OtpCode::parse(&s, len))?;
        client_error(ChallengeId::parse(&s, "challenge_id"))?;
        client_error(FactorId::parse(&s, "factor_id"))?;
        client_error(DeviceId::parse(&s, "device_id"))?;
        client_error(OpaqueToken::parse(&s))?;
        client_error(Label::parse(&s))?;
        client_error(UserId::parse(&s))?;
        client_error(Email::parse(&s))?;
        client_error(OrgRole::parse(&s))?;
        client_error(Plan::parse(&s))?;
        client_error(RecoveryCode::parse(&s))?;
        client_error(EventCursor::parse(&s))?;
        let keys = DataKeys::derive(&[9u8; 32]).unwrap();
        client_error(EventCursor::open(&s, &keys, &UserId::parse("u").unwrap()))?;
        let policy = PhonePolicy::from_lists("FR,US", "+33612345670");
        for channel in [Channel::Sms, Channel::Voice] {
            client_error(PhoneNumber::parse(&s, channel, &policy))?;
            client_error(PhoneNumber::parse_input(&s, None, channel, &policy))?;
            client_error(PhoneNumber::parse_input(&s, Some(&s), channel, &policy))?;
            client_error(PhoneNumber::parse_input("06 12 34 56 78", Some(&s), channel, &policy))?;
        }
        // Stored enums read back from text.
        let _ = (Method::parse(&s), Purpose::parse(&s), Channel::parse(&s));
        let _ = (StepUpLevel::parse(&s), RememberPolicy::parse(&s), SelfResetStatus::parse(&s));
    }

    #[test]
    fn a_refusal_never_echoes_the_input(s in "[A-Za-z0-9+ ]{8,40}") {
        let errors = [
            OtpCode::parse(&s, 6).err(),
            ChallengeId::parse(&s, "challenge_id").err(),
            OpaqueToken::parse(&s).err(),
            RecoveryCode::parse(&s).err(),
            PhoneNumber::parse_input(&s, None, Channel::Sms, &PhonePolicy::default()).err(),
        ];
        for e in errors.into_iter().flatten() {
            prop_assert!(!e.public_message().contains(s.trim()), "{}", e.public_message());
        }
    }
}
