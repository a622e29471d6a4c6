//! The reference console page (`local/web/`): plain files the dev gateway serves at `/`, read
//! from disk on each request so an edit shows on reload. Only the dev gateway serves them; no
//! Lambda function knows of the page.

use std::path::PathBuf;

use axum::response::{IntoResponse, Response};

/// What the page may load and where it may connect: its own files and the API of the same
/// origin, images from `data:` (the QR code), nothing inline, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The page's folder: `WEB_DIR`, else `local/web` of this checkout.
pub fn dir() -> PathBuf {
    std::env::var_os("WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web"))
}

/// The content type and bytes of the page file at URL `path` (`/` is `index.html`), if there is
/// one: a plain name of the folder itself (letters, digits, `-`, `_`, `.`, not starting with a
/// dot) with a known extension. Nothing else of the disk can be named.
pub fn file(path: &str) -> Option<(&'static str, Vec<u8>)> {
    let name = match path {
        "/" => "index.html",
        p => p.strip_prefix('/')?,
    };
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain || name.starts_with('.') {
        return None;
    }
    let content_type = match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    };
    let bytes = std::fs::read(dir().join(name)).ok()?;
    Some((content_type, bytes))
}

/// A page file with the headers a console page should have: the policy above, no sniffing, no
/// referrer, no caching (it holds nothing secret, but an edit should show at once).
pub fn response(content_type: &'static str, bytes: Vec<u8>) -> Response {
    (
        [
            ("content-type", content_type),
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_files_are_served_and_nothing_else_of_the_disk() {
        let (ct, index) = file("/").expect("index.html");
        assert_eq!(ct, "text/html; charset=utf-8");
        assert_eq!(file("/index.html").unwrap().1, index);
        assert_eq!(file("/app.js").unwrap().0, "text/javascript; charset=utf-8");
        assert_eq!(file("/style.css").unwrap().0, "text/css; charset=utf-8");
        for bad in [
            "/../Cargo.toml",
            "/..%2fCargo.toml",
            "/.hidden.js",
            "/sub/app.js",
            "//etc/passwd",
            "/Cargo.toml",
            "/missing.js",
            "/v1/mfa",
            "",
        ] {
            assert!(file(bad).is_none(), "{bad}");
        }
    }
}
