//! Writes the seed corpus of `record_decode`: every event of the `event_json` seeds,
//! encoded as a stored record with [`FixedKeys`], less its checksum. Run from the repository root after
//! `fuzz/seed/make_corpus.py`.

use shiftlog_fuzz::FixedKeys;
use shiftlog_model::{parse_input, EventId};
use shiftlog_store::codec::encode;
use shiftlog_store::{Position, RecordedEvent, Stream};
use std::path::Path;

fn main() {
    let input = Path::new("fuzz/corpus/event_json");
    let out = Path::new("fuzz/corpus/record_decode");
    std::fs::create_dir_all(out).unwrap();
    let keys = FixedKeys::default();
    let mut n = 0;
    let mut files: Vec<_> = std::fs::read_dir(input).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, located) in parse_input(&text).events.into_iter().enumerate() {
            let mut event = located.event;
            event
                .id
                .get_or_insert_with(|| EventId::new(format!("seed-{i}")).unwrap());
            let stream = event.place.clone().map_or(Stream::Unplaced, Stream::Place);
            let rec = RecordedEvent {
                position: Position(i as u64 + 1),
                recorded_at: event.occurred_at,
                stream,
                event,
            };
            let name = format!("{}-{i}", file.file_name().unwrap().to_string_lossy());
            // Without the checksum: the target computes it (see record_decode.rs).
            std::fs::write(out.join(name), &encode(&rec, &keys)[4..]).unwrap();
            n += 1;
        }
    }
    println!("{n} records in {}", out.display());
}
