//! Voice calls through AWS End User Messaging SMS and Voice v2 (`SendVoiceMessage`), the code
//! read digit by digit in SSML. No local emulator serves this API: the tests below replay
//! recorded responses, and the local dev gateway swaps in a file inbox.

use async_trait::async_trait;
use aws_sdk_pinpointsmsvoicev2::types::VoiceMessageBodyTextType;

use super::{dependency, LazyClient};
use mfa_domain::error::{Error, Result};
use mfa_domain::phone::PhoneNumber;
use mfa_domain::ports::{VoiceCaller, VoiceMessage};

pub struct EndUserMessagingVoice {
    client: LazyClient<aws_sdk_pinpointsmsvoicev2::Client>,
    origination_identity: Option<String>,
}

impl EndUserMessagingVoice {
    pub fn new(
        client: impl Into<LazyClient<aws_sdk_pinpointsmsvoicev2::Client>>,
        origination_identity: Option<String>,
    ) -> Self {
        EndUserMessagingVoice {
            client: client.into(),
            origination_identity,
        }
    }
}

#[async_trait]
impl VoiceCaller for EndUserMessagingVoice {
    async fn call(&self, to: &PhoneNumber, message: &VoiceMessage) -> Result<()> {
        let origin = self
            .origination_identity
            .as_deref()
            .ok_or_else(|| Error::unavailable("voice: VOICE_ORIGINATION_IDENTITY is not set"))?;
        self.client
            .get()
            .send_voice_message()
            .destination_phone_number(to.e164())
            .origination_identity(origin)
            .message_body(&message.ssml)
            .message_body_text_type(VoiceMessageBodyTextType::Ssml)
            .send()
            .await
            .map_err(|e| dependency("voice", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_pinpointsmsvoicev2::operation::send_voice_message::{
        SendVoiceMessageError, SendVoiceMessageOutput,
    };
    use aws_sdk_pinpointsmsvoicev2::types::error::{ThrottlingException, ValidationException};
    use aws_sdk_pinpointsmsvoicev2::types::ValidationExceptionReason;
    use aws_sdk_pinpointsmsvoicev2::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use mfa_domain::model::Channel;
    use mfa_domain::phone::PhonePolicy;

    fn number() -> PhoneNumber {
        PhoneNumber::parse("+442079460123", Channel::Voice, &PhonePolicy::default()).unwrap()
    }

    #[tokio::test]
    async fn a_call_sends_the_ssml_to_the_number_from_the_origination_identity() {
        let rule = mock!(Client::send_voice_message)
            .match_requests(|r| {
                r.destination_phone_number() == Some("+442079460123")
                    && r.origination_identity() == Some("pool-123")
                    && r.message_body_text_type() == Some(&VoiceMessageBodyTextType::Ssml)
                    && r.message_body().is_some_and(|b| {
                        b.matches("<say-as interpret-as=\"digits\">042917</say-as>")
                            .count()
                            == 2
                    })
            })
            .then_output(|| {
                SendVoiceMessageOutput::builder()
                    .message_id("msg-1")
                    .build()
            });
        let client = mock_client!(aws_sdk_pinpointsmsvoicev2, RuleMode::MatchAny, [&rule]);
        let voice = EndUserMessagingVoice::new(client, Some("pool-123".into()));
        let message = mfa_domain::email::voice_code("Console", "042917");
        voice.call(&number(), &message).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn throttling_and_refusals_become_unavailable_without_aws_text() {
        let throttled = mock!(Client::send_voice_message).then_error(|| {
            SendVoiceMessageError::ThrottlingException(
                ThrottlingException::builder()
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let refused = mock!(Client::send_voice_message).then_error(|| {
            SendVoiceMessageError::ValidationException(
                ValidationException::builder()
                    .message("destination opted out")
                    .reason(ValidationExceptionReason::DestinationCountryBlocked)
                    .build(),
            )
        });
        let client = mock_client!(
            aws_sdk_pinpointsmsvoicev2,
            RuleMode::Sequential,
            [&throttled, &refused]
        );
        let voice = EndUserMessagingVoice::new(client, Some("pool-123".into()));
        let message = mfa_domain::email::voice_code("Console", "042917");
        for _ in 0..2 {
            let err = voice.call(&number(), &message).await.unwrap_err();
            assert_eq!((mfa_http::status(&err), err.code()), (503, "unavailable"));
            assert!(!err.public_message().contains("opted out"));
        }
    }

    #[tokio::test]
    async fn without_an_origination_identity_no_call_is_attempted() {
        let rule = mock!(Client::send_voice_message).then_output(|| {
            SendVoiceMessageOutput::builder()
                .message_id("msg-1")
                .build()
        });
        let client = mock_client!(aws_sdk_pinpointsmsvoicev2, [&rule]);
        let voice = EndUserMessagingVoice::new(client, None);
        let err = voice
            .call(&number(), &mfa_domain::email::voice_code("C", "1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unavailable");
        assert_eq!(rule.num_calls(), 0);
    }
}
