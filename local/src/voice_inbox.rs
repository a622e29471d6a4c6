//! The local stand-in for voice calls: no emulator serves AWS End User Messaging's voice API,
//! so the dev gateway "calls" by appending what would be read out to a JSON-lines file, which
//! `./local/inbox NUMBER` and the tests read.

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use mfa_domain::phone::PhoneNumber;
use mfa_domain::ports::{VoiceCaller, VoiceMessage};
use mfa_domain::{Error, Result};

pub struct FileVoiceInbox {
    path: PathBuf,
}

impl FileVoiceInbox {
    pub fn new(path: PathBuf) -> Self {
        FileVoiceInbox { path }
    }

    /// The inbox file in the local state folder.
    pub fn default_path() -> PathBuf {
        crate::state_dir().join("voice-inbox.jsonl")
    }
}

#[async_trait]
impl VoiceCaller for FileVoiceInbox {
    async fn call(&self, to: &PhoneNumber, message: &VoiceMessage) -> Result<()> {
        let line = serde_json::json!({
            "to": to.e164(),
            "message": message.text,
            "ssml": message.ssml,
            "at": time::OffsetDateTime::now_utc().unix_timestamp(),
        })
        .to_string();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::unavailable(format!("voice inbox: {e}")))?;
        // One write of one line: appends from concurrent gateways do not interleave.
        f.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| Error::unavailable(format!("voice inbox: {e}")))
    }
}
