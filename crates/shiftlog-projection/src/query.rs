//! Reading a place's history from the log and answering questions about it.

use crate::fold::{Anomaly, PlaceState};
use crate::metrics::{compute_step_metrics, EvolutionMeasures, Metrics};
use crate::snapshot::Snapshot;
use crate::ProjectionError;
use rayon::prelude::*;
use serde::Serialize;
use shiftlog_model::{ActorId, Event, EventBody, EventId, PlaceId, Timestamp};
use shiftlog_store::{Detail, EventLog, Position, Stream};
use std::collections::BTreeSet;

/// How much of the log a view may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnownAt {
    /// Everything recorded (the default).
    #[default]
    Everything,
    /// The events at positions 1..=K.
    Position(u64),
    /// The events recorded at or before this time.
    Time(Timestamp),
}

impl KnownAt {
    /// The last log position this view includes, given the log's (or an index's) `head`:
    /// everything up to `head`, a position capped at it, or the last position recorded at
    /// or before a time.
    pub async fn position(self, log: &dyn EventLog, head: u64) -> Result<u64, ProjectionError> {
        Ok(match self {
            KnownAt::Everything => head,
            KnownAt::Position(k) => k.min(head),
            KnownAt::Time(r) => last_recorded_by(log, r, head).await?,
        })
    }
}

/// A place's events as a view may see them: the retracted ones removed, the rest in fold
/// order (occurred_at, position).
#[derive(Debug, Clone)]
pub struct PlaceHistory {
    place: PlaceId,
    known_at_position: u64,
    /// The place's events in log order, retracted ones included.
    recorded: Vec<(Position, Event)>,
    /// Indices into `recorded` of the events a fold sees, in fold order: sorting indices
    /// moves 4 bytes where sorting events would move hundreds.
    order: Vec<u32>,
    redacted: BTreeSet<ActorId>,
    detail: Detail,
    /// Read from the fold-ready form ([`crate::fold_ready`]): its events hold what the
    /// measures need and nothing else, and its retractions are not among them.
    fold_ready: bool,
}

/// Reads `place`'s history as known at `known`.
pub async fn history(log: &dyn EventLog, place: &PlaceId, known: KnownAt) -> Result<PlaceHistory, ProjectionError> {
    history_with(log, place, known, Detail::Full).await
}

/// [`history`], with as much of each event as `detail` asks for:
/// [`Detail::WithoutPersonalData`] is enough for metrics and evolution series, and
/// cheaper; snapshots made from such a history show no names or attributes.
pub async fn history_with(
    log: &dyn EventLog,
    place: &PlaceId,
    known: KnownAt,
    detail: Detail,
) -> Result<PlaceHistory, ProjectionError> {
    let limit = known.position(log, log.head().0).await?;
    let stream = Stream::Place(place.clone());
    if log.version(&stream).await? == 0 {
        return Err(ProjectionError::UnknownPlace(place.clone()));
    }
    let recorded = read_until(log, &stream, limit, detail).await?;
    let redacted = redactions(read_until(log, &Stream::Unplaced, limit, Detail::WithoutPersonalData).await?);
    Ok(build(place.clone(), limit, recorded, &redacted, detail))
}

/// Every place's history as known at `known`, reading the log once, in order: much
/// cheaper than one [`history`] per place when most places are wanted.
pub async fn histories(
    log: &dyn EventLog,
    known: KnownAt,
) -> Result<std::collections::BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
    histories_with(log, known, Detail::Full).await
}

/// [`histories`], with as much of each event as `detail` asks for (see [`history_with`]).
pub async fn histories_with(
    log: &dyn EventLog,
    known: KnownAt,
    detail: Detail,
) -> Result<std::collections::BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
    read_histories(log, None, known, detail).await
}

/// The histories of `places` as known at `known`, in one pass over the log that decodes
/// only their events: for taking a large log a group of places at a time, with memory
/// bounded by the group rather than by the log.
pub async fn histories_of(
    log: &dyn EventLog,
    places: &BTreeSet<PlaceId>,
    known: KnownAt,
    detail: Detail,
) -> Result<std::collections::BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
    read_histories(log, Some(places), known, detail).await
}

async fn read_histories(
    log: &dyn EventLog,
    places: Option<&BTreeSet<PlaceId>>,
    known: KnownAt,
    detail: Detail,
) -> Result<std::collections::BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
    let limit = known.position(log, log.head().0).await?;
    // Sized from the streams' versions (growing vectors of large events by doubling cost
    // more than the fold), and hashed: one lookup per event read.
    let mut by_place: rustc_hash::FxHashMap<PlaceId, Vec<(Position, Event)>> = Default::default();
    for p in log.places().await? {
        if places.is_none_or(|ps| ps.contains(&p)) {
            let n = log.version(&Stream::Place(p.clone())).await?;
            by_place.insert(p, Vec::with_capacity(n as usize));
        }
    }
    let mut unplaced = Vec::new();
    // Long reads, each decoded on every core by the log, taken in log order.
    const CHUNK: u64 = 32_768;
    let mut from = 1;
    while from <= limit {
        let n = CHUNK.min(limit - from + 1);
        let read = match places {
            None => log.read_with(Position(from), n as usize, detail).await?,
            Some(ps) => log.read_places_with(ps, Position(from), n as usize, detail).await?,
        };
        for r in read {
            match r.stream {
                Stream::Place(p) => by_place.entry(p).or_default().push((r.position, r.event)),
                Stream::Unplaced => unplaced.push((r.position, r.event)),
            }
        }
        from += n;
    }
    if places.is_some() {
        // Redactions are unplaced, and few: read through their stream.
        unplaced = read_until(log, &Stream::Unplaced, limit, Detail::WithoutPersonalData).await?;
    }
    let redacted = redactions(unplaced);
    // A place none of whose events are known in this view is not in it.
    by_place.retain(|_, events| !events.is_empty());
    // Each place's fold order is sorted on every core.
    Ok(by_place
        .into_par_iter()
        .map(|(p, evs)| (p.clone(), build(p, limit, evs, &redacted, detail)))
        .collect())
}

pub(crate) fn redactions(unplaced: Vec<(Position, Event)>) -> BTreeSet<ActorId> {
    unplaced
        .into_iter()
        .filter_map(|(_, e)| match e.body {
            EventBody::ActorRedacted { actor, .. } => Some(actor),
            _ => None,
        })
        .collect()
}

/// A history from a place's recorded events (positions up to `limit`, in log order):
/// retracted events and the retractions themselves left out, the rest in fold order.
fn build(
    place: PlaceId,
    limit: u64,
    recorded: Vec<(Position, Event)>,
    redacted: &BTreeSet<ActorId>,
    detail: Detail,
) -> PlaceHistory {
    // A retraction counts from when it was recorded, whatever its valid time.
    let retracted: rustc_hash::FxHashSet<&EventId> = recorded
        .iter()
        .filter_map(|(_, e)| match &e.body {
            EventBody::EventRetracted { target, .. } => Some(target),
            _ => None,
        })
        .collect();
    let order = fold_order(&recorded, |(_, e)| {
        !matches!(e.body, EventBody::EventRetracted { .. }) && e.id.as_ref().is_none_or(|id| !retracted.contains(id))
    });
    PlaceHistory {
        place,
        known_at_position: limit,
        recorded,
        order,
        redacted: redacted.clone(),
        detail,
        fold_ready: false,
    }
}

/// Indices into `recorded` of the events `folded` keeps, in fold order (valid time, then
/// position): sorting indices moves 4 bytes where sorting events would move hundreds.
fn fold_order(recorded: &[(Position, Event)], folded: impl Fn(&(Position, Event)) -> bool) -> Vec<u32> {
    let mut order: Vec<u32> = (0..recorded.len() as u32)
        .filter(|&i| folded(&recorded[i as usize]))
        .collect();
    // Positions are distinct, so the key is too and an unstable sort is deterministic.
    order.sort_unstable_by_key(|&i| {
        let (p, e) = &recorded[i as usize];
        (e.occurred_at, *p)
    });
    order
}

/// A history from a place's fold-ready records (see [`crate::fold_ready`]) in log order,
/// its events and its retractions as (position, target's position), as known at position
/// `limit`: the records past it left out, and the events taken back by retractions at or
/// before it; the rest in fold order.
pub(crate) fn from_fold_ready(
    place: PlaceId,
    limit: u64,
    mut recorded: Vec<(Position, Event)>,
    retractions: &[(u64, u64)],
    redacted: BTreeSet<ActorId>,
) -> PlaceHistory {
    // In log order: what the view does not know is a tail.
    recorded.truncate(recorded.partition_point(|(p, _)| p.0 <= limit));
    let retracted: rustc_hash::FxHashSet<u64> = retractions
        .iter()
        .filter(|(position, _)| *position <= limit)
        .map(|(_, target)| *target)
        .collect();
    let order = fold_order(&recorded, |(p, _)| retracted.is_empty() || !retracted.contains(&p.0));
    PlaceHistory {
        place,
        known_at_position: limit,
        recorded,
        order,
        redacted,
        detail: Detail::WithoutPersonalData,
        fold_ready: true,
    }
}

pub(crate) async fn read_until(
    log: &dyn EventLog,
    stream: &Stream,
    limit: u64,
    detail: Detail,
) -> Result<Vec<(Position, Event)>, ProjectionError> {
    let mut out = Vec::new();
    let mut from = Position(1);
    loop {
        let page = log.read_stream_with(stream, from, 10_000, detail).await?;
        let Some(last) = page.last() else { break };
        from = Position(last.position.0 + 1);
        let done = last.position.0 >= limit || page.len() < 10_000;
        out.extend(
            page.into_iter()
                .filter(|r| r.position.0 <= limit)
                .map(|r| (r.position, r.event)),
        );
        if done {
            break;
        }
    }
    Ok(out)
}

/// The last position recorded at or before `r` (0 if none), by binary search: recorded
/// times never decrease along the log.
async fn last_recorded_by(log: &dyn EventLog, r: Timestamp, head: u64) -> Result<u64, ProjectionError> {
    let (mut lo, mut hi) = (0u64, head);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let rec = log.read(Position(mid), 1).await?;
        if rec.first().is_some_and(|e| e.recorded_at <= r) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// One step of an evolution series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The step's date (the last instant of its period).
    pub at: Timestamp,
    /// The metrics at that date.
    pub metrics: Metrics,
    /// What happened within the step's period: after the previous step (for the first
    /// step, since the beginning) and up to `at`.
    pub period: Period,
}

/// Counts within one evolution step's period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Period {
    /// Sessions held in the period.
    pub sessions: u64,
    /// Distinct voices recorded as absent in the period.
    pub absent_voices: usize,
}

impl PlaceHistory {
    /// The place.
    pub fn place(&self) -> &PlaceId {
        &self.place
    }

    /// The evolution steps of this place from `from` to `to` ([`crate::steps`]), or
    /// [`ProjectionError::TooManySteps`] past [`crate::MAX_STEPS`].
    pub fn steps(
        &self,
        every: crate::Every,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Timestamp>, ProjectionError> {
        crate::steps(every, from, to).ok_or_else(|| ProjectionError::TooManySteps {
            place: self.place.clone(),
            every,
            from,
            to,
        })
    }

    /// The last position this view includes.
    pub fn known_at_position(&self) -> u64 {
        self.known_at_position
    }

    /// Actors whose personal data was redacted (as this view knows).
    pub fn redacted(&self) -> &BTreeSet<ActorId> {
        &self.redacted
    }

    /// How much of each event this history holds: with [`Detail::WithoutPersonalData`],
    /// its snapshots show no names or attributes.
    pub fn detail(&self) -> Detail {
        self.detail
    }

    /// Every event of the place the view knows, in log order, retracted ones and the
    /// retractions included.
    pub(crate) fn recorded(&self) -> &[(Position, Event)] {
        &self.recorded
    }

    /// Whether it was read from the fold-ready form: its events hold only what the
    /// measures need (no names, roles, event ids or free text) and its retractions are
    /// already applied. Its evolutions and anomaly counts are those of the log; its
    /// snapshots show less.
    pub fn is_fold_ready(&self) -> bool {
        self.fold_ready
    }

    /// The events a fold sees, in fold order.
    pub fn events(&self) -> impl DoubleEndedIterator<Item = &(Position, Event)> + ExactSizeIterator {
        self.order.iter().map(|&i| &self.recorded[i as usize])
    }

    /// Changes every event in place (the order and positions stay): for views that show
    /// less than the log holds, such as people's pseudonyms.
    pub fn rewrite_events(&mut self, mut f: impl FnMut(&mut Event)) {
        for (_, e) in &mut self.recorded {
            f(e);
        }
    }

    /// Keeps in the fold only the events `keep` accepts (the log's events are still held,
    /// so positions and retractions are as before): for views of part of the network,
    /// such as some relationship kinds.
    pub fn retain_events(&mut self, mut keep: impl FnMut(&Event) -> bool) {
        let recorded = &self.recorded;
        self.order.retain(|&i| keep(&recorded[i as usize].1));
    }

    /// The first and last valid times among the place's events.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            self.events().next()?.1.occurred_at,
            self.events().next_back()?.1.occurred_at,
        ))
    }

    /// What an evolution over `steps` steps costs at most, in the unit of its per-step
    /// centrality (Brandes: actors x (actors + relationships)): steps x A x (A + R), where
    /// A and R count every actor that ever joined and every relationship ever formed, so
    /// no step's network is larger. Servers refuse evolutions above a budget with it.
    pub fn evolution_work(&self, steps: usize) -> u64 {
        use shiftlog_model::EventBody;
        let mut actors = rustc_hash::FxHashSet::default();
        let mut relationships = rustc_hash::FxHashSet::default();
        for (_, e) in self.events() {
            match &e.body {
                EventBody::ActorJoined { actor, .. } => {
                    actors.insert(actor);
                }
                EventBody::RelationshipFormed { from, to, kind, .. } => {
                    relationships.insert((from, to, kind));
                }
                _ => {}
            }
        }
        let (a, r) = (actors.len() as u64, relationships.len() as u64);
        (steps as u64).saturating_mul(a.max(1)).saturating_mul(a + r + 1)
    }

    /// The state at valid time `at` (events with `occurred_at <= at`).
    pub fn state_at(&self, at: Timestamp) -> PlaceState {
        let mut state = PlaceState::default();
        for (p, e) in self.events().take_while(|(_, e)| e.occurred_at <= at) {
            state.apply(e, *p);
        }
        state
    }

    /// The snapshot at valid time `at`.
    pub fn snapshot(&self, at: Timestamp) -> Snapshot {
        Snapshot::new(
            &self.place,
            at,
            self.known_at_position,
            &self.state_at(at),
            &self.redacted,
        )
    }

    /// The metrics at each of `steps` (ascending), in one pass over the events; each
    /// step's change is measured from the step before, the first's from the empty network.
    pub fn evolve(&self, steps: &[Timestamp]) -> Vec<Step> {
        self.evolve_from(None, steps)
    }

    /// [`PlaceHistory::evolve`], with the first step's change measured from the network
    /// just before `start` (the evolution's first period, [`crate::period_start`]). The
    /// first step's period counts still run from the beginning.
    pub fn evolve_from(&self, start: Option<Timestamp>, steps: &[Timestamp]) -> Vec<Step> {
        self.evolve_measuring(start, steps, EvolutionMeasures::Standard)
    }

    /// [`PlaceHistory::evolve_from`], computing `measures` at each step.
    pub fn evolve_measuring(
        &self,
        start: Option<Timestamp>,
        steps: &[Timestamp],
        measures: EvolutionMeasures,
    ) -> Vec<Step> {
        let mut state = PlaceState::default();
        let mut events = self.events().peekable();
        let (mut sessions, mut voices) = (0, BTreeSet::new());
        let count = |e: &Event, sessions: &mut u64, voices: &mut BTreeSet<_>| {
            if let EventBody::SessionHeld { absent_voices, .. } = &e.body {
                *sessions += 1;
                voices.extend(absent_voices.iter().cloned());
            }
        };
        if let Some(start) = start {
            while let Some((p, e)) = events.next_if(|(_, e)| e.occurred_at < start) {
                count(e, &mut sessions, &mut voices);
                state.apply(e, *p);
            }
        }
        let mut before = crate::change::Before::of(&state);
        // A step after which nothing was folded has the last step's metrics (they are a
        // function of the state alone, whatever the date) and no change: a daily evolution
        // of a place recorded in monthly sessions computes each month's network once.
        // (`before` then still holds that network, so the next step's change is right.)
        let mut out: Vec<Step> = Vec::with_capacity(steps.len());
        for &at in steps {
            let mut folded = false;
            while let Some((p, e)) = events.next_if(|(_, e)| e.occurred_at <= at) {
                count(e, &mut sessions, &mut voices);
                folded = true;
                state.apply(e, *p);
            }
            let period = Period {
                sessions: std::mem::take(&mut sessions),
                absent_voices: std::mem::take(&mut voices).len(),
            };
            let metrics = match out.last() {
                // Nothing moved: the same network, so no change either (every relationship
                // kept, a tie stability of exactly 1), without walking it.
                Some(last) if !folded => crate::Metrics {
                    change: Some(crate::Change {
                        tie_stability: 1.0,
                        ..crate::Change::default()
                    }),
                    ..last.metrics.clone()
                },
                _ => {
                    let mut m = compute_step_metrics(&state, measures);
                    m.change = Some(before.advance(&state));
                    m
                }
            };
            out.push(Step { at, metrics, period });
        }
        out
    }

    /// The snapshots at each of `steps` (ascending), in one pass over the events: the same
    /// as [`PlaceHistory::snapshot`] at each step, without folding from the start each time.
    pub fn snapshots(&self, steps: &[Timestamp]) -> Vec<Snapshot> {
        let mut state = PlaceState::default();
        let mut events = self.events().peekable();
        steps
            .iter()
            .map(|&at| {
                while let Some((p, e)) = events.next_if(|(_, e)| e.occurred_at <= at) {
                    state.apply(e, *p);
                }
                Snapshot::new(&self.place, at, self.known_at_position, &state, &self.redacted)
            })
            .collect()
    }

    /// Every anomaly in the place's history as this view knows it.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut state = PlaceState::default();
        for (p, e) in self.events() {
            state.apply(e, *p);
        }
        state.anomalies
    }
}
