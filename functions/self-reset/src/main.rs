shared::lambda_main!(self_reset::handle);
