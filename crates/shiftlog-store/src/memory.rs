//! An in-memory log with the same rules as the sled one, for tests of other crates.

use crate::error::{AppendError, StoreError};
use crate::log::{system_clock, Clock, EventLog};
use crate::plan::{check, plan_request, Committed, Index, Overlay};
use crate::types::{AppendOutcome, AppendRequest, LogStats, Position, RecordedEvent, Stream, Version};
use async_trait::async_trait;
use shiftlog_model::{ActorId, Event, EventId, PlaceId, Rejection, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// A log held in memory: same validation, ordering and atomicity as
/// [`crate::SledLog`], no durability.
///
/// ```
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use shiftlog_store::{AppendRequest, EventLog, MemoryLog, Position};
/// let log = MemoryLog::new();
/// let e = serde_json::from_str(r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"x","name":"X"}"#).unwrap();
/// let out = log.append(AppendRequest::new(vec![e])).await.unwrap();
/// assert_eq!(out.head, Position(1));
/// # }) }
/// ```
#[derive(Default)]
pub struct MemoryLog {
    state: Mutex<State>,
    head_watch: tokio::sync::watch::Sender<Position>,
    clock: Option<Clock>,
    derived: std::sync::Arc<crate::derived::MemoryDerived>,
}

impl std::fmt::Debug for MemoryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLog").field("head", &self.head()).finish()
    }
}

#[derive(Debug, Default)]
struct State {
    index: Index,
    events: Vec<RecordedEvent>,
    streams: HashMap<Stream, Vec<Position>>,
    /// Redacted actors: their personal data is erased from every event, as the sled log's
    /// destroyed keys make it unreadable there.
    redacted: HashSet<ActorId>,
}

impl Committed for State {
    fn head(&self) -> u64 {
        self.index.head
    }
    fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        Ok(self.index.version(stream))
    }
    fn lookup_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        Ok(self.index.ids.get(id).map(|p| self.events[(p.0 - 1) as usize].clone()))
    }
    fn id_taken(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.index.ids.contains_key(id))
    }
    fn registrations(&self, place: &PlaceId) -> Result<Vec<Position>, StoreError> {
        Ok(self.index.registrations(place))
    }
    fn joins(&self, place: &PlaceId, actor: &ActorId) -> Result<Vec<(Timestamp, Position)>, StoreError> {
        Ok(self.index.joins(place, actor))
    }
    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError> {
        Ok(self.index.actor_known(actor))
    }
    fn place_known(&self, place: &PlaceId) -> Result<bool, StoreError> {
        Ok(self.index.place_known(place))
    }
}

impl State {
    /// Applies a committed overlay; true when it redacted someone.
    fn apply(&mut self, mut o: Overlay) -> bool {
        self.index.apply(&mut o);
        for (s, ps) in o.stream_positions {
            self.streams.entry(s).or_default().extend(ps);
        }
        let first_new = self.events.len();
        let mut redacts = false;
        for e in o.events {
            if let shiftlog_model::EventBody::ActorRedacted { actor, .. } = &e.event.body {
                redacts |= self.redacted.insert(actor.clone());
            }
            self.events.push(e);
        }
        // Erase what names a redacted actor: everything when someone was just redacted,
        // else only the new events.
        let from = if redacts { 0 } else { first_new };
        if !self.redacted.is_empty() {
            for r in &mut self.events[from..] {
                if r.event.data_subjects().iter().any(|a| self.redacted.contains(*a)) {
                    r.event.take_personal_data();
                }
            }
        }
        redacts
    }
}

impl MemoryLog {
    /// An empty log using the wall clock for recorded times.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log taking recorded times from `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        MemoryLog {
            state: Mutex::default(),
            head_watch: Default::default(),
            clock: Some(clock),
            derived: Default::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied overlay: overlays
        // are applied only after planning succeeded, by infallible code.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self, state: &State) -> Timestamp {
        let now = self.clock.clone().unwrap_or_else(system_clock)();
        match state.events.last() {
            Some(last) if last.recorded_at > now => last.recorded_at,
            _ => now,
        }
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let mut state = self.state();
        let mut group = Overlay::starting_at(state.head() + 1);
        let now = self.now(&state);
        let outcome = plan_request(&*state, &mut group, request, now)?;
        if state.apply(group) {
            crate::DerivedStore::clear(&*self.derived)?;
        }
        self.head_watch.send_replace(Position(state.head()));
        Ok(outcome)
    }

    async fn dry_run(&self, request: AppendRequest) -> Result<crate::types::Planned, AppendError> {
        let state = self.state();
        let now = self.now(&state);
        crate::plan::dry_run(&*state, request, now)
    }

    async fn check(&self, events: Vec<Event>) -> Result<Vec<Rejection>, StoreError> {
        let state = self.state();
        let now = self.now(&state);
        check(&*state, events, now)
    }

    async fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let start = (from.0.max(1) - 1) as usize;
        Ok(state.events.iter().skip(start).take(limit).cloned().collect())
    }

    async fn read_stream(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let Some(ps) = state.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let start = ps.partition_point(|p| *p < from);
        Ok(ps[start..]
            .iter()
            .take(limit)
            .map(|p| state.events[(p.0 - 1) as usize].clone())
            .collect())
    }

    async fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        self.state().lookup_id(id)
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<Position> {
        self.head_watch.subscribe()
    }

    fn head(&self) -> Position {
        Position(self.state().head())
    }

    async fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        self.state().version(stream)
    }

    async fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        positions
            .iter()
            .map(|p| {
                let i = p.0.checked_sub(1).filter(|i| (*i as usize) < state.events.len());
                i.map(|i| state.events[i as usize].clone())
                    .ok_or_else(|| StoreError::Corrupt(format!("position {p} is not in the log")))
            })
            .collect()
    }

    fn derived(&self) -> std::sync::Arc<dyn crate::DerivedStore> {
        self.derived.clone()
    }

    async fn places(&self) -> Result<Vec<PlaceId>, StoreError> {
        let mut ps: Vec<_> = self.state().index.places().cloned().collect();
        ps.sort();
        Ok(ps)
    }

    async fn stats(&self) -> Result<LogStats, StoreError> {
        let s = self.state();
        let n = s.events.len() as u64;
        Ok(LogStats {
            events: n,
            places: s.index.places().count() as u64,
            actors: s.index.actor_count() as u64,
            first_position: (n > 0).then_some(1),
            last_position: (n > 0).then_some(n),
            size_on_disk: 0,
        })
    }
}
