shared::lambda_main!(regenerate_recovery::handle);
