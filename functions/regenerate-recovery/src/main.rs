mfa_http::lambda_main!(regenerate_recovery::handle);
