mfa_http::lambda_main!(add_phone::handle, sms, voice);
