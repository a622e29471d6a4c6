//! Creates the local table, KMS key and SES sender from the environment. Safe to run again.

#[tokio::main]
async fn main() {
    let result = match local_dev::bootstrap::Settings::from_env() {
        Ok(s) => local_dev::bootstrap::run(&mfa_aws::sdk_config().await, &s).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("bootstrap failed: {e}");
        std::process::exit(1);
    }
}
