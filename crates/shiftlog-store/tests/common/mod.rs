//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use shiftlog_model::{Event, Timestamp};
use shiftlog_store::{Clock, EventLog, MemoryLog, Position, RecordedEvent, SledLog, SledOptions};
use std::sync::Arc;

pub fn event(v: &Value) -> Event {
    Event::from_json(v).unwrap_or_else(|e| panic!("test event {v} does not parse: {e}"))
}

pub fn events(vs: &[Value]) -> Vec<Event> {
    vs.iter().map(event).collect()
}

pub fn conformance() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/conformance.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/data/conformance.json")).unwrap()
}

/// A clock that always says the same time, so that two logs record identical events.
pub fn fixed_clock() -> Clock {
    Arc::new(|| "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap())
}

pub fn sled_log(dir: &std::path::Path) -> SledLog {
    SledLog::open_with(dir, SledOptions::default().clock(fixed_clock())).unwrap()
}

pub fn memory_log() -> MemoryLog {
    MemoryLog::with_clock(fixed_clock())
}

pub async fn read_all(log: &dyn EventLog) -> Vec<RecordedEvent> {
    let all = log.read(Position(1), usize::MAX).await.unwrap();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, Position(i as u64 + 1), "positions are dense");
    }
    assert_eq!(all.len() as u64, log.head().0);
    all
}
