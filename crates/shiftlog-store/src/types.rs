//! The log's vocabulary: positions, versions, streams, recorded events, outcomes.

use shiftlog_model::{Event, EventId, PlaceId, Timestamp};
use std::collections::BTreeSet;
use std::fmt;

/// An event's place in the log: the first event is 1, each next one the previous plus
/// one. Positions are dense and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub u64);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The number of events appended to a stream so far (0 for a stream never written).
pub type Version = u64;

/// The unit of optimistic concurrency: a place, or the events that belong to no place.
///
/// An event belongs to its `place`. An `event_retracted` without a place belongs to the
/// place of the event it retracts (it changes that place's history); an `actor_redacted`
/// without a place belongs to [`Stream::Unplaced`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// One place's events.
    Place(PlaceId),
    /// Events that belong to no place (redactions).
    Unplaced,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Place(p) => write!(f, "place `{p}`"),
            Stream::Unplaced => f.write_str("the unplaced stream"),
        }
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Where it is in the log.
    pub position: Position,
    /// When the log accepted it (never earlier than the event before it).
    pub recorded_at: Timestamp,
    /// The stream it belongs to.
    pub stream: Stream,
    /// The event; its `id` is always set (assigned by the log when the input had none).
    pub event: Event,
}

impl RecordedEvent {
    /// The event's id.
    pub fn id(&self) -> &EventId {
        self.event.id.as_ref().expect("recorded events always carry an id")
    }

    /// The event in the interchange format with `position` and `recorded_at` added: what
    /// `shiftlog log` prints, and what `append` takes back (it ignores those two fields).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("position".into(), self.position.0.into());
        m.insert("recorded_at".into(), self.recorded_at.to_string().into());
        for (k, v) in self.event.json_fields() {
            m.insert(k, v);
        }
        serde_json::Value::Object(m)
    }
}

impl serde::Serialize for RecordedEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.event.json_fields();
        let mut map = s.serialize_map(Some(fields.len() + 2))?;
        map.serialize_entry("position", &self.position.0)?;
        map.serialize_entry("recorded_at", &self.recorded_at.to_string())?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A batch to append: written whole or not at all.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest {
    /// The events, in the order they are to be appended.
    pub events: Vec<Event>,
    /// Versions the caller expects streams to be at before this batch; any mismatch
    /// fails the batch with [`crate::AppendError::VersionConflict`].
    pub expected: Vec<(Stream, Version)>,
    /// When set, the only places this batch may write to. Each event's place is checked
    /// as the batch is planned against the log (a retraction's, as its target's place is
    /// then): an event of another place, or of no place, fails the batch with
    /// [`crate::AppendError::Forbidden`]. What is checked is what is written.
    pub places: Option<BTreeSet<PlaceId>>,
}

impl AppendRequest {
    /// A batch with no version expectations.
    pub fn new(events: Vec<Event>) -> Self {
        AppendRequest {
            events,
            expected: Vec::new(),
            places: None,
        }
    }

    /// Restricts the batch to writing `places` (a recorder's).
    pub fn only_places(mut self, places: BTreeSet<PlaceId>) -> Self {
        self.places = Some(places);
        self
    }

    /// Adds an expectation: `stream` must be at `version` before this batch.
    pub fn expect(mut self, stream: Stream, version: Version) -> Self {
        self.expected.push((stream, version));
        self
    }
}

/// What an append would write now: planned against the log as it stands with the same
/// rules, ids and versions as [`crate::EventLog::append`], and not written.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// One per input event, in input order.
    pub events: Vec<PlannedEvent>,
    /// The head the log would have after the append, if nothing else came first.
    pub head: Position,
}

/// What an append would do with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedEvent {
    /// It would be appended.
    Append {
        /// Its id (assigned, as the append would, when it had none).
        id: EventId,
        /// Its stream (a retraction's: its target's place).
        stream: Stream,
        /// The stream's version after it.
        version: Version,
        /// Its position, if nothing else were appended first.
        position: Position,
    },
    /// It is already in the log (same id and body), at this position.
    AlreadyPresent(Position),
}

/// What became of one event of an appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Written at this position.
    Appended(Position),
    /// An event with the same id and body was already in the log at this position;
    /// nothing was written for it.
    AlreadyPresent(Position),
}

impl EventOutcome {
    /// The event's position, whichever way.
    pub fn position(&self) -> Position {
        match self {
            EventOutcome::Appended(p) | EventOutcome::AlreadyPresent(p) => *p,
        }
    }
}

/// The result of a successful append.
///
/// When it is returned by the sled log, the appended events are on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// One outcome per input event, in input order.
    pub events: Vec<EventOutcome>,
    /// The log's last position after the append.
    pub head: Position,
}

impl AppendOutcome {
    /// How many events were written.
    pub fn appended(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, EventOutcome::Appended(_)))
            .count()
    }

    /// How many were already there.
    pub fn already_present(&self) -> usize {
        self.events.len() - self.appended()
    }
}

/// Counts that describe a log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogStats {
    /// Events in the log.
    pub events: u64,
    /// Places ever registered.
    pub places: u64,
    /// Distinct actors that ever joined a place.
    pub actors: u64,
    /// The first position (`None` when empty).
    pub first_position: Option<u64>,
    /// The last position (`None` when empty).
    pub last_position: Option<u64>,
    /// Bytes on disk (0 for an in-memory log).
    pub size_on_disk: u64,
}
