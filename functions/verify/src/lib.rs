//! Flow 4, verification at login:
//!
//! - `POST /v1/challenges` `{device_token?}` -> 200 `not_required` / `enrollment_required` /
//!   `approved` + assertion (a remembered device under `device_30_days`), or 201 pending
//! - `POST /v1/challenges/{challenge_id}/send` `{channel}` -> 202 (code by SMS or voice)
//! - `POST /v1/challenges/{challenge_id}/verify` `{method, code, remember_device?, device_name?}`
//!   -> 200 approved + assertion (+ `device_token`, + `new_recovery_code`)
//! - `GET /.well-known/jwks.json` (no authorizer) -> the keys that verify assertions

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::devices;
use shared::http::wire::ChannelIn;
use shared::http::{caller, error_response, json, json_body, path_param, route_key};
use shared::login::{self, LoginStart, Method};
use shared::ports::Channel;
use shared::types::{ChallengeId, Label, OpaqueToken};
use shared::{assertion, App, Error, Result};

pub const ROUTES: &[&str] = &[
    "POST /v1/challenges",
    "POST /v1/challenges/{challenge_id}/send",
    "POST /v1/challenges/{challenge_id}/verify",
];

/// Routes without the JWT authorizer.
pub const PUBLIC_ROUTES: &[&str] = &["GET /.well-known/jwks.json"];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = match route_key(&req).as_deref() {
        Some("POST /v1/challenges") => start(app, &req).await,
        Some("POST /v1/challenges/{challenge_id}/send") => send(app, &req).await,
        Some("POST /v1/challenges/{challenge_id}/verify") => verify(app, &req).await,
        Some("GET /.well-known/jwks.json") => jwks(app).await,
        _ => Err(Error::NotFound("no such route".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    #[serde(default)]
    device_token: Option<String>,
}

async fn start(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let body: Start = json_body(req)?;
    let device_token = body
        .device_token
        .map(|t| OpaqueToken::parse(&t).map_err(|_| Error::invalid("device_token is malformed")))
        .transpose()?;
    Ok(
        match login::start(app, &caller, device_token.as_ref()).await? {
            LoginStart::Approved { assertion } => {
                tracing::info!(
                    user = caller.user.as_ref(),
                    "login approved by a remembered device"
                );
                json(200, &StartAnswer::Approved { assertion })
            }
            LoginStart::NotRequired => json(200, &StartAnswer::NotRequired),
            LoginStart::EnrollmentRequired => json(200, &StartAnswer::EnrollmentRequired),
            LoginStart::Pending {
                challenge_id,
                methods,
                default_method,
                expires_in,
            } => json(
                201,
                &StartAnswer::Pending {
                    challenge_id: challenge_id.as_ref().to_owned(),
                    methods: methods.iter().map(Method::as_str).collect(),
                    default_method: default_method.as_str(),
                    expires_in,
                },
            ),
        },
    )
}

/// What `POST /v1/challenges` answers, tagged by `status`.
#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum StartAnswer {
    NotRequired,
    EnrollmentRequired,
    Approved {
        assertion: String,
    },
    Pending {
        challenge_id: String,
        methods: Vec<&'static str>,
        default_method: &'static str,
        expires_in: i64,
    },
}

/// A login code on its way to the phone.
#[derive(Serialize)]
struct CodeSent {
    challenge_id: String,
    channel: &'static str,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Send {
    channel: ChannelIn,
}

async fn send(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "challenge_id")?, "challenge_id")?;
    let body: Send = json_body(req)?;
    let channel = Channel::from(body.channel);
    let to = login::send(app, &caller, &id, channel).await?;
    Ok(json(
        202,
        &CodeSent {
            challenge_id: id.as_ref().to_owned(),
            channel: channel.as_str(),
            to,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    method: Method,
    code: String,
    #[serde(default)]
    remember_device: bool,
    #[serde(default)]
    device_name: Option<String>,
}

#[derive(Serialize)]
struct Approved {
    status: &'static str,
    assertion: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_recovery_code: Option<String>,
}

async fn verify(app: &App, req: &Request) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = ChallengeId::parse(&path_param(req, "challenge_id")?, "challenge_id")?;
    let body: Verify = json_body(req)?;
    let method = body.method;
    let name = body
        .device_name
        .as_deref()
        .map(|n| {
            Label::parse(n)
                .map_err(|_| Error::invalid("device_name must be 1-64 printable characters"))
        })
        .transpose()?;
    let remember = body
        .remember_device
        .then(|| devices::name_for(name, caller.user_agent.as_deref()));
    let ok = login::verify(app, &caller, &id, method, &body.code, remember).await?;
    tracing::info!(
        user = caller.user.as_ref(),
        method = method.as_str(),
        "login second step passed"
    );
    Ok(json(
        200,
        &Approved {
            status: "approved",
            assertion: ok.assertion,
            device_token: ok.device_token.map(|t| t.as_str().to_owned()),
            new_recovery_code: ok.new_recovery_code.map(|c| c.display()),
        },
    ))
}

async fn jwks(app: &App) -> Result<Response<Body>> {
    Ok(json(200, &assertion::jwks(app).await?))
}
