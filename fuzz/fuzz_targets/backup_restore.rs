//! A backup file less its checksum (the target appends a correct CRC, so mutations reach
//! the header, key and page checks, and the records inside), and the bytes as they are:
//! `SledLog::restore` refuses it or makes a store that opens, verifies and reads; it
//! never panics, and a refused restore leaves no directory behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog_store::{EventLog, Position, SledLog};
use std::path::Path;

fn restore(bytes: &[u8], work: &Path, runtime: &tokio::runtime::Runtime) {
    let file = work.join("in.bak");
    std::fs::write(&file, bytes).unwrap();
    let target = work.join("restored");
    match SledLog::restore(&file, &target) {
        Ok(summary) => {
            let log = SledLog::open(&target).expect("a restored store opens");
            assert!(log.verify().unwrap().is_empty(), "a restored store verifies");
            let all = runtime.block_on(log.read(Position(1), usize::MAX)).unwrap();
            assert_eq!(all.len() as u64, summary.head);
            log.close();
            std::fs::remove_dir_all(&target).unwrap();
        }
        Err(_) => assert!(!target.exists(), "a refused restore left a directory behind"),
    }
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    restore(&sealed, work.path(), &runtime);
    restore(data, work.path(), &runtime);
});
