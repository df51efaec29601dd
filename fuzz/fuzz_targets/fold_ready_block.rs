//! The fold-ready block decoder (`shiftlog_projection::fold_ready`) on any bytes: a
//! damaged block is an error, never a panic or an absurd allocation; and whatever decodes
//! re-encodes to a block that decodes and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog::projection::fold_ready::{decode_block, BlockWriter, Entry};
use shiftlog_model::{Event, EventBody, EventId, Timestamp};

/// The block of `entries` (a retraction's target id is not stored, only its position).
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut block = BlockWriter::default();
    for entry in entries {
        match entry {
            Entry::Event(p, e) => block.push(p.0, e, None),
            Entry::Retraction { position, target } => {
                let retraction = Event {
                    id: None,
                    occurred_at: Timestamp::from_unix(0, 0).expect("1970"),
                    place: None,
                    recorded_by: None,
                    source: None,
                    tags: Vec::new(),
                    body: EventBody::EventRetracted {
                        target: EventId::new("t").expect("an id"),
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

fuzz_target!(|data: &[u8]| {
    let mut entries = Vec::new();
    if decode_block(data, &mut entries).is_err() {
        return;
    }
    let once = encode(&entries);
    let mut decoded = Vec::new();
    decode_block(&once, &mut decoded).expect("a re-encoded block decodes");
    // Bytes, not events: a NaN read from damaged bytes is not equal to itself.
    assert_eq!(encode(&decoded), once);
});
