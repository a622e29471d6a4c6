//! Remembered devices ("remember this computer", seed 000): after a passed second step a user
//! may ask the browser to be remembered. It gets an opaque 256-bit token, stored only as a keyed
//! hash; under policy `device_30_days` the token skips the code for 30 days, lapsing after 7
//! days unused. Devices are listed and forgotten from the settings.

use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{random_bytes, DataKeys};
use crate::error::{Error, Result};
use crate::events::{record, Action, SecurityEvent};
use crate::identity::Caller;
use crate::model::{Change, Commit, Device, RememberPolicy};
use crate::rules::{DEVICE_TTL_SECS, MAX_REMEMBERED_DEVICES};
use crate::types::{DeviceId, Label, OpaqueToken, UserId};

/// The keyed hash a device token is stored as; bound to its user.
pub fn token_hash(keys: &DataKeys, user: &UserId, token: &OpaqueToken) -> String {
    keys.mac_hex(
        "device-token",
        &[user.as_ref().as_bytes(), token.as_str().as_bytes()],
    )
}

/// The name a device is listed under: the one the user gave, else the browser's User-Agent
/// (printable characters, at most 64), else "Unnamed device".
pub fn name_for(given: Option<Label>, user_agent: Option<&str>) -> String {
    if let Some(label) = given {
        return label.as_ref().to_owned();
    }
    user_agent
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Unnamed device".into())
}

/// Whether `token` is a live remembered device of `user`; a use is recorded (it restarts the
/// 7-day idle clock, never the 30-day one).
pub async fn recognise(app: &App, user: &UserId, token: &OpaqueToken) -> Result<Option<Device>> {
    let keys = app.keys().await?;
    app.store
        .touch_device(user, &token_hash(keys, user, token), app.clock.now())
        .await
}

/// Remembers the caller's device after a passed login, if their policy allows it. A failure to
/// store it is logged and the login still succeeds: the device is simply asked for a code next
/// time, which is the safe side.
pub async fn remember_after_login(app: &App, caller: &Caller, name: String) -> Option<OpaqueToken> {
    // The user's setting and their organisation's policy, in one read.
    let mut wants = vec![crate::model::Want::Settings(caller.user.clone())];
    wants.extend(crate::org_policy::want(caller));
    let read = async {
        let mut found = crate::model::Found::from(app.store.read_all(&wants).await?);
        let settings = found.settings()?.unwrap_or_default();
        let org = crate::org_policy::from_found(caller, &mut found)?;
        Ok::<_, crate::error::Error>((settings.remember, org))
    };
    let (policy, org) = match read.await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(error = %e, "settings unreadable: device not remembered");
            return None;
        }
    };
    if policy == RememberPolicy::EveryLogin || org.remember_device_max_days == 0 {
        return None;
    }
    match remember(app, caller, name).await {
        Ok(token) => Some(token),
        Err(e) => {
            tracing::warn!(error = %e, "device not remembered");
            None
        }
    }
}

/// Remembers a new device for the caller and returns its token (shown only here). Lapsed
/// devices are cleared out, and past the limit the least recently used one is forgotten, in
/// the same transaction.
pub async fn remember(app: &App, caller: &Caller, name: String) -> Result<OpaqueToken> {
    let keys = app.keys().await?;
    let now = app.clock.now();
    let token = OpaqueToken::from_bytes(&random_bytes::<32>());
    let device = Device {
        id: DeviceId::new(),
        user: caller.user.clone(),
        token_hash: token_hash(keys, &caller.user, &token),
        name,
        created_at: now,
        last_used_at: now,
        expires_at: now + DEVICE_TTL_SECS,
    };
    let (mut live, lapsed): (Vec<_>, Vec<_>) = app
        .store
        .list_devices(&caller.user)
        .await?
        .into_iter()
        .partition(|d| d.is_live(now));
    live.sort_by_key(|d| d.last_used_at);
    let evict = live.len().saturating_sub(MAX_REMEMBERED_DEVICES - 1);
    let event = SecurityEvent::by_caller(
        app,
        caller,
        Action::DeviceRemembered,
        format!("'{}'", device.name),
    );
    let mut changes = vec![Change::PutDevice(device)];
    changes.extend(deletions(&lapsed));
    changes.extend(deletions(&live[..evict]));
    match record(app, changes, &event, caller.email.as_ref()).await? {
        Commit::Done => Ok(token),
        Commit::Refused(_) => Err(Error::Internal("device id collision".into())),
    }
}

/// The user's live remembered devices, most recently used first.
pub async fn list(app: &App, user: &UserId) -> Result<Vec<Device>> {
    live(app, user, app.clock.now()).await
}

async fn live(app: &App, user: &UserId, now: UnixTime) -> Result<Vec<Device>> {
    let mut out: Vec<Device> = app
        .store
        .list_devices(user)
        .await?
        .into_iter()
        .filter(|d| d.is_live(now))
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.last_used_at));
    Ok(out)
}

/// Forgets one of the caller's live devices (with its event and notice).
pub async fn revoke(app: &App, caller: &Caller, id: &DeviceId) -> Result<()> {
    let devices = list(app, &caller.user).await?;
    let d = devices
        .iter()
        .find(|d| &d.id == id)
        .ok_or_else(|| Error::NotFound("no such remembered device".into()))?;
    let event =
        SecurityEvent::by_caller(app, caller, Action::DeviceRevoked, format!("'{}'", d.name));
    forget(app, caller, std::slice::from_ref(d), event).await
}

/// Forgets every device of the caller; the number of live ones forgotten. With none, nothing is
/// written and no one is emailed.
pub async fn revoke_all(app: &App, caller: &Caller) -> Result<usize> {
    let now = app.clock.now();
    let all = app.store.list_devices(&caller.user).await?;
    let live = all.iter().filter(|d| d.is_live(now)).count();
    if live == 0 {
        return Ok(0);
    }
    let detail = format!("all remembered devices ({live})");
    let event = SecurityEvent::by_caller(app, caller, Action::DeviceRevoked, detail);
    forget(app, caller, &all, event).await?;
    Ok(live)
}

/// The changes that forget `devices`.
pub fn deletions(devices: &[Device]) -> impl Iterator<Item = Change> + '_ {
    devices.iter().map(|d| Change::DeleteDevice {
        user: d.user.clone(),
        token_hash: d.token_hash.clone(),
    })
}

async fn forget(
    app: &App,
    caller: &Caller,
    devices: &[Device],
    event: SecurityEvent,
) -> Result<()> {
    match record(
        app,
        deletions(devices).collect(),
        &event,
        caller.email.as_ref(),
    )
    .await?
    {
        Commit::Done => Ok(()),
        Commit::Refused(_) => Err(Error::Internal("event id collision".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::DEVICE_IDLE_SECS;

    fn device(created_at: UnixTime, last_used_at: UnixTime) -> Device {
        Device {
            id: DeviceId::new(),
            user: UserId::parse("u").unwrap(),
            token_hash: "00".into(),
            name: "n".into(),
            created_at,
            last_used_at,
            expires_at: created_at + DEVICE_TTL_SECS,
        }
    }

    #[test]
    fn a_device_lapses_after_seven_idle_days_and_expires_after_thirty_whatever_its_use() {
        let t0 = 1_000_000;
        let fresh = device(t0, t0);
        assert!(fresh.is_live(t0 + DEVICE_IDLE_SECS - 1));
        assert!(!fresh.is_live(t0 + DEVICE_IDLE_SECS));
        let used_daily = device(t0, t0 + DEVICE_TTL_SECS - 1);
        assert!(used_daily.is_live(t0 + DEVICE_TTL_SECS - 1));
        assert!(!used_daily.is_live(t0 + DEVICE_TTL_SECS));
    }

    #[test]
    fn tokens_hash_differently_per_user_and_never_to_the_token() {
        let keys = DataKeys::derive(&[7u8; 32]).unwrap();
        let token = OpaqueToken::from_bytes(&[9u8; 32]);
        let (a, b) = (UserId::parse("a").unwrap(), UserId::parse("b").unwrap());
        let ha = token_hash(&keys, &a, &token);
        assert_ne!(ha, token_hash(&keys, &b, &token));
        assert!(!ha.contains(token.as_str()));
        assert_eq!(ha.len(), 64);
    }

    #[test]
    fn a_device_is_named_by_the_user_else_by_its_browser() {
        let label = Label::parse("Work laptop").unwrap();
        assert_eq!(name_for(Some(label), Some("curl/8")), "Work laptop");
        assert_eq!(name_for(None, Some("  Mozilla/5.0\u{7}  ")), "Mozilla/5.0");
        assert_eq!(name_for(None, Some(&"x".repeat(300))).len(), 64);
        assert_eq!(name_for(None, None), "Unnamed device");
        assert_eq!(name_for(None, Some(" ")), "Unnamed device");
    }
}
