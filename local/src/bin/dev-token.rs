//! Prints a dev JWT for any claims as its last line:
//! `dev-token --sub ID --email ADDR --org-id ORG --org-role ROLE --plan PLAN [--scope S] [--ttl SECS]`

use serde_json::{Map, Value};

fn main() {
    let mut claims = Map::new();
    let mut ttl = 3600i64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            std::process::exit(2);
        };
        let claim = match flag.as_str() {
            "--sub" => "sub",
            "--email" => "email",
            "--org-id" => "org_id",
            "--org-role" => "org_role",
            "--plan" => "plan",
            "--scope" => "scope",
            "--ttl" => {
                ttl = value.parse().unwrap_or_else(|_| {
                    eprintln!("--ttl takes seconds");
                    std::process::exit(2)
                });
                continue;
            }
            _ => {
                eprintln!("unknown flag {flag}; usage: token --sub ID --email ADDR --org-id ORG --org-role ROLE --plan PLAN [--scope S] [--ttl SECS]");
                std::process::exit(2);
            }
        };
        claims.insert(claim.to_owned(), Value::String(value));
    }
    if !claims.contains_key("sub") {
        eprintln!("--sub is required");
        std::process::exit(2);
    }
    match local_dev::jwt::DevKey::load_or_create(&local_dev::state_dir())
        .and_then(|k| k.mint(claims, ttl))
    {
        Ok(token) => println!("{token}"),
        Err(e) => {
            eprintln!("could not mint a token: {e}");
            std::process::exit(1);
        }
    }
}
