//! Damage to a small store's keys and values (read from the input by
//! `shiftlog_store::fault::damage_from_bytes`): opening, verifying, reading and
//! `repair_indexes` never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog_store::{EventLog, Position, SledLog, Stream};
use std::path::Path;
use std::sync::OnceLock;

fn template() -> &'static Path {
    static T: OnceLock<tempfile::TempDir> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        shiftlog_store::fault::damage_template(dir.path()).unwrap();
        dir
    })
    .path()
}

fn exercise(dir: &Path, runtime: &tokio::runtime::Runtime) {
    runtime.block_on(async {
        let Ok(log) = SledLog::open(dir) else { return };
        let _ = log.verify();
        let _ = log.read(Position(1), usize::MAX).await;
        for place in log.places().await.unwrap_or_default() {
            let _ = log.read_stream(&Stream::Place(place), Position(1), usize::MAX).await;
        }
        let _ = log.read_stream(&Stream::Unplaced, Position(1), usize::MAX).await;
        log.close();
    });
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    shiftlog_store::fault::copy_store(template(), dir.path()).unwrap();
    shiftlog_store::fault::damage_from_bytes(dir.path(), data).unwrap();
    exercise(dir.path(), &runtime);
    let _ = SledLog::repair_indexes(dir.path());
    exercise(dir.path(), &runtime);
});
