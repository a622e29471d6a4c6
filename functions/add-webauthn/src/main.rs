mfa_http::lambda_main!(add_webauthn::handle);
