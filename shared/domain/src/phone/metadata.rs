//! libphonenumber's metadata, loaded one country calling code at a time.
//!
//! `rlibphonenumber`'s own singleton decodes and wraps every region's metadata on the first
//! parse: about 5.5 MB of heap and 4 ms, for a function that reads one number per request.
//! Here the metadata is indexed by country calling code at build time (`build.rs`), and a parse
//! gets a [`PhoneNumberUtil`] built from only the entries of the codes asked for so far: a code
//! is about 0.2 MB and 0.5 ms the first time it is seen, and the other codes' entries are never
//! read, so their pages of the binary are never loaded.
//!
//! Every entry of a code is loaded together (the 25 NANPA regions of `+1`, or every
//! non-geographic entity of `+800`), and a code's entries are all libphonenumber reads to parse,
//! validate, type and format a number of that code, so the answers are those of the whole
//! metadata. `tests::every_example_number_is_read_as_the_whole_metadata_reads_it` holds that.
//!
//! `metadata.bin` is rlibphonenumber 2.2.15's (libphonenumber 9.0.8, Apache-2.0), unchanged:
//! the crate does not export its copy. When the crate is bumped, copy its
//! `src/generated/metadata/metadata.bin` here; the tests compare the two and fail until then.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use prost::Message;
use rlibphonenumber::{PhoneMetadata, PhoneMetadataCollection, PhoneNumberUtil};

use crate::error::{Error, Result};

static METADATA: &[u8] = include_bytes!("metadata.bin");

struct Entry {
    /// ISO 3166 region (`RS`), or `001` for a non-geographic entity.
    id: &'static str,
    country_code: u16,
    /// Where the entry's `PhoneMetadata` is in [`METADATA`].
    bytes: Range<usize>,
}

include!(concat!(env!("OUT_DIR"), "/phone_index.rs"));

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("phone metadata: {e}"))
}

/// The country calling code an E.164 number's digits (without the `+`) start with, if any.
/// Codes are prefix-free, so at most one matches.
pub(super) fn country_code_of(digits: &str) -> Option<u16> {
    INDEX
        .iter()
        .map(|e| e.country_code)
        .find(|cc| digits.starts_with(&cc.to_string()))
}

/// The country calling code of an ISO 3166 region (`FR` -> 33), if the metadata has it.
pub(super) fn country_code_for_region(region: &str) -> Option<u16> {
    INDEX
        .iter()
        .find(|e| e.id == region && e.id != "001")
        .map(|e| e.country_code)
}

/// A util built from the entries of exactly `codes`.
fn build(codes: &[u16]) -> Result<PhoneNumberUtil> {
    let metadata = INDEX
        .iter()
        .filter(|e| codes.contains(&e.country_code))
        .map(|e| PhoneMetadata::decode(&METADATA[e.bytes.clone()]).map_err(corrupt))
        .collect::<Result<Vec<_>>>()?;
    PhoneNumberUtil::new_for_metadata(PhoneMetadataCollection { metadata }).map_err(corrupt)
}

struct Loaded {
    codes: Vec<u16>,
    util: Arc<PhoneNumberUtil>,
}

/// A util that knows `cc` and every code loaded before it. A new code rebuilds the util with
/// the codes seen so far, so a process never holds more than the whole metadata, once.
pub(super) fn util_for(cc: u16) -> Result<Arc<PhoneNumberUtil>> {
    static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(l) = loaded.as_ref().filter(|l| l.codes.contains(&cc)) {
        return Ok(l.util.clone());
    }
    let mut codes = loaded.as_ref().map(|l| l.codes.clone()).unwrap_or_default();
    codes.push(cc);
    let util = Arc::new(build(&codes)?);
    *loaded = Some(Loaded {
        codes,
        util: util.clone(),
    });
    Ok(util)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlibphonenumber::PHONE_NUMBER_UTIL;

    #[test]
    fn the_index_holds_every_region_and_code_of_the_crates_own_metadata() {
        let whole = &*PHONE_NUMBER_UTIL;
        let mut ours: Vec<String> = INDEX
            .iter()
            .filter(|e| e.id != "001")
            .map(|e| e.id.to_owned())
            .collect();
        let mut theirs: Vec<String> = whole
            .get_supported_regions()
            .map(|r| r.to_string())
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        let mut ours: Vec<i32> = INDEX.iter().map(|e| i32::from(e.country_code)).collect();
        ours.sort();
        ours.dedup();
        let theirs: Vec<i32> = whole.get_supported_calling_codes().collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_util_for_one_code_knows_only_that_codes_regions() {
        let util = build(&[1]).unwrap();
        assert_eq!(util.get_supported_calling_codes().collect::<Vec<_>>(), [1]);
        assert_eq!(util.get_supported_regions().count(), 25);
        let util = build(&[381]).unwrap();
        let regions: Vec<String> = util
            .get_supported_regions()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(regions, ["RS"]);
    }

    #[test]
    fn a_numbers_country_code_is_read_from_its_first_digits() {
        assert_eq!(country_code_of("14155552671"), Some(1));
        assert_eq!(country_code_of("381648599700"), Some(381));
        assert_eq!(country_code_of("33612345678"), Some(33));
        assert_eq!(country_code_of("80012345678"), Some(800));
        // 999 and 28x are not assigned.
        assert_eq!(country_code_of("9991234567"), None);
        assert_eq!(country_code_of("2812345678"), None);
        assert_eq!(country_code_for_region("FR"), Some(33));
        assert_eq!(country_code_for_region("001"), None);
        assert_eq!(country_code_for_region("ZZ"), None);
    }
}
