//! The data key's master key in KMS.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MessageType, SigningAlgorithmSpec};
use zeroize::Zeroizing;

use super::dependency;
use mfa_domain::error::{Error, Result};
use mfa_domain::ports::{KeyContext, KeyVault, Signer};

pub struct KmsVault {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsVault {
    pub fn new(client: aws_sdk_kms::Client, key_id: &str) -> Self {
        KmsVault {
            client,
            key_id: key_id.to_owned(),
        }
    }
}

fn context(ctx: &KeyContext) -> std::collections::HashMap<String, String> {
    ctx.iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The assertion signing key: an ECC_NIST_P256 KMS key used with `Sign`.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSigner {
    pub fn new(client: aws_sdk_kms::Client, key_id: &str) -> Self {
        KmsSigner {
            client,
            key_id: key_id.to_owned(),
        }
    }
}

#[async_trait]
impl Signer for KmsSigner {
    async fn sign(&self, key_id: &str, message: &[u8]) -> Result<Vec<u8>> {
        let out = self
            .client
            .sign()
            .key_id(key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| dependency("kms", e))?;
        out.signature
            .map(Blob::into_inner)
            .ok_or_else(|| Error::unavailable("kms: Sign returned no signature"))
    }

    async fn public_key(&self) -> Result<(String, Vec<u8>)> {
        let out = self
            .client
            .get_public_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| dependency("kms", e))?;
        match (out.key_id, out.public_key) {
            // The key's ARN, not the alias: a later alias change cannot split signing from the
            // published key.
            (Some(id), Some(der)) => Ok((id, der.into_inner())),
            _ => Err(Error::unavailable("kms: GetPublicKey returned no key")),
        }
    }
}

#[async_trait]
impl KeyVault for KmsVault {
    async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context(ctx)))
            .send()
            .await
            .map_err(|e| dependency("kms", e))?;
        match (out.plaintext, out.ciphertext_blob) {
            (Some(p), Some(c)) => Ok((Zeroizing::new(p.into_inner()), c.into_inner())),
            _ => Err(Error::unavailable("kms: GenerateDataKey returned no key")),
        }
    }

    async fn decrypt_data_key(&self, ct: &[u8], ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ct))
            .set_encryption_context(Some(context(ctx)))
            .send()
            .await
            .map_err(|e| dependency("kms", e))?;
        out.plaintext
            .map(|p| Zeroizing::new(p.into_inner()))
            .ok_or_else(|| Error::unavailable("kms: Decrypt returned no plaintext"))
    }
}
