//! Flow 6, admin reset (seed 004):
//!
//! - `POST /v1/orgs/{org_id}/members/{user_id}/mfa-reset` `{reason?}` (caller step-up) -> 200
//!   `{user_id, status:"reset", reset_at}`: an owner or admin of the organisation (an admin
//!   cannot reset an owner), or the `mfa:support` scope
//! - `GET /v1/orgs/{org_id}/members/{user_id}/events?limit=&cursor=` -> the member's security
//!   events, for the same callers

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::http::{
    caller, error_response, event_page_query, json, json_body, path_param, require_step_up,
    route_key,
};
use shared::reset;
use shared::types::UserId;
use shared::{App, Error, Result};

pub const ROUTES: &[&str] = &[
    "POST /v1/orgs/{org_id}/members/{user_id}/mfa-reset",
    "GET /v1/orgs/{org_id}/members/{user_id}/events",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/orgs/{org_id}/members/{user_id}/mfa-reset") => mfa_reset(app, &req).await,
        Some("GET /v1/orgs/{org_id}/members/{user_id}/events") => events(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// The organisation and member a route names.
fn target(req: &Request) -> Result<(String, UserId)> {
    let org_id = path_param(req, "org_id")?;
    if org_id.is_empty() || org_id.len() > 128 || org_id.chars().any(char::is_control) {
        return Err(Error::invalid("org_id is malformed"));
    }
    let member = UserId::parse(&path_param(req, "user_id")?)
        .map_err(|_| Error::invalid("user_id is malformed"))?;
    Ok((org_id, member))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn mfa_reset(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (org_id, member) = target(req)?;
    reset::authorize_caller(&caller, &org_id)?;
    require_step_up(app, req, &caller).await?;
    let body: ResetBody = json_body(req)?;
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 200 || r.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "reason must be at most 200 printable characters",
        ));
    }
    let done = reset::admin_reset(app, &caller, &org_id, &member, reason.as_deref()).await?;
    Ok(json(200, &done))
}

async fn events(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (org_id, member) = target(req)?;
    reset::authorize_caller(&caller, &org_id)?;
    let (limit, cursor) = event_page_query(req)?;
    let page = reset::member_events(app, &org_id, &member, limit, cursor.as_deref()).await?;
    Ok(json(200, &page))
}
