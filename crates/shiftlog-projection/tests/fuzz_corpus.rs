//! The `fold_ready_block` fuzz target's corpus and regressions (under `fuzz/`), replayed on
//! the stable compiler in every test run with the target's own checks: decoding any of
//! them never panics, and whatever decodes re-encodes to a block that decodes and
//! re-encodes to the same bytes.

use shiftlog_model::{Event, EventBody, EventId, Timestamp};
use shiftlog_projection::fold_ready::{decode_block, BlockWriter, Entry};
use std::path::Path;

/// The block of `entries`, as the fuzz target writes it.
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut block = BlockWriter::default();
    for entry in entries {
        match entry {
            Entry::Event(p, e) => block.push(p.0, e, None),
            Entry::Retraction { position, target } => {
                let retraction = Event {
                    id: None,
                    occurred_at: Timestamp::from_unix(0, 0).unwrap(),
                    place: None,
                    recorded_by: None,
                    source: None,
                    tags: Vec::new(),
                    body: EventBody::EventRetracted {
                        target: EventId::new("t").unwrap(),
                        reason: String::new(),
                    },
                    extra: Default::default(),
                };
                block.push(*position, &retraction, Some(*target));
            }
        }
    }
    block.finish()
}

#[test]
fn the_fold_ready_corpus_decodes_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let (mut files, mut decoded) = (0, 0);
    for dir in ["corpus/fold_ready_block", "regressions/fold_ready_block"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue; // git keeps no empty directory
        };
        for path in entries.map(|e| e.unwrap().path()) {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            let mut entries = Vec::new();
            if decode_block(&bytes, &mut entries).is_err() {
                continue;
            }
            decoded += 1;
            let once = encode(&entries);
            let mut again = Vec::new();
            decode_block(&once, &mut again).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(encode(&again), once, "{}", path.display());
        }
    }
    assert!(files > 100, "the corpus is there ({files} files)");
    assert!(decoded > 0, "some of it decodes");
}
