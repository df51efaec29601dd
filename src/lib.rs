//! shiftlog: record how local systems change, and see them as networks over time.
//!
//! This is the crate embedders depend on. An [`Engine`] opens a data directory (or runs
//! in memory) and offers the whole API asynchronously; the types it speaks are
//! re-exported from the crates below it:
//!
//! - [`model`]: inquiry events in the interchange format, parsing and validation rules;
//! - [`store`]: the append-only log, the single source of truth;
//! - [`projection`]: a place's network at any date, as known at any point in the log.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use shiftlog::{parse_input, Engine, Stream};
//! let dir = tempfile::tempdir().unwrap();
//! let engine = Engine::open(dir.path()).unwrap();
//! let input = r#"
//! {"type":"place_registered","id":"g1","occurred_at":"2023-01-01","place":"gateshead","name":"Gateshead"}
//! {"type":"actor_joined","id":"g2","occurred_at":"2023-01-10","place":"gateshead","actor":"council","kind":"organisation","sector":"public","power":{"budget":1.0}}
//! "#;
//! let report = engine.ingest(parse_input(input), &[]).await.unwrap();
//! assert_eq!(report.appended(), 2);
//! let place = Stream::Place("gateshead".parse().unwrap());
//! let events = engine.read_stream(&place, Default::default(), 100).await.unwrap();
//! assert_eq!(events[1].id().as_str(), "g2");
//! # });
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod engine;
mod ingest;
mod subscribe;

pub use engine::{Comparison, Engine, EngineError, ExportFormat, Prepared};
pub use subscribe::Subscription;

/// The domain model (re-exported from `shiftlog-model`).
pub mod model {
    pub use shiftlog_model::*;
}

/// The event log (re-exported from `shiftlog-store`).
pub mod store {
    pub use shiftlog_store::*;
}

/// Network projections (re-exported from `shiftlog-projection`).
pub mod projection {
    pub use shiftlog_projection::*;
}

pub use shiftlog_projection::{
    Anomaly, Diff, Every, EvolutionMeasures, Kinds, KnownAt, Metrics, PlaceHistory, ProjectionError, Snapshot, Step,
    View,
};

pub use shiftlog_model::{
    parse_input, ActorId, Event, EventBody, EventId, EventType, FieldError, LocatedEvent, Location, NdjsonReader,
    ParsedInput, PlaceId, ReadError, Rejection, Timestamp,
};
pub use shiftlog_store::{
    AppendError, AppendOutcome, AppendRequest, Durability, EventLog, EventOutcome, LogStats, MemoryLog, PgLog,
    Position, RecordedEvent, SledLog, SledOptions, StoreError, StoreLocation, Stream, Version,
};
