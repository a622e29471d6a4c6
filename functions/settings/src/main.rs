mfa_http::lambda_main!(settings::handle);
