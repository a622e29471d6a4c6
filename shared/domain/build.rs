//! Indexes `src/phone/metadata.bin` (libphonenumber's metadata, see `src/phone/metadata.rs`) by
//! country calling code at build time, so a function that parses a number reads only the
//! entries of that number's code: scanning the 228 KB file at run time would page it all in.

use std::{env, fmt::Write, fs, path::PathBuf};

use bytes::Bytes;
use prost::Message;

/// A `PhoneMetadataCollection` with each region's metadata left as bytes.
#[derive(Clone, PartialEq, Message)]
struct Entries {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    metadata: Vec<Bytes>,
}

/// The three fields of a `PhoneMetadata` the index needs; prost skips the rest.
#[derive(Clone, PartialEq, Message)]
struct Head {
    #[prost(string, optional, tag = "9")]
    id: Option<String>,
    #[prost(int32, optional, tag = "10")]
    country_code: Option<i32>,
    #[prost(bool, optional, tag = "22")]
    main_country_for_code: Option<bool>,
}

fn main() {
    let path = "src/phone/metadata.bin";
    println!("cargo::rerun-if-changed={path}");
    let file = Bytes::from(fs::read(path).expect("read src/phone/metadata.bin"));
    let entries = Entries::decode(file.clone()).expect("metadata.bin is a PhoneMetadataCollection");
    let mut out = String::from(
        "/// Every entry of `metadata.bin` with a country code, in the file's order \
         (written by build.rs).\nstatic INDEX: &[Entry] = &[\n",
    );
    for entry in entries.metadata {
        let head = Head::decode(entry.clone()).expect("an entry is a PhoneMetadata");
        // libphonenumber skips an entry with no country code; so does the index.
        let (Some(id), Some(cc)) = (head.id, head.country_code) else {
            continue;
        };
        let cc = u16::try_from(cc).expect("a country calling code fits in u16");
        let start = entry.as_ptr() as usize - file.as_ptr() as usize;
        let end = start + entry.len();
        let main = head.main_country_for_code.unwrap_or(false);
        writeln!(
            out,
            "    Entry {{ id: {id:?}, country_code: {cc}, main: {main}, bytes: {start}..{end} }},"
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("phone_index.rs");
    fs::write(dest, out).expect("write phone_index.rs");
}
