//! The names of the old single `shared` crate, kept while its callers move to the three crates
//! it was split into (issue 11): `mfa-domain` (no AWS, HTTP or Lambda type), `mfa-http` (the
//! edge) and `mfa-aws` (the adapters and the wiring). It adds nothing of its own but the
//! `lambda_main!` that joins edge and wiring.

pub use mfa_aws as aws;
pub use mfa_domain::*;
pub use mfa_http as http;

/// The whole `main` of a function crate: tracing, the service built once per cold start with
/// only the optional clients named (`sms`, `voice`, `signer`), and the Lambda runtime calling
/// `$handle(&app, request)` for every request.
#[macro_export]
macro_rules! lambda_main {
    ($handle:path $(, $client:ident)* $(,)?) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::http::init_tracing();
            // Naming every client leaves nothing for `..Default::default()` to fill.
            #[allow(clippy::needless_update)]
            let clients = $crate::aws::Clients {
                $($client: true,)*
                ..Default::default()
            };
            let app = $crate::aws::app_from_env(clients).await?;
            let app = &app;
            lambda_http::run(lambda_http::service_fn(move |req| async move {
                Ok::<_, std::convert::Infallible>($handle(app, req).await)
            }))
            .await
        }
    };
}
