//! The OpenAPI 3.1 document: each function declares its routes (`utoipa::path` on its
//! handlers); this adds what every route shares, so no route can forget it: the bearer auth,
//! the error body, and the errors any route can answer (400 on bad input, 401 without a valid
//! token, 500, and 503 with `Retry-After` when a dependency fails).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{Components, Object, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi as _;

use super::error::{ErrorBody, ErrorDetail, GatewayError};

/// The security scheme every route uses unless it says otherwise.
pub const BEARER: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Two-factor authentication",
        description = "Second factors for a web console: step-up, authenticator apps, phones, \
            recovery codes, login verification, remembered devices and resets. Every route but \
            the JWKS needs the console's access token (a JWT) as `Authorization: Bearer`. \
            Errors are `{\"error\": {\"code\", \"message\", ...}}` with a stable `code`."
    ),
    components(schemas(ErrorBody, ErrorDetail, GatewayError)),
    security(("bearer" = []))
)]
struct Base;

/// The whole document: the shared parts and each function's routes.
pub fn document(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for part in parts {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Components::default);
    components.security_schemes.insert(
        BEARER.to_owned(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("The console's access token."))
                .build(),
        )
        .into(),
    );
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            add_shared_errors(op);
        }
    }
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn error(description: &str, retry_after: bool) -> utoipa::openapi::Response {
    error_of(description, Ref::from_schema_name("ErrorBody"), retry_after)
}

fn error_of(
    description: &str,
    schema: impl Into<RefOr<Schema>>,
    retry_after: bool,
) -> utoipa::openapi::Response {
    let mut r = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    if retry_after {
        r = r.header(
            "Retry-After",
            retry_after_header("Seconds to wait before the same request can succeed."),
        );
    }
    r.build()
}

fn retry_after_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::Integer)))
        .description(Some(description))
        .build()
}

/// True for a route that opts out of the bearer auth (`security(())`).
fn is_public(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    })
}

fn add_with(
    responses: &mut std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>>,
    status: &str,
    response: utoipa::openapi::Response,
) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| response.into());
}

fn add_shared_errors(op: &mut Operation) {
    let takes_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let public = is_public(op);
    let responses = &mut op.responses.responses;
    if !public {
        // The authorizer refuses a missing or bad token itself, with API Gateway's body; a
        // function refuses a token without a claim it needs with the error body.
        let either = OneOfBuilder::new()
            .item(Ref::from_schema_name("GatewayError"))
            .item(Ref::from_schema_name("ErrorBody"))
            .build();
        add_with(
            responses,
            "401",
            error_of(
                "No valid access token (API Gateway's `{\"message\":\"Unauthorized\"}`), or it \
                 lacks a claim this route needs (`unauthorized`).",
                Schema::OneOf(either),
                false,
            ),
        );
    }
    let mut add = |status: &str, description: &str, retry_after: bool| {
        add_with(responses, status, error(description, retry_after));
    };
    if takes_input {
        add(
            "400",
            "Bad input (`invalid_request`), or a wrong code (`invalid_code` with \
             `attempts_remaining`).",
            false,
        );
    }
    add("500", "A fault of the service (`internal`).", false);
    add(
        "503",
        "A dependency failed (`unavailable`); nothing was changed, and the same request can \
         succeed later.",
        true,
    );
    if let Some(utoipa::openapi::RefOr::T(r)) = responses.get_mut("429") {
        r.headers
            .entry("Retry-After".to_owned())
            .or_insert_with(|| {
                retry_after_header("With `rate_limited`: seconds until a slot frees.").into()
            });
    }
}
