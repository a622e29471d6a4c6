//! The dev gateway: plays API Gateway HTTP API in front of the function handlers. It matches a
//! route, runs the JWT authorizer, builds the same payload-2.0 event API Gateway sends, turns it
//! into a `lambda_http::Request` exactly as the Lambda runtime does, and calls the handler
//! in-process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{ConnectInfo, Request as AxumRequest, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::StatusCode;
use lambda_http::Body;
use mfa_domain::clock::OffsetClock;
use mfa_domain::App;
use serde_json::{json, Map, Value};

use crate::jwt::{claims_as_strings, Verifier};

/// The functions behind the API, one per flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    StepUp,
    AddTotp,
    AddPhone,
    AddWebauthn,
    RegenerateRecovery,
    Verify,
    Settings,
    AdminReset,
    SelfReset,
}

impl Function {
    pub const ALL: [Function; 9] = [
        Function::StepUp,
        Function::AddTotp,
        Function::AddPhone,
        Function::AddWebauthn,
        Function::RegenerateRecovery,
        Function::Verify,
        Function::Settings,
        Function::AdminReset,
        Function::SelfReset,
    ];

    /// The function's crate name (`functions/<name>`), which its logs and metrics carry, as
    /// the deployed binary's do.
    pub fn name(self) -> &'static str {
        match self {
            Function::StepUp => "step-up",
            Function::AddTotp => "add-totp",
            Function::AddPhone => "add-phone",
            Function::AddWebauthn => "add-webauthn",
            Function::RegenerateRecovery => "regenerate-recovery",
            Function::Verify => "verify",
            Function::Settings => "settings",
            Function::AdminReset => "admin-reset",
            Function::SelfReset => "self-reset",
        }
    }
}

/// Every route of the API, as `"METHOD /path/{param}"` with the function that serves it and
/// whether the JWT authorizer guards it: the same table the IaC template declares.
pub fn routes() -> Vec<(&'static str, Function, bool)> {
    let table: [(&[&'static str], Function, bool); 10] = [
        (step_up::ROUTES, Function::StepUp, true),
        (add_totp::ROUTES, Function::AddTotp, true),
        (add_phone::ROUTES, Function::AddPhone, true),
        (add_webauthn::ROUTES, Function::AddWebauthn, true),
        (
            regenerate_recovery::ROUTES,
            Function::RegenerateRecovery,
            true,
        ),
        (verify::ROUTES, Function::Verify, true),
        (settings::ROUTES, Function::Settings, true),
        (admin_reset::ROUTES, Function::AdminReset, true),
        (self_reset::ROUTES, Function::SelfReset, true),
        (verify::PUBLIC_ROUTES, Function::Verify, false),
    ];
    table
        .into_iter()
        .flat_map(|(routes, f, auth)| routes.iter().map(move |r| (*r, f, auth)))
        .collect()
}

/// A matched route: its key, function, path parameters, and whether it needs a JWT.
pub struct Matched {
    pub key: String,
    pub function: Function,
    pub params: HashMap<String, String>,
    pub authorized: bool,
}

/// Matches a method and path against the route table.
pub fn match_route(method: &str, path: &str) -> Option<Matched> {
    routes().into_iter().find_map(|(key, f, authorized)| {
        let (m, template) = key.split_once(' ')?;
        if m != method {
            return None;
        }
        Some(Matched {
            key: key.to_owned(),
            function: f,
            params: path_params(template, path)?,
            authorized,
        })
    })
}

/// The parameters of `path` (no query string) under a route template such as
/// `/v1/factors/totp/{factor_id}`, if it matches: same segments, each `{name}` non-empty. A
/// trailing `/` is ignored, as API Gateway does.
pub fn path_params(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let tsegs: Vec<&str> = template.split('/').collect();
    if tsegs.len() != segments.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, s) in tsegs.iter().zip(&segments) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !s.is_empty() => {
                params.insert(name.to_owned(), (*s).to_owned());
            }
            Some(_) => return None,
            None if t == s => {}
            None => return None,
        }
    }
    Some(params)
}

pub struct Gateway {
    pub app: App,
    pub verifier: Verifier,
    pub clock: Arc<OffsetClock>,
    /// Allows `POST /__dev/clock {"advance_seconds": N}` (tests only; off by default).
    pub clock_control: bool,
    /// Allows `POST /__dev/faults` (tests only; off by default): `{"poison_next_transaction":
    /// true}`, `{"pause_next_transaction_ms": N}`, `{"stop_at_call": N, "pid": P, "port": Q,
    /// "freeze": bool}` or `{"disarm": true}`; and `GET /__dev/calls`, the AWS requests sent so
    /// far per service.
    pub faults: Option<crate::faults::Faults>,
    /// Allows `POST /__dev/token`, the reference console page's local sign-in: a dev token for
    /// any user, organisation, role and plan (the dev gateway sets it; API Gateway has none).
    pub sign_in: Option<crate::jwt::DevKey>,
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    // API Gateway's own error shape (it cannot be customised on HTTP APIs).
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new().fallback(handle).with_state(gw)
}

/// Serves on `addr` until the process is stopped.
pub async fn serve(gw: Arc<Gateway>, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(
        listener,
        router(gw).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: AxumRequest,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 10 * 1024 * 1024).await else {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let path = parts.uri.path().to_owned();
    if gw.clock_control && parts.method == http::Method::POST && path == "/__dev/clock" {
        let secs = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["advance_seconds"].as_i64());
        return match secs {
            Some(s) => {
                gw.clock.advance(s);
                axum::Json(json!({ "offset_seconds": gw.clock.offset() })).into_response()
            }
            None => gateway_error(StatusCode::BAD_REQUEST, "advance_seconds required"),
        };
    }
    if let (Some(faults), &http::Method::GET, "/__dev/calls") =
        (&gw.faults, &parts.method, path.as_str())
    {
        return axum::Json(json!(faults.calls.counts())).into_response();
    }
    if let (Some(faults), &http::Method::POST, "/__dev/faults") =
        (&gw.faults, &parts.method, path.as_str())
    {
        let v = serde_json::from_slice::<Value>(&body).unwrap_or_default();
        let number = |k: &str| v[k].as_u64().and_then(|n| u32::try_from(n).ok());
        if v["poison_next_transaction"] == json!(true) {
            faults.poison.arm();
            return axum::Json(json!({ "armed": true })).into_response();
        }
        if let Some(ms) = v["pause_next_transaction_ms"].as_u64() {
            faults.pause.arm(std::time::Duration::from_millis(ms));
            return axum::Json(json!({ "armed": true })).into_response();
        }
        if v["disarm"] == json!(true) {
            let was_armed = faults.stop.disarm();
            return axum::Json(json!({ "was_armed": was_armed })).into_response();
        }
        return match (number("stop_at_call"), number("pid"), number("port")) {
            (Some(at_call), Some(pid), Some(port)) if at_call > 0 => {
                faults.stop.arm(crate::faults::Stop {
                    at_call,
                    pid,
                    port: u16::try_from(port).unwrap_or(0),
                    freeze: v["freeze"] == json!(true),
                });
                axum::Json(json!({ "armed": true })).into_response()
            }
            _ => gateway_error(
                StatusCode::BAD_REQUEST,
                "poison_next_transaction, pause_next_transaction_ms, disarm, or stop_at_call with pid and port required",
            ),
        };
    }
    if let (Some(key), &http::Method::POST, "/__dev/token") =
        (&gw.sign_in, &parts.method, path.as_str())
    {
        return dev_sign_in(key, &parts.headers, &body);
    }
    if parts.method == http::Method::GET {
        if let Some((content_type, bytes)) = crate::web::file(&path) {
            return crate::web::response(content_type, bytes);
        }
    }
    if parts.method == http::Method::GET && path == "/openapi.json" {
        // The API's contract, without a token (API Gateway would not serve it).
        return (
            [("content-type", "application/json")],
            crate::openapi::document_json(),
        )
            .into_response();
    }
    let Some(route) = match_route(parts.method.as_str(), &path) else {
        return gateway_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.authorized {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token.and_then(|t| gw.verifier.verify(t.trim())) {
            Some(claims) => Some(claims),
            None => return gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        }
    } else {
        None
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let event = api_gateway_event(
        &request_id,
        &parts,
        &body,
        &route.key,
        &route.params,
        claims.as_ref(),
        peer,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(_) => return gateway_error(StatusCode::BAD_REQUEST, "Bad Request"),
    };
    let app = &gw.app;
    let function = route.function;
    let response = mfa_http::serve(function.name(), request, |request| async move {
        match function {
            Function::StepUp => step_up::handle(app, request).await,
            Function::AddTotp => add_totp::handle(app, request).await,
            Function::AddPhone => add_phone::handle(app, request).await,
            Function::AddWebauthn => add_webauthn::handle(app, request).await,
            Function::RegenerateRecovery => regenerate_recovery::handle(app, request).await,
            Function::Verify => verify::handle(app, request).await,
            Function::Settings => settings::handle(app, request).await,
            Function::AdminReset => admin_reset::handle(app, request).await,
            Function::SelfReset => self_reset::handle(app, request).await,
        }
    })
    .await;
    let (mut parts, body) = response.into_parts();
    // API Gateway names the request in every answer; the logs name it the same way.
    if let Ok(id) = http::HeaderValue::from_str(&request_id) {
        parts.headers.insert("apigw-requestid", id);
    }
    let body = match body {
        Body::Empty => AxumBody::empty(),
        Body::Text(t) => AxumBody::from(t),
        Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

/// `POST /__dev/token {sub, email?, org_id?, org_role?, plan?, scope?, ttl_seconds?}`: a dev
/// token, `200 {token, expires_in}`. Only a JSON body is taken, so a page of another origin cannot
/// send one without a CORS preflight, which this gateway never grants.
fn dev_sign_in(key: &crate::jwt::DevKey, headers: &http::HeaderMap, body: &[u8]) -> Response {
    let json_body = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return gateway_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type application/json required",
        );
    }
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return gateway_error(StatusCode::BAD_REQUEST, "a JSON object required");
    };
    match crate::jwt::sign_in_claims(&input) {
        Ok((claims, ttl)) => match key.mint(claims, ttl) {
            Ok(token) => axum::Json(json!({ "token": token, "expires_in": ttl })).into_response(),
            Err(_) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "could not mint a token"),
        },
        Err(message) => gateway_error(StatusCode::BAD_REQUEST, message),
    }
}

/// The payload-format-2.0 event API Gateway HTTP API sends to a Lambda integration.
fn api_gateway_event(
    request_id: &str,
    parts: &http::request::Parts,
    body: &[u8],
    route_key: &str,
    params: &HashMap<String, String>,
    claims: Option<&Map<String, Value>>,
    peer: SocketAddr,
) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let entry = headers.entry(name.as_str().to_owned()).or_insert(json!(""));
        *entry = match entry.as_str() {
            Some("") | None => json!(v),
            Some(prev) => json!(format!("{prev},{v}")),
        };
    }
    let now = time::OffsetDateTime::now_utc();
    let (body_text, is_b64) = match std::str::from_utf8(body) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (data_encoding::BASE64.encode(body), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.to_string(),
            "timeEpoch": now.unix_timestamp() * 1000,
        },
        "isBase64Encoded": is_b64,
    });
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] =
            json!({ "jwt": { "claims": claims_as_strings(claims), "scopes": null } });
    }
    if !body.is_empty() {
        event["body"] = json!(body_text);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if let Some(q) = parts.uri.query() {
        let qs: Map<String, Value> = q
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = json!(qs);
    }
    event
}

/// The routes `infra/template.yaml` declares: `(route key, function resource, authorized)`. A
/// line scan of the SAM events (`Method:` then `Path:`, `Authorizer: NONE` for a public one),
/// enough for a template this project writes.
pub fn template_routes(template: &str) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    let mut resource = String::new();
    let mut method: Option<String> = None;
    for line in template.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 2 && text.ends_with(':') && !text.starts_with('#') {
            resource = text.trim_end_matches(':').to_owned();
        } else if let Some(m) = text.strip_prefix("Method: ") {
            method = Some(m.trim().to_uppercase());
        } else if let (Some(path), Some(m)) = (text.strip_prefix("Path: "), method.take()) {
            out.push((format!("{m} {}", path.trim()), resource.clone(), true));
        } else if text == "Authorizer: NONE" {
            if let Some(last) = out.last_mut() {
                last.2 = false;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn given_the_template_then_it_declares_exactly_the_gateway_routes_with_the_same_function_and_auth(
    ) {
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/template.yaml"
        ))
        .expect("infra/template.yaml");
        let declared: BTreeSet<(String, String, bool)> =
            template_routes(&template).into_iter().collect();
        let served: BTreeSet<(String, String, bool)> = routes()
            .into_iter()
            .map(|(key, f, auth)| (key.to_owned(), format!("{f:?}Function"), auth))
            .collect();
        let missing: Vec<_> = served.difference(&declared).collect();
        let extra: Vec<_> = declared.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "served but not in the template: {missing:?}; in the template but not served: {extra:?}"
        );
        assert_eq!(declared.len(), 40);
    }

    #[test]
    fn the_template_scan_reads_method_path_function_and_a_public_route() {
        let t = "Resources:\n  VerifyFunction:\n    Properties:\n      Events:\n        A:\n          Properties:\n            Method: post\n            Path: /v1/challenges\n        B:\n          Properties:\n            Method: GET\n            Path: /.well-known/jwks.json\n            Auth:\n              Authorizer: NONE\n";
        assert_eq!(
            template_routes(t),
            vec![
                ("POST /v1/challenges".into(), "VerifyFunction".into(), true),
                (
                    "GET /.well-known/jwks.json".into(),
                    "VerifyFunction".into(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn each_function_is_named_as_its_crate() {
        for f in Function::ALL {
            let manifest = format!(
                "{}/../functions/{}/Cargo.toml",
                env!("CARGO_MANIFEST_DIR"),
                f.name()
            );
            let text = std::fs::read_to_string(&manifest).expect(&manifest);
            assert!(
                text.contains(&format!("name = \"{}\"", f.name())),
                "{manifest}"
            );
        }
    }

    #[test]
    fn routes_match_by_method_and_template() {
        let m = match_route("POST", "/v1/step-up/email").unwrap();
        assert_eq!(m.key, "POST /v1/step-up/email");
        assert_eq!(m.function, Function::StepUp);
        assert!(m.params.is_empty() && m.authorized);
        assert!(
            !match_route("GET", "/.well-known/jwks.json")
                .unwrap()
                .authorized
        );
        assert!(match_route("GET", "/v1/step-up/email").is_none());
        assert!(match_route("POST", "/v1/step-up/email/verify/x").is_none());
        let m = match_route(
            "DELETE",
            "/v1/factors/totp/5b0e1a52-0000-4000-8000-000000000000",
        )
        .unwrap();
        assert_eq!(
            (m.key.as_str(), m.function),
            ("DELETE /v1/factors/totp/{factor_id}", Function::AddTotp)
        );
        assert_eq!(
            m.params["factor_id"],
            "5b0e1a52-0000-4000-8000-000000000000"
        );
    }
}
