shared::lambda_main!(admin_reset::handle);
