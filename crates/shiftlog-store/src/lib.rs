//! The shiftlog event log: the single source of truth, in sled, with an in-memory twin.
//!
//! It owns positions, durability, idempotency, optimistic concurrency per place and the
//! stored record format. It knows nothing of graphs, projections or HTTP; the format's
//! validation rules come from `shiftlog-model` and are applied identically by every
//! implementation of [`EventLog`].
//!
//! Guarantees of [`SledLog`]:
//! - when `append` returns `Ok`, the events are on disk and survive a crash;
//! - a batch is written whole or not at all, indexes included, even across a crash;
//! - positions are dense (1, 2, 3, ...) and never reused;
//! - a damaged record is reported as [`StoreError::Damaged`], never returned wrong;
//! - opening a store of any size reads a few keys and replays nothing.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use shiftlog_model::parse_input;
//! use shiftlog_store::{AppendRequest, EventLog, MemoryLog, Position, Stream};
//! let input = r#"[
//!   {"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"northbrook","name":"Northbrook"},
//!   {"type":"actor_joined","id":"a1","occurred_at":"2023-01-02","place":"northbrook","actor":"council","kind":"organisation"}
//! ]"#;
//! let events = parse_input(input).events.into_iter().map(|e| e.event).collect();
//! let log = MemoryLog::new();
//! let out = log.append(AppendRequest::new(events)).await.unwrap();
//! assert_eq!((out.appended(), out.head), (2, Position(2)));
//! let place = Stream::Place("northbrook".parse().unwrap());
//! assert_eq!(log.version(&place).await.unwrap(), 2);
//! # });
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod archive;
pub mod codec;
mod derived;
mod error;
mod log;
mod memory;
mod plan;
mod postgres;
mod sled_log;
mod store;
mod types;

pub use crate::archive::BackupSummary;
pub use crate::derived::{DerivedBatch, DerivedEntry, DerivedStore};
pub use crate::error::{AppendError, StoreError};
pub use crate::log::{system_clock, Clock, Detail, EventLog};
pub use crate::memory::MemoryLog;
pub use crate::postgres::{PgLog, PgOptions};
pub use crate::sled_log::{Durability, SledLog, SledMaintenance, SledOptions, STORE_FORMAT};
pub use crate::store::{Maintain, Problem, Store, StoreLocation};

/// A throwaway PostgreSQL cluster for tests and benchmarks; not part of the supported API.
#[doc(hidden)]
pub use crate::postgres::throwaway;
/// Fault injection for tests (damaging a closed store); not part of the supported API.
#[doc(hidden)]
pub use crate::sled_log::fault;
pub use crate::types::{
    AppendOutcome, AppendRequest, EventOutcome, LogStats, Planned, PlannedEvent, Position, RecordedEvent, Stream,
    Version,
};
