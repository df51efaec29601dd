//! shiftlog's network projections: what a place's network of actors, relationships and
//! power looked like at a valid time, as known at a point in the log.
//!
//! It owns the fold rules of `spec/event-format.md` (including the anomaly rules,
//! `actor_left` and retractions), the metrics the spec defines, and queries over a log:
//! snapshots, one-pass evolution series, anomaly reports. It reads the log through the
//! [`shiftlog_store::EventLog`] trait and never writes to it.
//!
//! **Invariant:** a projection is a pure function of the log prefix it is given; the same
//! prefix always gives the same answer.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use shiftlog_projection::{history, KnownAt};
//! use shiftlog_store::{AppendRequest, EventLog, MemoryLog};
//! let log = MemoryLog::new();
//! let events = shiftlog_model::parse_input(r#"
//! {"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
//! {"type":"actor_joined","id":"a","occurred_at":"2023-01-02","place":"x","actor":"council","kind":"organisation","power":{"budget":1}}
//! {"type":"actor_joined","id":"b","occurred_at":"2023-01-03","place":"x","actor":"forum","kind":"network"}
//! {"type":"relationship_formed","id":"r","occurred_at":"2023-02-01","place":"x","from":"council","to":"forum","kind":"trust"}
//! "#).events.into_iter().map(|e| e.event).collect();
//! log.append(AppendRequest::new(events)).await.unwrap();
//! let h = history(&log, &"x".parse().unwrap(), KnownAt::Everything).await.unwrap();
//! let snap = h.snapshot("2023-03-01".parse().unwrap());
//! assert_eq!((snap.metrics.actors, snap.metrics.relationships), (2, 1));
//! assert_eq!(snap.metrics.power_gini["budget"], 0.5);
//! # });
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod centrality;
mod change;
mod checkpoint;
mod diff;
mod export;
mod fold;
pub mod fold_ready;
mod measures;
mod memo;
mod metrics;
mod period;
mod pseudonym;
mod query;
mod snapshot;
mod synthesis;
mod view;

pub use change::{change, Change};
pub use checkpoint::{FoldReady, Lag, Projector};
pub use diff::{Diff, HoldingChange, ShiftView, StrengthChange};
pub use export::{
    csv_field, escape_xml, to_csv, to_dot, to_gexf, to_gexf_dynamic, to_graphml, to_kumu, to_kumu_timeline, xml_allows,
};
pub use fold::{ActorState, Anomaly, AnomalyKind, PlaceState, RelationshipKey, RelationshipState};
pub use measures::{registry_json, ActorMeasure, Measure, Shape};
pub use metrics::{compute, compute_metrics, compute_step_metrics, gini, ActorMeasures, EvolutionMeasures, Metrics};
pub use period::{period_start, steps, Every, MAX_STEPS};
pub use pseudonym::Pseudonyms;
pub use query::{histories, histories_of, histories_with, history, history_with, KnownAt, Period, PlaceHistory, Step};
pub use snapshot::{ActorView, RelationshipView, Snapshot};
pub use synthesis::{
    combine, synthesis, LearningText, PeriodSynthesis, PlaceSynthesis, PowerTally, Synthesis, Tally, UNTAGGED,
};
pub use view::{Kinds, View};

use shiftlog_model::{PlaceId, Timestamp};
use shiftlog_store::StoreError;

/// Why a projection could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The place has no events in the log.
    #[error("place `{0}` has no events in the log")]
    UnknownPlace(PlaceId),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Derived data (checkpoints, indexes) is unreadable; clearing it rebuilds it.
    #[error("derived data is damaged: {0}")]
    Derived(String),
    /// An evolution would have more steps than [`MAX_STEPS`].
    #[error(
        "an evolution of `{place}` every {} from {from} to {to} would have more than {MAX_STEPS} steps: \
         choose a longer step or a shorter span", every.name()
    )]
    TooManySteps {
        /// The place.
        place: PlaceId,
        /// The step.
        every: Every,
        /// The span asked for.
        from: Timestamp,
        /// The span asked for.
        to: Timestamp,
    },
    /// An evolution would cost more than the caller allows
    /// ([`PlaceHistory::evolution_work`]).
    #[error(
        "an evolution of `{place}` in {steps} steps would cost about {work} units of work (its size at \
         every step), over this server's limit of {limit}: choose a longer step or a shorter span"
    )]
    TooMuchWork {
        /// The place.
        place: PlaceId,
        /// The steps asked for.
        steps: usize,
        /// Its cost.
        work: u64,
        /// The limit.
        limit: u64,
    },
}
