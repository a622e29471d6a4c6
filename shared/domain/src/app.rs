//! The service state built once per cold start: configuration, adapters (built by the wiring
//! in `mfa-aws`, or by a test), clock, and the data keys (decrypted on first use, then kept for
//! the life of the process).

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::assertion::PublicJwk;
use crate::clock::Clock;
use crate::config::Config;
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

    /// The assertion key's public half, fetched from KMS once per cold start.
    pub async fn signing_key(&self) -> Result<&PublicJwk> {
        self.signing_key
            .get_or_try_init(|| async {
                let (key_id, der) = self.signer.public_key().await?;
                PublicJwk::from_spki_der(key_id, &der)
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
