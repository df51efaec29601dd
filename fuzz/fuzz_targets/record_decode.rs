//! The stored-record decoder on any bytes: a damaged record is an error, never a panic
//! or an absurd allocation; and whatever decodes encodes back to a record that decodes to
//! the same event.
//!
//! The input is a record *without* its leading checksum: the target puts a correct one in
//! front, so that mutations reach the version, bincode and sealing layers instead of all
//! stopping at the checksum. The input as it is (checksum wrong, almost always) is decoded
//! too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog_fuzz::FixedKeys;
use shiftlog_model::Event;
use shiftlog_store::codec::{decode, encode};

fuzz_target!(|data: &[u8]| {
    // The seeds were sealed with the same fixed keys, so their sealed parts open.
    let keys = FixedKeys::default();
    let _ = decode(data, &keys);
    let mut record = crc32fast::hash(data).to_le_bytes().to_vec();
    record.extend_from_slice(data);
    if let Ok(rec) = decode(&record, &keys) {
        let again = decode(&encode(&rec, &keys), &keys).expect("a re-encoded record decodes");
        assert_eq!(again, rec);
        // Whatever storage holds could have come from the interchange format.
        let json = rec.event.to_json();
        assert_eq!(Event::from_json(&json).as_ref(), Ok(&rec.event), "{json}");
    }
});
