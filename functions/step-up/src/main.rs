shared::lambda_main!(step_up::handle, sms, voice);
