//! The dev gateway on 127.0.0.1 (`GATEWAY_PORT`, default 3000).

use std::net::SocketAddr;
use std::sync::Arc;

use local_dev::faults::Faults;
use local_dev::gateway::{serve, Gateway};
use local_dev::jwt::{DevKey, Verifier, AUDIENCE, ISSUER};
use local_dev::voice_inbox::FileVoiceInbox;
use mfa_aws::SharedInterceptor;
use mfa_domain::clock::OffsetClock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    mfa_http::init_tracing();
    let port: u16 = std::env::var("GATEWAY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let key = DevKey::load_or_create(&local_dev::state_dir())?;
    let verifier = Verifier::new(&key.jwks(), ISSUER, AUDIENCE)?;
    // The console page's dev sign-in mints with the same key the authorizer trusts.
    let sign_in = Some(key);
    let clock = Arc::new(OffsetClock::default());
    // Tests only: interceptors on every client that refuse a transaction or stop a dependency.
    let faults = std::env::var("DEV_FAULT_INJECTION")
        .is_ok_and(|v| v == "1")
        .then(Faults::default);
    let extra: Vec<SharedInterceptor> = faults
        .iter()
        .flat_map(|f| {
            [
                SharedInterceptor::new(f.calls.clone()),
                SharedInterceptor::new(f.poison.clone()),
                SharedInterceptor::new(f.pause.clone()),
                SharedInterceptor::new(f.stop.clone()),
            ]
        })
        .collect();
    let mut app = mfa_aws::app_from_env_with_clock(clock.clone(), &extra).await?;
    // No emulator serves the voice API: calls go to the local inbox file instead.
    app.voice = Arc::new(FileVoiceInbox::new(FileVoiceInbox::default_path()));
    let gw = Arc::new(Gateway {
        app,
        verifier,
        clock,
        clock_control: std::env::var("DEV_CLOCK_CONTROL").is_ok_and(|v| v == "1"),
        faults,
        sign_in,
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracing::info!(%addr, "dev gateway listening");
    serve(gw, addr).await?;
    Ok(())
}
