//! The HTTP edge shared by every function (crate `mfa-http`): who is calling (from the authorizer's claims only),
//! JSON in (parsed into validated types, never echoing values), JSON out, and the one mapping
//! from [`Error`] to an HTTP response.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use mfa_domain::error::{Error, Result};
pub use mfa_domain::identity::Caller;
use mfa_domain::types::{Email, OrgRole, Plan, UserId};

/// Reads the caller from `requestContext.authorizer.jwt.claims`: never from a header.
pub fn caller(req: &Request) -> Result<Caller> {
    let ctx = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx,
        _ => return Err(Error::Unauthorized("no authorizer context".into())),
    };
    let claims = ctx
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|j| &j.claims)
        .ok_or_else(|| Error::Unauthorized("no authorizer claims".into()))?;
    let claim = |k: &str| claims.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let user = UserId::parse(
        claim("sub").ok_or_else(|| Error::Unauthorized("the token has no sub claim".into()))?,
    )?;
    let email = claim("email")
        .map(|e| {
            Email::parse(e).map_err(|_| {
                Error::Unauthorized("the token's email claim is not an address".into())
            })
        })
        .transpose()?;
    Ok(Caller {
        user,
        email,
        org_id: claim("org_id").map(str::to_owned),
        org_role: claim("org_role").map(OrgRole::parse).transpose()?,
        plan: claim("plan").map(Plan::parse).transpose()?,
        scopes: claim("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        source_ip: ctx.http.source_ip.clone(),
        user_agent: ctx.http.user_agent.clone(),
    })
}

/// What each route reads and answers, and the OpenAPI document made from them.
pub mod api;

pub mod logs;
pub use logs::{init_tracing, serve};

/// The route this request matched (`"POST /v1/step-up/email"`), as API Gateway names it.
pub fn route_key(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    }
}

/// A path parameter (`{factor_id}`) as API Gateway passed it.
pub fn path_param(req: &Request, name: &str) -> Result<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(format!("missing path parameter {name}")))
}

/// A factor id given in a body's optional `field`, checked at the edge (`400` if malformed).
pub fn optional_factor_id(
    value: Option<&str>,
    field: &str,
) -> Result<Option<mfa_domain::types::FactorId>> {
    value
        .map(|v| mfa_domain::types::FactorId::parse(v, field))
        .transpose()
}

/// Fails with `step_up_required` unless the request carries a valid step-up token of the caller
/// at the level their account needs (`factor` once they have an active factor).
pub async fn require_step_up(app: &mfa_domain::App, req: &Request, caller: &Caller) -> Result<()> {
    mfa_domain::step_up::require_for_change(app, caller, header(req, mfa_domain::step_up::HEADER))
        .await
}

/// `PATCH /v1/factors/{kind}/{factor_id}` `{label}`: renames one of the caller's factors of
/// `kind`, with a step-up like every change to the factors; the factor as renamed.
pub async fn rename_factor(
    app: &mfa_domain::App,
    req: &Request,
    kind: mfa_domain::model::FactorKind,
) -> Result<Response<Body>> {
    let caller = caller(req)?;
    let id = mfa_domain::types::FactorId::parse(&path_param(req, "factor_id")?, "factor_id")?;
    let body: api::factors::Rename = json_body(req)?;
    let label = mfa_domain::types::Label::parse(&body.label)?;
    require_step_up(app, req, &caller).await?;
    let f = mfa_domain::factors::rename(app, &caller, &id, kind, label).await?;
    let masked = mfa_domain::factors::masked_phone(app.keys().await?, &f)?;
    Ok(json(200, &api::factors::FactorView::of(&f, masked)))
}

/// True when the client asked for plain text rather than JSON.
pub fn wants_text(req: &Request) -> bool {
    header(req, "accept")
        .is_some_and(|a| a.contains("text/plain") && !a.contains("application/json"))
}

/// A header's value, if present and valid UTF-8.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A query string parameter, if given once (a repeated parameter is a 400).
pub fn query_param(req: &Request, name: &str) -> Result<Option<String>> {
    let params = req.query_string_parameters_ref();
    let values: Vec<&str> = params
        .map(|p| p.all(name).unwrap_or_default())
        .unwrap_or_default();
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).to_owned())),
        _ => Err(Error::invalid(format!("`{name}` is given more than once"))),
    }
}

/// `?limit=&cursor=` of a page of security events: the page size (default 20, at most 100)
/// and where to continue.
pub fn event_page_query(req: &Request) -> Result<(usize, Option<String>)> {
    use mfa_domain::rules::{EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX};
    let limit = match query_param(req, "limit")? {
        None => EVENTS_PAGE_DEFAULT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=EVENTS_PAGE_MAX).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "limit must be a number from 1 to {EVENTS_PAGE_MAX}"
                ))
            })?,
    };
    Ok((limit, query_param(req, "cursor")?))
}

/// Parses the JSON body into `T`. An empty body parses as `{}` (routes whose fields are all
/// optional). Errors name the field but never echo a value, which may be a code.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let bytes: &[u8] = req.body().as_ref();
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                if text.starts_with("missing field") || text.starts_with("unknown field") {
                    text.split(" at line").next().unwrap_or("").to_owned()
                } else if path == "." {
                    "the body must be a JSON object".to_owned()
                } else {
                    format!("`{path}` has the wrong type or value")
                }
            }
            _ => "the body is not valid JSON".to_owned(),
        };
        Error::InvalidRequest(msg)
    })
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("cache-control", "no-store")
            .body(Body::Text(text))
            .unwrap_or_default(),
        Err(e) => error_response(&Error::Internal(format!("serialize response: {e}"))),
    }
}

/// A response with no body (204).
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .unwrap_or_default()
}

/// A plain-text file download.
pub fn text_attachment(status: u16, filename: &str, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        )
        .header("cache-control", "no-store")
        .body(Body::Text(text))
        .unwrap_or_default()
}

/// The HTTP status of an error: the one place a status is decided.
pub fn status(err: &Error) -> u16 {
    match err {
        Error::InvalidRequest(_) | Error::InvalidCode { .. } | Error::InvalidCredential { .. } => {
            400
        }
        Error::Unauthorized(_) => 401,
        Error::StepUpRequired { .. } | Error::Forbidden(_) => 403,
        Error::NotFound(_) => 404,
        Error::Conflict(_) | Error::MfaRequired(_) => 409,
        Error::Expired(_) => 410,
        Error::TooManyAttempts(_) | Error::RateLimited { .. } => 429,
        Error::Unavailable { .. } => 503,
        Error::Internal(_) => 500,
    }
}

/// The one place an error becomes an HTTP response (and a log line).
pub fn error_response(err: &Error) -> Response<Body> {
    match err {
        Error::Unavailable { detail, maybe_done } => {
            tracing::warn!(code = err.code(), %detail, maybe_done, "dependency failed")
        }
        Error::Internal(detail) => tracing::error!(code = err.code(), %detail, "internal error"),
        _ => tracing::info!(code = err.code(), status = status(err), "request refused"),
    }
    let body = serde_json::to_string(&api::error::ErrorBody::from(err)).unwrap_or_default();
    let mut resp = Response::builder()
        .status(status(err))
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    if let Some(secs) = err.retry_after() {
        resp = resp.header("retry-after", secs.to_string());
    }
    let mut resp = resp.body(Body::Text(body)).unwrap_or_default();
    resp.extensions_mut().insert(logs::Refused(err.code()));
    resp
}

/// A response handed to the Lambda runtime as it was built. `lambda_http`'s own `IntoResponse`
/// for `Response<B>` reads every body again and decodes it with `encoding_rs` by its content
/// type's charset; every body here is UTF-8 JSON or text already (or empty), so that gives back
/// the same text, and it links about 150 KB of code and tables for other charsets into every
/// function.
pub struct Ready(pub Response<Body>);

impl lambda_http::IntoResponse for Ready {
    fn into_response(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// The whole `main` of a function crate: logs and metrics, the service built once per cold
/// start with only the optional clients named (`sms`, `voice`, `signer`), and the Lambda
/// runtime calling `$handle(&app, request)` for every request inside its logged span
/// ([`serve`], named by the crate). The wiring comes from `mfa_aws`, which only the function
/// binaries depend on: this crate itself does not.
#[macro_export]
macro_rules! lambda_main {
    ($handle:path $(, $client:ident)* $(,)?) => {
        // One thread: a Lambda environment takes one event at a time, so worker threads would
        // only add thread starts, allocator arenas and cross-thread wake-ups to every call.
        #[tokio::main(flavor = "current_thread")]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::init_tracing();
            // The clients are a constant of the binary: the ones not named are not linked.
            struct Wired;
            impl ::mfa_aws::Wiring for Wired {
                // Naming every client leaves nothing for `..Clients::NONE` to fill.
                #[allow(clippy::needless_update)]
                const CLIENTS: ::mfa_aws::Clients = ::mfa_aws::Clients {
                    $($client: true,)*
                    ..::mfa_aws::Clients::NONE
                };
            }
            let app = ::mfa_aws::app_from_env::<Wired>().await?;
            let app = &app;
            lambda_http::run(lambda_http::service_fn(move |req| async move {
                let response =
                    $crate::serve(env!("CARGO_PKG_NAME"), req, |req| $handle(app, req)).await;
                Ok::<_, std::convert::Infallible>($crate::Ready(response))
            }))
            .await
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_response_reaches_the_lambda_runtime_as_it_was_built() {
        use lambda_http::IntoResponse;
        let built = [
            json(200, &serde_json::json!({"note": "café ✓"})),
            error_response(&Error::unavailable("kms")),
            text_attachment(200, "codes.txt", "1234-5678\n".to_owned()),
            no_content(),
        ];
        for response in built {
            let (status, headers) = (response.status(), response.headers().clone());
            let body = format!("{:?}", response.body());
            let out = Ready(response).into_response().await;
            assert_eq!(out.status(), status);
            assert_eq!(out.headers(), &headers);
            assert_eq!(format!("{:?}", out.body()), body);
        }
    }

    #[test]
    fn every_error_maps_to_the_spec_status_and_code() {
        let cases = [
            (Error::invalid("x"), 400, "invalid_request"),
            (
                Error::InvalidCode {
                    attempts_remaining: 2,
                },
                400,
                "invalid_code",
            ),
            (
                Error::InvalidCredential {
                    attempts_remaining: 2,
                },
                400,
                "invalid_credential",
            ),
            (Error::Unauthorized("x".into()), 401, "unauthorized"),
            (
                Error::StepUpRequired {
                    level: mfa_domain::model::StepUpLevel::Factor,
                    methods: vec!["totp"],
                },
                403,
                "step_up_required",
            ),
            (Error::Forbidden("x".into()), 403, "forbidden"),
            (Error::NotFound("x".into()), 404, "not_found"),
            (Error::Conflict("x".into()), 409, "conflict"),
            (Error::MfaRequired("x".into()), 409, "mfa_required"),
            (Error::Expired("x".into()), 410, "expired"),
            (Error::TooManyAttempts("x".into()), 429, "too_many_attempts"),
            (Error::RateLimited { retry_after: 7 }, 429, "rate_limited"),
            (Error::unavailable("dynamodb down"), 503, "unavailable"),
        ];
        for (err, expected, code) in cases {
            assert_eq!(status(&err), expected, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    fn request(body: &str, claims: &str) -> Request {
        let event = format!(
            r#"{{"version":"2.0","routeKey":"POST /v1/x","rawPath":"/v1/x","rawQueryString":"",
            "headers":{{"content-type":"application/json"}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"d","domainPrefix":"d",
              "http":{{"method":"POST","path":"/v1/x","protocol":"HTTP/1.1","sourceIp":"10.1.2.3","userAgent":"ua"}},
              "requestId":"r","routeKey":"POST /v1/x","stage":"$default","time":"t","timeEpoch":0,
              "authorizer":{{"jwt":{{"claims":{claims},"scopes":null}}}}}},
            "body":{body},"isBase64Encoded":false}}"#,
            body = serde_json::to_string(body).unwrap()
        );
        lambda_http::request::from_str(&event).unwrap()
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Verify {
        challenge_id: String,
        code: String,
    }

    #[test]
    fn given_claims_from_the_authorizer_then_the_caller_is_read_from_them() {
        let req = request(
            "{}",
            r#"{"sub":"u1","email":"a@b.co","org_role":"admin","plan":"paid","scope":"openid mfa:support"}"#,
        );
        let c = caller(&req).unwrap();
        assert_eq!(c.user.as_ref(), "u1");
        assert_eq!(c.org_role, Some(OrgRole::Admin));
        assert_eq!(c.plan, Some(Plan::Paid));
        assert!(c.scopes.contains(&"mfa:support".to_owned()));
        assert_eq!(c.source_ip.as_deref(), Some("10.1.2.3"));
    }

    #[test]
    fn given_no_sub_claim_then_the_caller_is_unauthorized() {
        let req = request("{}", r#"{"email":"a@b.co"}"#);
        assert_eq!(status(&caller(&req).unwrap_err()), 401);
    }

    #[test]
    fn given_a_wrong_type_then_the_error_names_the_field_but_not_the_value() {
        let req = request(r#"{"challenge_id":"x","code":987654}"#, "{}");
        let err = json_body::<Verify>(&req).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        let msg = err.public_message();
        assert!(msg.contains("code") && !msg.contains("987654"), "{msg}");
    }

    #[test]
    fn given_malformed_json_or_missing_fields_then_invalid_request() {
        for body in [
            "{",
            "[]",
            "\"x\"",
            r#"{"code":"1"}"#,
            r#"{"challenge_id":"x","code":"1","extra":1}"#,
        ] {
            let err = json_body::<Verify>(&request(body, "{}")).unwrap_err();
            assert_eq!(status(&err), 400, "{body}");
        }
    }

    use proptest::prelude::*;

    fn check_body<T: serde::de::DeserializeOwned>(
        req: &Request,
        body: &str,
    ) -> std::result::Result<(), TestCaseError> {
        if let Err(e) = json_body::<T>(req) {
            prop_assert_eq!(status(&e), 400);
            prop_assert_eq!(e.code(), "invalid_request");
            // Field names may be named; values (a code, a token) never are.
            let msg = e.public_message();
            let values: Vec<String> = match serde_json::from_str::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(m)) => m
                    .values()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .filter(|v| v.len() >= 6)
                    .collect(),
                _ => vec![],
            };
            for value in values {
                prop_assert!(!msg.contains(&value), "{}", msg);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any body, bytes or near-JSON, parses into every route's request type or is a
        /// 400 `invalid_request` that does not echo it.
        #[test]
        fn any_body_is_a_request_or_a_400(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                r#"\{("[a-z_]{1,14}":("[ -~]{0,20}"|[0-9]{1,20}|true|null|\[\]|\{\}),?){0,4}\}"#,
            ]
        ) {
            use crate::api::*;
            let req = request(&body, "{}");
            check_body::<common::Empty>(&req, &body)?;
            check_body::<common::CodeIn>(&req, &body)?;
            check_body::<step_up::VerifyCode>(&req, &body)?;
            check_body::<step_up::StartPhone>(&req, &body)?;
            check_body::<step_up::RecoveryStepUp>(&req, &body)?;
            check_body::<factors::StartTotp>(&req, &body)?;
            check_body::<factors::StartPhone>(&req, &body)?;
            check_body::<factors::Resend>(&req, &body)?;
            check_body::<login::StartLogin>(&req, &body)?;
            check_body::<login::SendCode>(&req, &body)?;
            check_body::<login::VerifyLogin>(&req, &body)?;
            check_body::<settings::PolicyIn>(&req, &body)?;
            check_body::<settings::Disable>(&req, &body)?;
            check_body::<resets::ResetIn>(&req, &body)?;
        }
    }

    #[test]
    fn error_response_carries_code_attempts_and_retry_after() {
        let r = error_response(&Error::InvalidCode {
            attempts_remaining: 3,
        });
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(r.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_code");
        assert_eq!(body["error"]["attempts_remaining"], 3);
        let r = error_response(&Error::RateLimited { retry_after: 42 });
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "42");
        let r = error_response(&Error::unavailable("secret detail"));
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        assert!(!String::from_utf8_lossy(r.body().as_ref()).contains("secret detail"));
    }
}
