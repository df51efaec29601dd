//! The `event_json` fuzz target's corpus (and any crash it found, under
//! `fuzz/regressions/`), replayed on the stable compiler in every test run: parsing never
//! panics, and every accepted event survives `to_json`/`from_json` unchanged.

use shiftlog_model::{parse_input, Event, NdjsonReader, ReadError};
use std::path::{Path, PathBuf};

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
fn the_event_json_corpus_parses_without_panics_and_round_trips() {
    let files = inputs("event_json");
    assert!(
        files.len() >= 50,
        "the committed corpus is missing ({} files)",
        files.len()
    );
    let mut accepted = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap();
        for item in NdjsonReader::new(&data[..]) {
            match item {
                Ok(_) => {}
                Err(ReadError::Rejected(r)) => assert!(!r.to_string().is_empty()),
                Err(e) => panic!("{}: {e}", file.display()),
            }
        }
        let Ok(text) = std::str::from_utf8(&data) else { continue };
        for located in parse_input(text).events {
            let again = Event::from_json(&located.event.to_json())
                .unwrap_or_else(|e| panic!("{}: an accepted event's JSON is refused: {e}", file.display()));
            assert_eq!(again, located.event, "{}", file.display());
            accepted += 1;
        }
    }
    // The seeds alone hold hundreds of valid events: replaying none means the corpus or
    // the parser is broken, not that all is well.
    assert!(accepted >= 200, "only {accepted} events accepted from the corpus");
}
