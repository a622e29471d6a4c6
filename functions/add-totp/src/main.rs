shared::lambda_main!(add_totp::handle);
