//! Creates the local table, KMS key and SES sender from the environment. Safe to run again.

#[tokio::main]
async fn main() {
    let result = match local_dev::bootstrap::Settings::from_env() {
        Ok(s) => match mfa_aws::sdk_config(mfa_aws::TlsRoots::System) {
            Ok(sdk) => local_dev::bootstrap::run(&sdk, &s).await,
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("bootstrap failed: {e}");
        std::process::exit(1);
    }
}
