//! SMS over SNS `Publish`, sent as a transactional message.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{dependency, LazyClient};
use mfa_domain::error::{Error, Result};
use mfa_domain::phone::PhoneNumber;
use mfa_domain::ports::SmsSender;

pub struct SnsSms {
    client: LazyClient<aws_sdk_sns::Client>,
}

impl SnsSms {
    pub fn new(client: impl Into<LazyClient<aws_sdk_sns::Client>>) -> Self {
        SnsSms {
            client: client.into(),
        }
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<()> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| Error::Internal(format!("sns attribute: {e}")))?;
        self.client
            .get()
            .publish()
            .phone_number(to.e164())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", transactional)
            .send()
            .await
            .map_err(|e| dependency("sns", e))?;
        Ok(())
    }
}
