//! Prints the API's OpenAPI document (`make openapi` writes it to `docs/openapi.json`).

fn main() {
    print!("{}", local_dev::openapi::document_json());
}
