shared::lambda_main!(verify::handle, sms, voice, signer);
