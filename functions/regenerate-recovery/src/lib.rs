//! Flow 5, recovery code:
//!
//! - `POST /v1/recovery-code` (step-up) -> 201 `{recovery_code, created_at}`, or with
//!   `Accept: text/plain` the same code as a `recovery-code.txt` attachment. The old code stops
//!   working at once; the new one is shown only here.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::clock::rfc3339;
use shared::http::{
    caller, error_response, json, require_step_up, route_key, text_attachment, wants_text,
};
use shared::{recovery, App, Error, Result};

pub const ROUTES: &[&str] = &["POST /v1/recovery-code"];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/recovery-code") => regenerate(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Serialize)]
struct Issued {
    recovery_code: String,
    created_at: String,
}

async fn regenerate(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    require_step_up(app, req, &caller).await?;
    let issued = recovery::regenerate(app, &caller).await?;
    let (code, created_at) = (issued.code.display(), rfc3339(issued.created_at));
    if wants_text(req) {
        let text = format!(
            "{} recovery code\n\n{code}\n\nCreated: {created_at}\n\n\
             Keep this code somewhere safe. It lets you sign in if you lose your two-factor \
             device, and it works once. Anyone who has it and your password can sign in.\n",
            app.config.service_name
        );
        return Ok(text_attachment(201, "recovery-code.txt", text));
    }
    Ok(json(
        201,
        &Issued {
            recovery_code: code,
            created_at,
        },
    ))
}
