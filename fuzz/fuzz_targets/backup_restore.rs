//! A backup file less its checksum (the target appends a correct CRC, so mutations reach
//! the header, key and page checks, and the records inside), and the bytes as they are:
//! `SledLog::restore` refuses it or makes a store that opens, verifies and reads; it
//! never panics, and a refused restore leaves no directory behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog_store::fault::check_restore;

fuzz_target!(|data: &[u8]| {
    let work = tempfile::tempdir().unwrap();
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    check_restore(&sealed, work.path());
    check_restore(data, work.path());
});
