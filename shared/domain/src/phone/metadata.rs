//! libphonenumber's metadata, loaded one country calling code at a time.
//!
//! `rlibphonenumber`'s own singleton decodes and wraps every region's metadata on the first
//! parse: about 5.5 MB of heap and 4 ms, for a function that reads one number per request.
//! Here the metadata is indexed by country calling code at build time (`build.rs`), and a parse
//! gets a [`PhoneNumberUtil`] built from only the entries asked for so far: a region is about
//! 0.2 MB and 0.5 ms the first time it is seen, and the other entries are never read, so their
//! pages of the binary are never loaded.
//!
//! A code's entries are all libphonenumber reads to parse, validate, type and format a number
//! of that code. For a code several regions share (the 25 NANPA regions of `+1`), its main
//! region alone is enough for a number that region claims (`super::main_region_answers`), and
//! every region of the code is loaded for any other. Either way the answers are those of the
//! whole metadata: `super::against_the_whole_metadata` reads every example number both ways.
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
    /// The region libphonenumber tries first for a code several regions share (`US` for `+1`).
    main: bool,
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

/// An entry of [`INDEX`], by position.
pub(super) type EntryId = usize;

/// The entries of a country calling code, its main region first: the order libphonenumber tries
/// a shared code's regions in (the 25 NANPA regions of `+1`, `US` first). Empty for a code the
/// metadata does not have.
pub(super) fn entries_of(cc: u16) -> Vec<EntryId> {
    let mut entries: Vec<EntryId> = (0..INDEX.len())
        .filter(|&i| INDEX[i].country_code == cc)
        .collect();
    // Stable: the others stay in the file's order, as libphonenumber keeps them.
    entries.sort_by_key(|&i| !INDEX[i].main);
    entries
}

/// The entry of an ISO 3166 region (`FR`), if the metadata has it.
pub(super) fn entry_of_region(region: &str) -> Option<EntryId> {
    INDEX.iter().position(|e| e.id == region && e.id != "001")
}

/// The region an entry describes (`US`, or `001` for a non-geographic entity).
pub(super) fn region_of(entry: EntryId) -> &'static str {
    INDEX[entry].id
}

/// A util built from exactly these entries (in the file's order, as the whole metadata is).
pub(super) fn build(entries: &[EntryId]) -> Result<PhoneNumberUtil> {
    let mut entries = entries.to_vec();
    entries.sort_unstable();
    let metadata = entries
        .into_iter()
        .map(|i| PhoneMetadata::decode(&METADATA[INDEX[i].bytes.clone()]).map_err(corrupt))
        .collect::<Result<Vec<_>>>()?;
    PhoneNumberUtil::new_for_metadata(PhoneMetadataCollection { metadata }).map_err(corrupt)
}

struct Loaded {
    entries: Vec<EntryId>,
    util: Arc<PhoneNumberUtil>,
}

/// A util that holds `entries` and every entry loaded before them. New entries rebuild the util
/// with all the entries asked for so far, so a process never holds more than the whole
/// metadata, once.
pub(super) fn util_for(entries: &[EntryId]) -> Result<Arc<PhoneNumberUtil>> {
    static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    let mut all = loaded
        .as_ref()
        .map(|l| l.entries.clone())
        .unwrap_or_default();
    let before = all.len();
    for &entry in entries {
        if !all.contains(&entry) {
            all.push(entry);
        }
    }
    if let Some(l) = loaded.as_ref().filter(|_| all.len() == before) {
        return Ok(l.util.clone());
    }
    let util = Arc::new(build(&all)?);
    *loaded = Some(Loaded {
        entries: all,
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
        let nanpa = entries_of(1);
        assert_eq!(region_of(nanpa[0]), "US", "the main region comes first");
        let util = build(&nanpa).unwrap();
        assert_eq!(util.get_supported_calling_codes().collect::<Vec<_>>(), [1]);
        assert_eq!(util.get_supported_regions().count(), 25);
        let util = build(&entries_of(381)).unwrap();
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
        assert_eq!(entry_of_region("FR").map(region_of), Some("FR"));
        assert_eq!(entry_of_region("001"), None);
        assert_eq!(entry_of_region("ZZ"), None);
        assert!(entries_of(999).is_empty());
    }
}
