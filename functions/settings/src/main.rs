shared::lambda_main!(settings::handle);
