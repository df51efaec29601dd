//! The fuzz targets' corpora (and any crash found, under `fuzz/regressions/`), replayed on
//! the stable compiler in every test run, with the targets' own checks: a record decodes
//! or is refused without a panic, what decodes re-encodes to the same event, and every
//! event the parser accepts survives the codec.

use shiftlog_model::{parse_input, ActorId, Event, EventId};
use shiftlog_store::codec::{decode, encode, ActorKey, Keys, MemoryKeys};
use shiftlog_store::{Position, RecordedEvent, Stream};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The fuzz crate's `FixedKeys`: slot `n` holds `[n; 32]` for the first 64 slots (the
/// seeds were sealed with them).
#[derive(Default)]
struct FixedKeys(Mutex<HashMap<ActorId, u32>>);

impl Keys for FixedKeys {
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)> {
        let mut slots = self.0.lock().unwrap();
        let next = slots.len() as u32;
        let slot = *slots.entry(actor.clone()).or_insert(next);
        self.open_key(slot).map(|k| (slot, k))
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        (slot < 64).then_some([slot as u8; 32])
    }
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    files
}

#[test]
fn the_record_decode_corpus_decodes_or_is_refused_and_round_trips() {
    let files = inputs("record_decode");
    assert!(
        files.len() >= 50,
        "the committed corpus is missing ({} files)",
        files.len()
    );
    let mut decoded = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let keys = FixedKeys::default();
        let _ = decode(&data, &keys);
        // As the target does: the input is a record less its checksum.
        let mut record = crc32fast::hash(&data).to_le_bytes().to_vec();
        record.extend_from_slice(&data);
        if let Ok(rec) = decode(&record, &keys) {
            let again = decode(&encode(&rec, &keys), &keys)
                .unwrap_or_else(|e| panic!("{}: a re-encoded record does not decode: {e}", file.display()));
            assert_eq!(again, rec, "{}", file.display());
            let json = rec.event.to_json();
            assert_eq!(
                Event::from_json(&json).as_ref(),
                Ok(&rec.event),
                "{}: {json}",
                file.display()
            );
            decoded += 1;
        }
    }
    assert!(decoded >= 100, "only {decoded} records of the corpus decode");
}

#[test]
fn every_event_of_the_event_json_corpus_survives_the_codec() {
    // As the target does: keys for every actor (FixedKeys runs out after 64).
    let keys = MemoryKeys::default();
    let mut n = 0;
    for file in inputs("event_json") {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, located) in parse_input(&text).events.into_iter().enumerate() {
            let mut event = located.event;
            event.id.get_or_insert_with(|| EventId::new(format!("c-{i}")).unwrap());
            let rec = RecordedEvent {
                position: Position(i as u64 + 1),
                recorded_at: event.occurred_at,
                stream: event.place.clone().map_or(Stream::Unplaced, Stream::Place),
                event,
            };
            assert_eq!(decode(&encode(&rec, &keys), &keys).unwrap(), rec, "{}", file.display());
            n += 1;
        }
    }
    assert!(n >= 200, "only {n} events from the corpus");
}

/// The `backup_restore` target's check: a backup (its checksum made right) restores into a
/// store that opens and verifies, or is refused leaving no directory behind.
#[test]
fn the_backup_restore_corpus_restores_soundly_or_is_refused_without_a_trace() {
    let files = inputs("backup_restore");
    assert!(
        files.len() >= 3,
        "the committed corpus is missing ({} files)",
        files.len()
    );
    let mut restored = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let mut sealed = data.clone();
        sealed.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
        for bytes in [&sealed, &data] {
            let work = tempfile::tempdir().unwrap();
            // Shown with a failure: which corpus file.
            eprintln!("{}", file.display());
            if shiftlog_store::fault::check_restore(bytes, work.path()) == shiftlog_store::fault::Restored::Sound {
                restored += 1;
            }
        }
    }
    // The seeds are real backups.
    assert!(restored >= 3, "only {restored} of the corpus restored");
}
