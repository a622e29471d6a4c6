mfa_http::lambda_main!(step_up::handle, sms, voice);
