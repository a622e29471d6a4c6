//! The dev gateway on 127.0.0.1 (`GATEWAY_PORT`, default 3000).

use std::net::SocketAddr;
use std::sync::Arc;

use local_dev::gateway::{serve, Gateway};
use local_dev::jwt::{DevKey, Verifier, AUDIENCE, ISSUER};
use local_dev::voice_inbox::FileVoiceInbox;
use shared::clock::OffsetClock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::http::init_tracing();
    let port: u16 = std::env::var("GATEWAY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let key = DevKey::load_or_create(&local_dev::state_dir())?;
    let verifier = Verifier::new(&key.jwks(), ISSUER, AUDIENCE)?;
    let clock = Arc::new(OffsetClock::default());
    let mut app = shared::App::from_env_with_clock(clock.clone()).await?;
    // No emulator serves the voice API: calls go to the local inbox file instead.
    app.voice = Arc::new(FileVoiceInbox::new(FileVoiceInbox::default_path()));
    let gw = Arc::new(Gateway {
        app,
        verifier,
        clock,
        clock_control: std::env::var("DEV_CLOCK_CONTROL").is_ok_and(|v| v == "1"),
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracing::info!(%addr, "dev gateway listening");
    serve(gw, addr).await?;
    Ok(())
}
