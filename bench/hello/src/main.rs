//! The smallest `lambda_http` function: what a cold start costs before any of our code runs.
//! `make bench` compares every function's init and memory with this one's.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|_req| async {
        Ok::<_, std::convert::Infallible>(lambda_http::Response::new(lambda_http::Body::from(
            "hello",
        )))
    }))
    .await
}
