use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::http::init_tracing();
    let app = shared::App::from_env().await?;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(add_phone::handle(app, req).await)
    }))
    .await
}
