mfa_http::lambda_main!(verify::handle, sms, voice, signer);
