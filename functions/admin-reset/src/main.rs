mfa_http::lambda_main!(admin_reset::handle);
