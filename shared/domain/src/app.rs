//! The service state built once per cold start: configuration, adapters (built by the wiring
//! in `mfa-aws`, or by a test), clock, and the data keys (decrypted on first use, then kept for
//! the life of the process).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::assertion::{LocalSigningKey, PublicJwk};
use crate::clock::Clock;
use crate::config::{AssertionSigner, Config};
use crate::crypto::DataKeys;
use crate::error::Result;
use crate::ports::{KeyVault, Mailer, ServiceSecret, Signer, SmsSender, Store, VoiceCaller};

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
                self.stored_or_made(
                    ServiceSecret::SigningKey,
                    |sealed| async move { LocalSigningKey::open(keys, &sealed) },
                    || async { LocalSigningKey::generate(keys) },
                )
                .await
            })
            .await
    }

    async fn load_keys(&self) -> Result<DataKeys> {
        let ctx = &self.key_context();
        self.stored_or_made(
            ServiceSecret::DataKey,
            |ct| async move { DataKeys::derive(&self.vault.decrypt_data_key(&ct, ctx).await?) },
            || async {
                let (plain, ct) = self.vault.generate_data_key(ctx).await?;
                Ok((DataKeys::derive(&plain)?, ct))
            },
        )
        .await
    }

    /// The service secret `which`, opened from its stored form; or, the first time, the one
    /// `make` gives (the value and its stored form), stored unless another cold start stored
    /// one first, in which case theirs is opened: every instance uses the same one.
    async fn stored_or_made<T, Open, Opened, Make, Made>(
        &self,
        which: ServiceSecret,
        open: Open,
        make: Make,
    ) -> Result<T>
    where
        Open: Fn(Vec<u8>) -> Opened,
        Opened: Future<Output = Result<T>>,
        Make: FnOnce() -> Made,
        Made: Future<Output = Result<(T, Vec<u8>)>>,
    {
        if let Some(stored) = self.store.get_secret(which).await? {
            return open(stored).await;
        }
        let (made, stored) = make().await?;
        if self
            .store
            .put_secret_if_absent(which, &stored, self.clock.now())
            .await?
        {
            return Ok(made);
        }
        let theirs = self.store.get_secret(which).await?.ok_or_else(|| {
            crate::error::Error::unavailable(format!(
                "{} vanished after a lost create race",
                which.describe()
            ))
        })?;
        open(theirs).await
    }
}
