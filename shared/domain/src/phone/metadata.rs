//! libphonenumber's metadata, loaded one country calling code at a time.
//!
//! `rlibphonenumber`'s own singleton decodes and wraps every region's metadata on the first
//! parse: about 5.5 MB of heap and 4 ms, for a function that reads one number per request.
//! Here the metadata is indexed once by country calling code (about 20 KB, each entry still the
//! undecoded bytes), and a parse gets a [`PhoneNumberUtil`] built from only the entries of the
//! codes asked for so far: a code is about 0.2 MB and 0.5 ms the first time it is seen.
//!
//! Every entry of a code is loaded together (the 25 NANPA regions of `+1`, or every
//! non-geographic entity of `+800`), and a code's entries are all libphonenumber reads to parse,
//! validate, type and format a number of that code, so the answers are those of the whole
//! metadata. `tests::every_example_number_is_read_as_the_whole_metadata_reads_it` holds that.
//!
//! `metadata.bin` is rlibphonenumber 2.2.15's (libphonenumber 9.0.8, Apache-2.0), unchanged:
//! the crate does not export its copy. When the crate is bumped, copy its
//! `src/generated/metadata/metadata.bin` here; the tests compare the two and fail until then.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use prost::Message;
use rlibphonenumber::{PhoneMetadata, PhoneMetadataCollection, PhoneNumberUtil};

use crate::error::{Error, Result};

static METADATA: &[u8] = include_bytes!("metadata.bin");

/// A `PhoneMetadataCollection` with each region's metadata left as bytes.
#[derive(Clone, PartialEq, Message)]
struct Entries {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    metadata: Vec<Bytes>,
}

/// The two fields of a `PhoneMetadata` the index needs; prost skips the rest.
#[derive(Clone, PartialEq, Message)]
struct Head {
    #[prost(string, optional, tag = "9")]
    id: Option<String>,
    #[prost(int32, optional, tag = "10")]
    country_code: Option<i32>,
}

struct Entry {
    /// ISO 3166 region (`RS`), or `001` for a non-geographic entity.
    id: String,
    country_code: u16,
    bytes: Bytes,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("phone metadata: {e}"))
}

fn index() -> Result<&'static [Entry]> {
    static INDEX: OnceLock<Vec<Entry>> = OnceLock::new();
    if let Some(index) = INDEX.get() {
        return Ok(index);
    }
    let entries = Entries::decode(Bytes::from_static(METADATA)).map_err(corrupt)?;
    let mut index = Vec::with_capacity(entries.metadata.len());
    for bytes in entries.metadata {
        let head = Head::decode(bytes.clone()).map_err(corrupt)?;
        // libphonenumber skips an entry with no country code; so does the index.
        let (Some(id), Some(cc)) = (head.id, head.country_code) else {
            continue;
        };
        let country_code = u16::try_from(cc).map_err(corrupt)?;
        index.push(Entry {
            id,
            country_code,
            bytes,
        });
    }
    Ok(INDEX.get_or_init(|| index))
}

/// The country calling code an E.164 number's digits (without the `+`) start with, if any.
/// Codes are prefix-free, so at most one matches.
pub(super) fn country_code_of(digits: &str) -> Result<Option<u16>> {
    Ok(index()?
        .iter()
        .map(|e| e.country_code)
        .find(|cc| digits.starts_with(&cc.to_string())))
}

/// The country calling code of an ISO 3166 region (`FR` -> 33), if the metadata has it.
pub(super) fn country_code_for_region(region: &str) -> Result<Option<u16>> {
    Ok(index()?
        .iter()
        .find(|e| e.id == region && e.id != "001")
        .map(|e| e.country_code))
}

/// A util built from the entries of exactly `codes`.
fn build(codes: &[u16]) -> Result<PhoneNumberUtil> {
    let metadata = index()?
        .iter()
        .filter(|e| codes.contains(&e.country_code))
        .map(|e| PhoneMetadata::decode(e.bytes.clone()).map_err(corrupt))
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
        let index = index().unwrap();
        let mut ours: Vec<String> = index
            .iter()
            .filter(|e| e.id != "001")
            .map(|e| e.id.clone())
            .collect();
        let mut theirs: Vec<String> = whole
            .get_supported_regions()
            .map(|r| r.to_string())
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        let mut ours: Vec<i32> = index.iter().map(|e| i32::from(e.country_code)).collect();
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
        assert_eq!(country_code_of("14155552671").unwrap(), Some(1));
        assert_eq!(country_code_of("381648599700").unwrap(), Some(381));
        assert_eq!(country_code_of("33612345678").unwrap(), Some(33));
        assert_eq!(country_code_of("80012345678").unwrap(), Some(800));
        // 999 and 28x are not assigned.
        assert_eq!(country_code_of("9991234567").unwrap(), None);
        assert_eq!(country_code_of("2812345678").unwrap(), None);
        assert_eq!(country_code_for_region("FR").unwrap(), Some(33));
        assert_eq!(country_code_for_region("001").unwrap(), None);
        assert_eq!(country_code_for_region("ZZ").unwrap(), None);
    }
}
