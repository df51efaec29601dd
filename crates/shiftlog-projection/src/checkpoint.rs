//! Answering "at T" without replaying a place's history from the start.
//!
//! Beside the log (in its [`DerivedStore`]), per place:
//! - `p1/hw/<place>`: the log position up to which the place's events have been indexed;
//! - `p1/ti/<place>\0<occurred_at><position>`: a valid-time index of the place's events
//!   (retracted ones and retractions left out), as known at the high-water position;
//! - `p1/cp/<place>\0<occurred_at><position>`: checkpoints, the folded state after every
//!   event up to that key, written every [`Projector::checkpoint_every`] events as folds
//!   pass by.
//!
//! Catching up reads only the place's events past the high-water position. Each one
//! removes the checkpoints at or after its own key: an event recorded late invalidates only
//! the checkpoints after its valid time; a retraction, the ones after its target's. A
//! snapshot then loads the nearest checkpoint at or before T and folds the few events
//! between it and T. Derived data can be lost or cleared at any time: everything here is
//! rebuilt from the log.
//!
//! This serves views of everything recorded. A view "as known at" a point before the
//! high-water position folds the place's history from the start ([`crate::history`]).

use crate::fold::PlaceState;
use crate::query::{history, KnownAt};
use crate::snapshot::Snapshot;
use crate::ProjectionError;
use shiftlog_model::{ActorId, EventBody, PlaceId, Timestamp};
use shiftlog_store::{DerivedBatch, DerivedStore, EventLog, Position, Stream};
use std::collections::BTreeSet;
use std::sync::Arc;

const HW: &[u8] = b"p1/hw/";
const TI: &[u8] = b"p1/ti/";
const CP: &[u8] = b"p1/cp/";

/// The format of a stored checkpoint; any other is ignored (and rebuilt).
const CHECKPOINT_FORMAT: u8 = 1;

/// Where an event sits in valid-time order: occurred_at (12 bytes), then position.
type TimeKey = [u8; 20];

fn time_key(at: Timestamp, position: u64) -> TimeKey {
    let mut k = [0u8; 20];
    k[..12].copy_from_slice(&at.sort_key());
    k[12..].copy_from_slice(&position.to_be_bytes());
    k
}

fn parse_time_key(k: &[u8]) -> Option<(Timestamp, u64)> {
    let k = &k[k.len().checked_sub(20)?..];
    let secs = u64::from_be_bytes(k[..8].try_into().ok()?) ^ (1 << 63);
    let nanos = u32::from_be_bytes(k[8..12].try_into().ok()?);
    Some((
        Timestamp::from_unix(secs as i64, nanos)?,
        u64::from_be_bytes(k[12..].try_into().ok()?),
    ))
}

/// `prefix` place 0x00, optionally followed by a time key.
fn place_key(prefix: &[u8], place: &PlaceId, tail: Option<&[u8]>) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + place.as_str().len() + 21);
    k.extend_from_slice(prefix);
    k.extend_from_slice(place.as_str().as_bytes());
    k.push(0);
    if let Some(t) = tail {
        k.extend_from_slice(t);
    }
    k
}

/// The end (exclusive) of a place's keys under `prefix`: ids hold no control characters,
/// so nothing sorts between place 0x00 ... and place 0x01.
fn place_end(prefix: &[u8], place: &PlaceId) -> Vec<u8> {
    let mut k = place_key(prefix, place, None);
    *k.last_mut().expect("not empty") = 1;
    k
}

fn encode(state: &PlaceState) -> Vec<u8> {
    let mut out = vec![CHECKPOINT_FORMAT];
    out.extend(bincode::serde::encode_to_vec(state, bincode::config::standard()).expect("states always encode"));
    out
}

fn decode(bytes: &[u8]) -> Option<PlaceState> {
    let (&format, rest) = bytes.split_first()?;
    if format != CHECKPOINT_FORMAT {
        return None;
    }
    bincode::serde::decode_from_slice(rest, bincode::config::standard())
        .ok()
        .map(|(s, _)| s)
}

/// Checkpointed projections over one log.
#[derive(Debug)]
pub struct Projector {
    log: Arc<dyn EventLog>,
    derived: Arc<dyn DerivedStore>,
    every: usize,
    /// One catch-up or checkpointing fold at a time, so that checkpoints always agree with
    /// the high-water position they were folded at.
    lock: tokio::sync::Mutex<()>,
}

impl Projector {
    /// Checkpoints every this many events by default.
    pub const DEFAULT_CHECKPOINT_EVERY: usize = 1024;

    /// A projector over `log`, keeping its derived data in the log's derived store.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        let derived = log.derived();
        Projector {
            log,
            derived,
            every: Self::DEFAULT_CHECKPOINT_EVERY,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets how many events a fold passes between checkpoints.
    pub fn with_checkpoint_every(mut self, n: usize) -> Self {
        self.every = n.max(1);
        self
    }

    /// How many events a fold passes between checkpoints.
    pub fn checkpoint_every(&self) -> usize {
        self.every
    }

    /// Brings the place's index up to the log's head, invalidating the checkpoints that
    /// newly seen events fall before.
    /// Returns the position it is now up to.
    async fn catch_up(&self, place: &PlaceId) -> Result<u64, ProjectionError> {
        let hw_key = place_key(HW, place, None);
        let hw = self
            .derived
            .get(&hw_key)?
            .and_then(|v| v.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let head = self.log.head().0;
        if hw >= head {
            return Ok(hw);
        }
        let stream = Stream::Place(place.clone());
        let mut batch = DerivedBatch::default();
        let mut earliest: Option<TimeKey> = None;
        let mut from = Position(hw + 1);
        'read: loop {
            let page = self.log.read_stream(&stream, from, 10_000).await?;
            let Some(last) = page.last() else { break };
            from = Position(last.position.0 + 1);
            let full = page.len() == 10_000;
            for r in page {
                if r.position.0 > head {
                    break 'read;
                }
                let key = match &r.event.body {
                    EventBody::EventRetracted { target, .. } => match self.log.event(target).await? {
                        Some(t) => {
                            let k = time_key(t.event.occurred_at, t.position.0);
                            batch.remove(place_key(TI, place, Some(&k)));
                            k
                        }
                        None => continue,
                    },
                    _ => {
                        let k = time_key(r.event.occurred_at, r.position.0);
                        batch.put(place_key(TI, place, Some(&k)), Vec::new());
                        k
                    }
                };
                earliest = Some(earliest.map_or(key, |e| e.min(key)));
            }
            if !full {
                break;
            }
        }
        if let Some(k) = earliest {
            for (ck, _) in self
                .derived
                .range(&place_key(CP, place, Some(&k)), &place_end(CP, place))?
            {
                batch.remove(ck);
            }
        }
        batch.put(hw_key, head.to_be_bytes().to_vec());
        self.derived.apply(batch)?;
        Ok(head)
    }

    /// The place's state at valid time `at` from the nearest checkpoint, and the log
    /// position it reflects.
    pub async fn state_at(&self, place: &PlaceId, at: Timestamp) -> Result<(PlaceState, u64), ProjectionError> {
        let _guard = self.lock.lock().await;
        self.known_place(place).await?;
        let known = self.catch_up(place).await?;
        let upto = time_key(at, u64::MAX);
        let mut state = PlaceState::default();
        let mut start = place_key(TI, place, None);
        if let Some((k, v)) = self
            .derived
            .last_in(&place_key(CP, place, None), &place_key(CP, place, Some(&upto)))?
        {
            if let Some(s) = decode(&v) {
                state = s;
                // Continue just after the checkpoint's event.
                start = place_key(TI, place, Some(&k[k.len() - 20..]));
                start.push(0);
            }
        }
        let entries = self.derived.range(&start, &place_key(TI, place, Some(&upto)))?;
        let mut since_checkpoint = 0;
        for chunk in entries.chunks(4096) {
            let positions: Vec<Position> = chunk
                .iter()
                .map(|(k, _)| parse_time_key(k).map(|(_, p)| Position(p)))
                .collect::<Option<_>>()
                .ok_or_else(|| ProjectionError::Derived("malformed index key".into()))?;
            for r in self.log.read_at(&positions).await? {
                state.apply(&r.event, r.position);
                since_checkpoint += 1;
                if since_checkpoint == self.every {
                    since_checkpoint = 0;
                    let mut b = DerivedBatch::default();
                    let k = time_key(r.event.occurred_at, r.position.0);
                    b.put(place_key(CP, place, Some(&k)), encode(&state));
                    self.derived.apply(b)?;
                }
            }
        }
        Ok((state, known))
    }

    /// The snapshot of `place` at `at`, as known now (everything recorded).
    pub async fn snapshot(&self, place: &PlaceId, at: Timestamp) -> Result<Snapshot, ProjectionError> {
        let (state, known) = self.state_at(place, at).await?;
        let redacted = self.redacted().await?;
        Ok(Snapshot::new(place, at, known, &state, &redacted))
    }

    /// The metrics of `place` at `at`, as known now, without per-actor centralities.
    pub async fn metrics_at(&self, place: &PlaceId, at: Timestamp) -> Result<crate::Metrics, ProjectionError> {
        Ok(crate::compute_metrics(&self.state_at(place, at).await?.0))
    }

    /// The checkpoints the place has now: (valid time, position) of the last event each
    /// one folded. For inspection and tests.
    pub async fn checkpoints(&self, place: &PlaceId) -> Result<Vec<(Timestamp, u64)>, ProjectionError> {
        let entries = self.derived.range(&place_key(CP, place, None), &place_end(CP, place))?;
        Ok(entries.iter().filter_map(|(k, _)| parse_time_key(k)).collect())
    }

    async fn known_place(&self, place: &PlaceId) -> Result<(), ProjectionError> {
        if self.log.version(&Stream::Place(place.clone())).await? == 0 {
            return Err(ProjectionError::UnknownPlace(place.clone()));
        }
        Ok(())
    }

    async fn redacted(&self) -> Result<BTreeSet<ActorId>, ProjectionError> {
        let mut out = BTreeSet::new();
        let mut from = Position(1);
        loop {
            let page = self.log.read_stream(&Stream::Unplaced, from, 10_000).await?;
            let Some(last) = page.last() else { break };
            from = Position(last.position.0 + 1);
            for r in &page {
                if let EventBody::ActorRedacted { actor, .. } = &r.event.body {
                    out.insert(actor.clone());
                }
            }
        }
        Ok(out)
    }

    /// The snapshot at `at` as known at `known`: from checkpoints for everything recorded,
    /// by a full fold for an earlier view.
    pub async fn snapshot_known(
        &self,
        place: &PlaceId,
        at: Timestamp,
        known: KnownAt,
    ) -> Result<Snapshot, ProjectionError> {
        match known {
            KnownAt::Everything => self.snapshot(place, at).await,
            k => Ok(history(self.log.as_ref(), place, k).await?.snapshot(at)),
        }
    }
}
