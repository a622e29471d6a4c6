mfa_http::lambda_main!(add_totp::handle);
