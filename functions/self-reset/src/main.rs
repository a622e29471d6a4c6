mfa_http::lambda_main!(self_reset::handle);
