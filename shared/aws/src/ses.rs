//! Mail over SES v2.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{dependency, LazyClient};
use mfa_domain::error::{Error, Result};
use mfa_domain::ports::{EmailMessage, Mailer};

pub struct SesMailer {
    pub(crate) client: LazyClient<aws_sdk_sesv2::Client>,
    from: String,
}

impl SesMailer {
    pub fn new(client: impl Into<LazyClient<aws_sdk_sesv2::Client>>, from: &str) -> Self {
        SesMailer {
            client: client.into(),
            from: from.to_owned(),
        }
    }
}

fn utf8(data: &str) -> Result<Content> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| Error::Internal(format!("ses content: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, m: &EmailMessage) -> Result<()> {
        let message = Message::builder()
            .subject(utf8(&m.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&m.text)?)
                    .html(utf8(&m.html)?)
                    .build(),
            )
            .build();
        self.client
            .get()
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(m.to.as_ref()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| dependency("ses", e))?;
        Ok(())
    }
}
