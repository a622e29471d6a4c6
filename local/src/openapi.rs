//! The API's OpenAPI 3.1 document, put together from every function's routes. The dev gateway
//! serves it at `GET /openapi.json`; `docs/openapi.json` is the same text, checked in
//! (`make openapi` writes it).

use std::collections::BTreeSet;

use utoipa::OpenApi as _;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    mfa_http::api::document([
        step_up::Api::openapi(),
        add_totp::Api::openapi(),
        add_phone::Api::openapi(),
        add_webauthn::Api::openapi(),
        regenerate_recovery::Api::openapi(),
        verify::Api::openapi(),
        settings::Api::openapi(),
        admin_reset::Api::openapi(),
        self_reset::Api::openapi(),
    ])
}

/// The document as `docs/openapi.json` holds it.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// Every operation of a document as `("METHOD /path", needs the bearer token)`.
pub fn document_routes(doc: &serde_json::Value) -> BTreeSet<(String, bool)> {
    let global_auth = doc["security"].as_array().is_some_and(|reqs| {
        reqs.iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    });
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let auth = match op["security"].as_array() {
                Some(reqs) => reqs
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
                None => global_auth,
            };
            out.insert((format!("{} {path}", method.to_uppercase()), auth));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{routes, template_routes};

    /// What one side has that the other lacks, each way.
    fn disagreements<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> (Vec<T>, Vec<T>) {
        (
            a.difference(b).cloned().collect(),
            b.difference(a).cloned().collect(),
        )
    }

    fn the_three() -> [BTreeSet<(String, bool)>; 3] {
        let doc = serde_json::to_value(document()).unwrap();
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/template.yaml"
        ))
        .expect("infra/template.yaml");
        [
            document_routes(&doc),
            routes()
                .into_iter()
                .map(|(key, _, auth)| (key.to_owned(), auth))
                .collect(),
            template_routes(&template)
                .into_iter()
                .map(|(key, _, auth)| (key, auth))
                .collect(),
        ]
    }

    #[test]
    fn the_document_the_gateway_and_the_template_declare_the_same_routes_and_auth() {
        let [doc, gateway, template] = the_three();
        assert_eq!(
            disagreements(&doc, &gateway),
            (vec![], vec![]),
            "(in the document only, served by the gateway only)"
        );
        assert_eq!(
            disagreements(&template, &gateway),
            (vec![], vec![]),
            "(in the template only, served by the gateway only)"
        );
        assert_eq!(doc.len(), 40);
        assert!(doc.contains(&("GET /.well-known/jwks.json".into(), false)));
    }

    #[test]
    fn a_route_missing_from_any_of_the_three_is_a_disagreement() {
        let three = the_three();
        for i in 0..3 {
            let mut cut = three.clone();
            let gone = cut[i].iter().next().cloned().unwrap();
            cut[i].remove(&gone);
            let found = (0..3)
                .filter(|&j| j != i)
                .any(|j| disagreements(&cut[i], &cut[j]) != (vec![], vec![]));
            assert!(found, "removing {gone:?} from side {i} went unnoticed");
        }
    }

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let checked_in =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
                .unwrap_or_default();
        assert!(
            checked_in == document_json(),
            "docs/openapi.json is stale: run `make openapi` and commit it"
        );
    }

    #[test]
    fn every_operation_documents_its_errors_with_the_error_body() {
        let doc = serde_json::to_value(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                let route = format!("{method} {path}");
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{route}: no success response"
                );
                for status in ["500", "503"] {
                    assert!(responses.contains_key(status), "{route}: no {status}");
                }
                assert!(
                    responses["503"]["headers"].get("Retry-After").is_some(),
                    "{route}: 503 without Retry-After"
                );
                for (status, r) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                    let schema = &r["content"]["application/json"]["schema"];
                    if status == "401" {
                        // API Gateway's own body, or the error body of a function.
                        let refs: Vec<&str> = schema["oneOf"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s["$ref"].as_str())
                            .collect();
                        assert_eq!(
                            refs,
                            [
                                "#/components/schemas/GatewayError",
                                "#/components/schemas/ErrorBody"
                            ],
                            "{route} 401"
                        );
                    } else {
                        assert_eq!(
                            schema["$ref"], "#/components/schemas/ErrorBody",
                            "{route} {status}"
                        );
                    }
                }
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                assert!(ids.insert(id), "{route}: operationId missing or used twice");
                let public = path == "/.well-known/jwks.json";
                assert_eq!(responses.contains_key("401"), !public, "{route}: 401");
            }
        }
    }

    #[test]
    fn every_route_that_needs_a_step_up_documents_the_header_and_the_403() {
        let doc = serde_json::to_value(document()).unwrap();
        let mut with_header = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let header = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == "X-Step-Up-Token" && p["in"] == "header");
                if header {
                    with_header += 1;
                    assert!(
                        op["responses"].get("403").is_some(),
                        "{method} {path}: the step-up header without its 403"
                    );
                }
            }
        }
        // The (step-up) routes of the README: app, phone and security key add, rename and
        // remove, recovery code, policy, turning 2FA off, an admin's member reset, and setting
        // the organisation's policy.
        assert_eq!(with_header, 14);
    }
}
