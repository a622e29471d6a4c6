//! Authenticator apps (RFC 6238): 160-bit secret, SHA-1, 6 digits, 30 s, +-1 step; the otpauth
//! URI and its QR code. Which step a code matched is returned so the store can accept each
//! step at most once per factor (RFC 6238 section 5.2).

use std::io::Cursor;

use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::crypto::{ct_eq, random_bytes};
use crate::error::{Error, Result};
use crate::types::OtpCode;

pub const DIGITS: usize = 6;
pub const PERIOD_SECS: i64 = 30;
pub const SKEW_STEPS: i64 = 1;
pub const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. Never logged; stored only sealed.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Issuer and account name may not hold ':' in an otpauth label.
fn label_part(s: &str) -> String {
    s.replace(':', " ").trim().to_owned()
}

impl TotpSecret {
    pub fn generate() -> Self {
        TotpSecret(Zeroizing::new(random_bytes::<SECRET_BYTES>().to_vec()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SECRET_BYTES {
            return Err(Error::Internal(
                "stored TOTP secret has the wrong size".into(),
            ));
        }
        Ok(TotpSecret(Zeroizing::new(bytes.to_vec())))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, no padding), as people type it into an app.
    pub fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(SKEW_STEPS as u16)
            .with_step_duration(PERIOD_SECS as u64)
            .with_secret(self.0.as_slice())
            .with_issuer(Some(label_part(issuer)))
            .with_account_name(label_part(account))
            .build()
            // The error can quote the account name (an email): keep it out of the log.
            .map_err(|_| Error::Internal("totp parameters refused".into()))
    }

    /// `otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30`
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String> {
        self.totp(issuer, account)?
            .to_url()
            .map_err(|_| Error::Internal("totp parameters refused".into()))
    }

    /// The code for the step containing `at` (what an app shows).
    pub fn code_at(&self, at: i64) -> Result<String> {
        Ok(self.totp("x", "x")?.generate(at.max(0) as u64).to_string())
    }

    /// The time step (`at / 30`) whose code equals `code`, among the current step and one on
    /// either side. Every candidate is compared in constant time, with no early exit.
    pub fn matching_step(&self, code: &OtpCode, at: i64) -> Result<Option<i64>> {
        let totp = self.totp("x", "x")?;
        let now_step = at.div_euclid(PERIOD_SECS);
        let mut found = None;
        for step in (now_step - SKEW_STEPS)..=(now_step + SKEW_STEPS) {
            let expected = Zeroizing::new(
                totp.generate((step.max(0) * PERIOD_SECS) as u64)
                    .to_string(),
            );
            if ct_eq(expected.as_bytes(), code.as_str().as_bytes()) && found.is_none() {
                found = Some(step);
            }
        }
        Ok(found)
    }
}

/// The otpauth URI as an SVG QR code.
pub fn qr_svg(uri: &str) -> Result<String> {
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Internal(format!("qr: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .build())
}

/// The otpauth URI as a PNG QR code, base64 (standard alphabet, padded).
pub fn qr_png_base64(uri: &str) -> Result<String> {
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Internal(format!("qr: {e}")))?;
    let img = code
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Internal(format!("png: {e}")))?;
    Ok(data_encoding::BASE64.encode(&png))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 secret "12345678901234567890" (8 digits there; 6 here are
    /// the last 6 of each).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let s = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(s.code_at(59).unwrap(), "287082");
        assert_eq!(s.code_at(1_111_111_109).unwrap(), "081804");
        assert_eq!(s.code_at(2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn a_code_matches_its_own_step_and_one_either_side_only() {
        let s = TotpSecret::generate();
        let t = 1_700_000_000;
        let code = OtpCode::parse(&s.code_at(t).unwrap(), 6).unwrap();
        let step = t / 30;
        assert_eq!(s.matching_step(&code, t).unwrap(), Some(step));
        assert_eq!(s.matching_step(&code, t + 30).unwrap(), Some(step));
        assert_eq!(s.matching_step(&code, t - 30).unwrap(), Some(step));
        assert_eq!(s.matching_step(&code, t + 60).unwrap(), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let s = TotpSecret::from_bytes(&[0u8; 20]).unwrap();
        let uri = s.otpauth_uri("Acme: Console", "jane@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        for part in [
            "secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "issuer=Acme",
            "jane%40example.com",
        ] {
            assert!(uri.contains(part), "{uri} lacks {part}");
        }
    }

    #[test]
    fn the_png_qr_code_decodes_back_to_the_uri() {
        let uri = TotpSecret::generate()
            .otpauth_uri("Console", "a@b.co")
            .unwrap();
        let png = data_encoding::BASE64
            .decode(qr_png_base64(&uri).unwrap().as_bytes())
            .unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, uri);
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
