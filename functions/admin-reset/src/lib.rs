//! Flow 6, admin reset (seed 004): an owner or admin of the organisation (an admin cannot reset
//! an owner), or the `mfa:support` scope, resets a member's 2FA and reads their event trail;
//! and the organisation's 2FA policy, which they read and set (issue 19). The shapes are in
//! `mfa_http::api::resets`.

use lambda_http::{Body, Request, Response};
use mfa_domain::types::UserId;
use mfa_domain::{org_policy, reset};
use mfa_domain::{App, Error, Result};
use mfa_http::api::common::StepUpHeader;
use mfa_http::api::error::ErrorBody;
use mfa_http::api::resets::{OrgPolicyIn, OrgPolicyView, ResetIn, ResetView};
use mfa_http::api::settings::EventPageView;
use mfa_http::{
    caller, error_response, event_page_query, json, json_body, path_param, require_step_up,
    route_key,
};

pub const ROUTES: &[&str] = &[
    "POST /v1/orgs/{org_id}/members/{user_id}/mfa-reset",
    "GET /v1/orgs/{org_id}/members/{user_id}/events",
    "GET /v1/orgs/{org_id}/policy",
    "PUT /v1/orgs/{org_id}/policy",
];

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(mfa_reset, events, get_policy, put_policy))]
pub struct Api;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/orgs/{org_id}/members/{user_id}/mfa-reset") => mfa_reset(app, &req).await,
        Some("GET /v1/orgs/{org_id}/members/{user_id}/events") => events(app, &req).await,
        Some("GET /v1/orgs/{org_id}/policy") => get_policy(app, &req).await,
        Some("PUT /v1/orgs/{org_id}/policy") => put_policy(app, &req).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// The organisation a route names.
fn org(req: &Request) -> Result<String> {
    let org_id = path_param(req, "org_id")?;
    if org_id.is_empty() || org_id.len() > 128 || org_id.chars().any(char::is_control) {
        return Err(Error::invalid("org_id is malformed"));
    }
    Ok(org_id)
}

/// The organisation and member a route names.
fn target(req: &Request) -> Result<(String, UserId)> {
    let org_id = org(req)?;
    let member = UserId::parse(&path_param(req, "user_id")?)
        .map_err(|_| Error::invalid("user_id is malformed"))?;
    Ok((org_id, member))
}

/// Resets a member's 2FA: every factor, the recovery code and remembered devices go, and the
/// member must enroll again at their next login.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/members/{user_id}/mfa-reset", operation_id = "reset_member", tag = "resets",
    request_body = ResetIn,
    params(
        ("org_id" = String, Path, description = "The organisation."),
        ("user_id" = String, Path, description = "The member."),
        StepUpHeader,
    ),
    responses(
        (status = 200, description = "Reset (also when there was nothing to reset).", body = ResetView),
        (status = 403, description = "Not an owner or admin of the organisation, an admin resetting an owner (`forbidden`), or no step-up of the needed level (`step_up_required`).", body = ErrorBody),
        (status = 404, description = "No such member of the organisation (`not_found`).", body = ErrorBody),
        (status = 409, description = "The member's 2FA changed during the reset (`conflict`).", body = ErrorBody),
    ))]
async fn mfa_reset(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (org_id, member) = target(req)?;
    reset::authorize_caller(&caller, &org_id)?;
    require_step_up(app, req, &caller).await?;
    let body: ResetIn = json_body(req)?;
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
    Ok(json(200, &ResetView::from(done)))
}

/// A member's security events, newest first.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/members/{user_id}/events", operation_id = "list_member_events", tag = "resets",
    params(
        ("org_id" = String, Path, description = "The organisation."),
        ("user_id" = String, Path, description = "The member."),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before."),
    ),
    responses(
        (status = 200, description = "A page of events.", body = EventPageView),
        (status = 403, description = "Not an owner or admin of the organisation (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such member of the organisation (`not_found`).", body = ErrorBody),
    ))]
async fn events(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let (org_id, member) = target(req)?;
    reset::authorize_caller(&caller, &org_id)?;
    let (limit, cursor) = event_page_query(req)?;
    let page = reset::member_events(app, &org_id, &member, limit, cursor.as_deref()).await?;
    Ok(json(200, &EventPageView::from(page)))
}

/// The organisation's 2FA policy (the service's defaults until an owner or admin sets one).
#[utoipa::path(get, path = "/v1/orgs/{org_id}/policy", operation_id = "get_org_policy", tag = "resets",
    params(("org_id" = String, Path, description = "The organisation.")),
    responses(
        (status = 200, description = "The policy.", body = OrgPolicyView),
        (status = 403, description = "Not an owner or admin of the organisation (`forbidden`).", body = ErrorBody),
    ))]
async fn get_policy(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let org_id = org(req)?;
    let view = org_policy::get(app, &caller, &org_id).await?;
    Ok(json(200, &OrgPolicyView::from(view)))
}

/// Sets the organisation's 2FA policy: whether members need 2FA, the methods they may log in
/// with, and how long a computer stays remembered.
///
/// Applies from each member's next login: a method it leaves out is not offered, and a member
/// with no allowed factor is asked to enroll one. The change is a security event on the
/// caller's trail, and the organisation's owners are emailed.
#[utoipa::path(put, path = "/v1/orgs/{org_id}/policy", operation_id = "set_org_policy", tag = "resets",
    request_body = OrgPolicyIn,
    params(
        ("org_id" = String, Path, description = "The organisation."),
        StepUpHeader,
    ),
    responses(
        (status = 200, description = "The policy as set.", body = OrgPolicyView),
        (status = 400, description = "The policy is not valid (`invalid_request`).", body = ErrorBody),
        (status = 403, description = "Not an owner or admin of the organisation (`forbidden`), or no step-up of the needed level (`step_up_required`).", body = ErrorBody),
    ))]
async fn put_policy(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let org_id = org(req)?;
    reset::authorize_caller(&caller, &org_id)?;
    let body: OrgPolicyIn = json_body(req)?;
    let policy = body.policy()?;
    require_step_up(app, req, &caller).await?;
    let view = org_policy::set(app, &caller, &org_id, policy).await?;
    Ok(json(200, &OrgPolicyView::from(view)))
}
