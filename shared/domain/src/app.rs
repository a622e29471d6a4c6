//! The service state built once per cold start: configuration, adapters (built by the wiring
//! in `mfa-aws`, or by a test), clock, and the data keys (decrypted on first use, then kept for
//! the life of the process).

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::assertion::{LocalSigningKey, PublicJwk};
use crate::clock::Clock;
use crate::config::{AssertionSigner, Config};
use crate::crypto::DataKeys;
use crate::error::Result;
use crate::ports::{KeyVault, Mailer, Signer, SmsSender, Store, VoiceCaller};

/// The adapters behind the ports, as the wiring built them.
pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub vault: Arc<dyn KeyVault>,
    pub sms: Arc<dyn SmsSender>,
    pub voice: Arc<dyn VoiceCaller>,
    pub signer: Arc<dyn Signer>,
}

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub vault: Arc<dyn KeyVault>,
    pub sms: Arc<dyn SmsSender>,
    pub voice: Arc<dyn VoiceCaller>,
    pub signer: Arc<dyn Signer>,
    pub clock: Arc<dyn Clock>,
    keys: OnceCell<DataKeys>,
    signing_key: OnceCell<PublicJwk>,
    local_key: OnceCell<LocalSigningKey>,
}

impl App {
    pub fn new(config: Config, adapters: Adapters, clock: Arc<dyn Clock>) -> Self {
        App {
            config,
            store: adapters.store,
            mailer: adapters.mailer,
            vault: adapters.vault,
            sms: adapters.sms,
            voice: adapters.voice,
            signer: adapters.signer,
            clock,
            keys: OnceCell::new(),
            signing_key: OnceCell::new(),
            local_key: OnceCell::new(),
        }
    }

    /// Encryption context the data key is bound to.
    fn key_context(&self) -> Vec<(&'static str, String)> {
        vec![
            ("purpose", "mfa-data-key".to_owned()),
            ("table", self.config.table_name.clone()),
        ]
    }

    /// The derived data keys. The first call loads the stored data key (creating it race-free if
    /// none exists) and decrypts it with KMS; later calls reuse it. A failure is not cached, so
    /// the next request tries again.
    pub async fn keys(&self) -> Result<&DataKeys> {
        self.keys.get_or_try_init(|| self.load_keys()).await
    }

    /// The assertion key's public half: fetched from KMS once per cold start, or the in-process
    /// key's (`ASSERTION_SIGNER=local`).
    pub async fn signing_key(&self) -> Result<&PublicJwk> {
        if self.config.assertion_signer == AssertionSigner::Local {
            return Ok(&self.local_key().await?.public);
        }
        self.signing_key
            .get_or_try_init(|| async {
                let (key_id, der) = self.signer.public_key().await?;
                PublicJwk::from_spki_der(key_id, &der)
            })
            .await
    }

    /// A DER ECDSA P-256 / SHA-256 signature of `message` by the assertion key `key_id` (as
    /// [`App::signing_key`] named it): one KMS `Sign`, or in process.
    pub async fn sign_assertion(&self, key_id: &str, message: &[u8]) -> Result<Vec<u8>> {
        match self.config.assertion_signer {
            AssertionSigner::Kms => self.signer.sign(key_id, message).await,
            AssertionSigner::Local => Ok(self.local_key().await?.sign(message)),
        }
    }

    /// The in-process signing key: opened with the data key once per cold start, made (race
    /// free, like the data key) the first time any instance needs it.
    async fn local_key(&self) -> Result<&LocalSigningKey> {
        self.local_key
            .get_or_try_init(|| async {
                let keys = self.keys().await?;
                if let Some(sealed) = self.store.get_signing_key().await? {
                    return LocalSigningKey::open(keys, &sealed);
                }
                let (made, sealed) = LocalSigningKey::generate(keys)?;
                if self
                    .store
                    .put_signing_key_if_absent(&sealed, self.clock.now())
                    .await?
                {
                    return Ok(made);
                }
                // Another cold start made one first: every instance signs with the same key.
                let theirs = self.store.get_signing_key().await?.ok_or_else(|| {
                    crate::error::Error::unavailable(
                        "signing key vanished after a lost create race",
                    )
                })?;
                LocalSigningKey::open(keys, &theirs)
            })
            .await
    }

    async fn load_keys(&self) -> Result<DataKeys> {
        let ctx = self.key_context();
        if let Some(ct) = self.store.get_data_key().await? {
            let plain = self.vault.decrypt_data_key(&ct, &ctx).await?;
            return DataKeys::derive(&plain);
        }
        let (plain, ct) = self.vault.generate_data_key(&ctx).await?;
        if self
            .store
            .put_data_key_if_absent(&ct, self.clock.now())
            .await?
        {
            return DataKeys::derive(&plain);
        }
        // Another cold start created it first: use theirs, so every instance shares one key.
        let theirs = self.store.get_data_key().await?.ok_or_else(|| {
            crate::error::Error::unavailable("data key vanished after a lost create race")
        })?;
        let plain = self.vault.decrypt_data_key(&theirs, &ctx).await?;
        DataKeys::derive(&plain)
    }
}
