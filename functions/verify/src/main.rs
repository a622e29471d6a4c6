shared::lambda_main!(verify::handle);
