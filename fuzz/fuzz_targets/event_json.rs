//! The JSON event parser and validator: NDJSON or a JSON array, any bytes.
//!
//! Beyond "never panics": every event that parses must survive its trip through the
//! interchange format (`to_json` then `from_json`) and through the stored-record codec
//! unchanged, so what the engine accepts it can write out and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shiftlog_model::{parse_input, Event, EventId, NdjsonReader, ReadError};
use shiftlog_store::codec::{decode, encode, MemoryKeys};
use shiftlog_store::{Position, RecordedEvent, Stream};

fuzz_target!(|data: &[u8]| {
    // The streaming reader takes bytes (the CLI's path for files and stdin).
    let mut streamed = Vec::new();
    for item in NdjsonReader::new(data) {
        match item {
            Ok(e) => streamed.push(e.event),
            Err(ReadError::Rejected(r)) => assert!(!r.to_string().is_empty()),
            Err(e) => panic!("reading from memory failed: {e}"),
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The in-memory parser (the server's path for request bodies).
    let parsed = parse_input(text);
    let keys = MemoryKeys::default();
    for (i, located) in parsed.events.iter().enumerate() {
        let event = &located.event;
        let again = Event::from_json(&event.to_json()).expect("an accepted event's JSON is accepted again");
        assert_eq!(&again, event, "to_json/from_json round trip");
        let mut event = event.clone();
        if event.id.is_none() {
            event.id = Some(EventId::new(format!("fuzz-{i}")).unwrap());
        }
        let stream = match &event.place {
            Some(p) => Stream::Place(p.clone()),
            None => Stream::Unplaced,
        };
        let rec = RecordedEvent {
            position: Position(i as u64 + 1),
            recorded_at: event.occurred_at,
            stream,
            event,
        };
        let back = decode(&encode(&rec, &keys), &keys).expect("a record the codec wrote decodes");
        assert_eq!(back, rec, "codec round trip");
    }
});
