//! Answering "at T" without replaying a place's history from the start.
//!
//! Beside the log (in its [`DerivedStore`]), per place:
//! - `p2/hw/<place>`: the log position up to which the place's events have been indexed;
//! - `p2/ti/<place>\0<occurred_at><position>`: a valid-time index of the place's events
//!   (retractions left out), as known at the high-water position; the value is empty, or
//!   the position of the retraction that took the event back;
//! - `p2/rx/<place>\0<position>`: the place's retractions, with their targets' keys;
//! - `p2/cp/<place>\0<occurred_at><position>`: checkpoints, the folded state after every
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
//! A view "as known at" position K may start from a checkpoint that folded nothing past K
//! and that no retraction recorded after K (and before the checkpoint was written) reaches
//! back before; from there it folds the indexed events at positions up to K that were not
//! yet retracted at K.

use crate::fold::PlaceState;
use crate::fold_ready::{BlockWriter, BLOCKS, COVERED};
use crate::query::{read_until, redactions, KnownAt};
use crate::snapshot::Snapshot;
use crate::ProjectionError;
use shiftlog_model::{ActorId, EventBody, PlaceId, Timestamp};
use shiftlog_store::{DerivedBatch, DerivedStore, Detail, EventLog, Position, Stream};
use std::collections::BTreeSet;
use std::sync::Arc;

// The prefix names the layout of this derived data: a change of meaning takes a new one,
// so data written by an older build is ignored and rebuilt rather than misread.
const HW: &[u8] = b"p2/hw/";
const TI: &[u8] = b"p2/ti/";
const CP: &[u8] = b"p2/cp/";
const RX: &[u8] = b"p2/rx/";

/// The format of a stored checkpoint; any other is ignored (and rebuilt).
const CHECKPOINT_FORMAT: u8 = 2;

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

/// The positions of the index entries a view as known at `k` sees: recorded by `k` and not
/// yet retracted then (an entry's value is empty, or its retraction's position).
fn visible(entries: &[shiftlog_store::DerivedEntry], k: u64) -> Result<Vec<Position>, ProjectionError> {
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let (_, p) = parse_time_key(key).ok_or_else(|| ProjectionError::Derived("malformed index key".into()))?;
        let retracted_at = value.as_slice().try_into().ok().map(u64::from_be_bytes);
        if p <= k && retracted_at.is_none_or(|r| r > k) {
            out.push(Position(p));
        }
    }
    Ok(out)
}

/// A checkpoint's header: the largest position it folded, and the high-water position
/// it was written at.
#[derive(Debug, Clone, Copy)]
struct CheckpointHead {
    max_position: u64,
    written_at: u64,
}

fn encode(head: CheckpointHead, state: &PlaceState) -> Vec<u8> {
    let mut out = vec![CHECKPOINT_FORMAT];
    out.extend_from_slice(&head.max_position.to_be_bytes());
    out.extend_from_slice(&head.written_at.to_be_bytes());
    out.extend(bincode::serde::encode_to_vec(state, bincode::config::standard()).expect("states always encode"));
    out
}

fn decode_head(bytes: &[u8]) -> Option<CheckpointHead> {
    if bytes.len() < 17 || bytes[0] != CHECKPOINT_FORMAT {
        return None;
    }
    Some(CheckpointHead {
        max_position: u64::from_be_bytes(bytes[1..9].try_into().ok()?),
        written_at: u64::from_be_bytes(bytes[9..17].try_into().ok()?),
    })
}

fn decode(bytes: &[u8]) -> Option<(CheckpointHead, PlaceState)> {
    let head = decode_head(bytes)?;
    let (state, _) = bincode::serde::decode_from_slice(&bytes[17..], bincode::config::standard()).ok()?;
    Some((head, state))
}

/// A place's high-water mark: the log position its index is up to, and how many of the
/// place's events (its stream's version) that covers. Stored as 16 bytes; an older build
/// wrote the position alone, and then the count is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct HighWater {
    position: u64,
    indexed: Option<u64>,
}

impl HighWater {
    fn decode(v: Option<Vec<u8>>) -> HighWater {
        match v.as_deref().map(|v| v.len()) {
            Some(8) | Some(16) => {
                let v = v.expect("a value");
                HighWater {
                    position: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                    indexed: v.get(8..16).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))),
                }
            }
            _ => HighWater::default(),
        }
    }

    fn encode(self) -> Vec<u8> {
        let mut v = self.position.to_be_bytes().to_vec();
        v.extend_from_slice(&self.indexed.unwrap_or(0).to_be_bytes());
        v
    }
}

/// The fold-ready blocks a catch-up or rebuild appends to: the last block, while it has
/// room, then new ones keyed by their first record's position.
#[derive(Debug, Default)]
struct ReadyAppend {
    /// The key of the block being written (`None` until its first record).
    key: Option<Vec<u8>>,
    block: BlockWriter,
}

impl ReadyAppend {
    /// Continues `place`'s form, which holds its events up to `hw`; `None` if its last
    /// block does not decode (the form then waits for a rebuild).
    fn open(
        derived: &dyn DerivedStore,
        place: &PlaceId,
        hw: u64,
        batch: &mut DerivedBatch,
    ) -> Result<Option<ReadyAppend>, ProjectionError> {
        let (first, end) = (place_key(BLOCKS, place, None), place_end(BLOCKS, place));
        if hw == 0 {
            // Nothing is indexed, so no block should be there: any left is dropped.
            for (k, _) in derived.range(&first, &end)? {
                batch.remove(k);
            }
            return Ok(Some(ReadyAppend::default()));
        }
        Ok(match derived.last_in(&first, &end)? {
            None => Some(ReadyAppend::default()),
            Some((key, bytes)) => match BlockWriter::resume(&bytes) {
                Ok(block) if !block.is_full() => Some(ReadyAppend { key: Some(key), block }),
                Ok(_) => Some(ReadyAppend::default()),
                Err(_) => None,
            },
        })
    }

    fn push(
        &mut self,
        place: &PlaceId,
        position: u64,
        e: &shiftlog_model::Event,
        target: Option<u64>,
        batch: &mut DerivedBatch,
    ) {
        let key = self
            .key
            .get_or_insert_with(|| place_key(BLOCKS, place, Some(&position.to_be_bytes())));
        self.block.push(position, e, target);
        if self.block.is_full() {
            batch.put(key.clone(), self.block.finish());
            *self = ReadyAppend::default();
        }
    }

    fn finish(self, batch: &mut DerivedBatch) {
        if let Some(key) = self.key {
            batch.put(key, self.block.finish());
        }
    }
}

/// Histories read from the fold-ready form ([`Projector::fold_ready_histories`]).
#[derive(Debug, Default)]
pub struct FoldReady {
    /// The places whose form holds every event the view sees (a place none of whose
    /// events the view knows is in neither list, as in [`crate::histories`]).
    pub histories: std::collections::BTreeMap<PlaceId, crate::PlaceHistory>,
    /// The places to read from the log instead.
    pub missing: Vec<PlaceId>,
}

/// How far a place's derived data is behind the log (see [`Projector::lag`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// Holds every event of the place in the log.
    Current,
    /// Behind by this many of the place's events: caught up where it stands.
    Behind(u64),
    /// Never indexed (or by an older build, or far behind): rebuilt from the place's
    /// whole history, read with other places' in one pass over the log.
    Rebuild,
}

/// Below this many new events a place catches up from its stream; at or above, and for a
/// place never indexed, its index and checkpoints are written afresh from its history.
const REBUILD_FROM: u64 = 4096;

/// Checkpointed projections over one log.
///
/// Queries of different places run in parallel, and so do queries of one place once its
/// index is current: each place has a lock that catching up (which moves the high-water
/// mark and removes checkpoints) takes alone, and folds share. Folds may write
/// checkpoints under the shared lock: two folds of one place at one high-water mark write
/// the same bytes, and no catch-up can move the mark under them. The locks are the
/// projector's own: keep one projector per log (the `shiftlog` crate's `Engine`
/// holds one and shares it between its clones).
#[derive(Debug)]
pub struct Projector {
    log: Arc<dyn EventLog>,
    derived: Arc<dyn DerivedStore>,
    every: usize,
    locks: PlaceLocks,
    /// Recent snapshots' folded states and measures ([`crate::memo`]).
    memo: crate::memo::Memo,
}

/// One lock per place, made on first use (places are few: thousands at most).
#[derive(Debug, Default)]
struct PlaceLocks(std::sync::Mutex<std::collections::HashMap<PlaceId, Arc<tokio::sync::RwLock<()>>>>);

impl PlaceLocks {
    fn of(&self, place: &PlaceId) -> Arc<tokio::sync::RwLock<()>> {
        let mut map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(place.clone()).or_default().clone()
    }
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
            locks: PlaceLocks::default(),
            memo: crate::memo::Memo::default(),
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
    /// The caller holds the place's lock alone.
    async fn catch_up(&self, place: &PlaceId, generation: u64) -> Result<u64, ProjectionError> {
        let hw_key = place_key(HW, place, None);
        let HighWater { position: hw, indexed } = self.high_water(place)?;
        let head = self.log.head().0;
        if hw >= head {
            return Ok(hw);
        }
        let mut counted = 0u64;
        let stream = Stream::Place(place.clone());
        let mut batch = DerivedBatch::in_generation(generation);
        // The fold-ready form grows with the index when it holds everything the index
        // does; otherwise (an index an older build wrote) it waits for a rebuild.
        let mut ready = match self.covered(place)? == hw {
            true => ReadyAppend::open(self.derived.as_ref(), place, hw, &mut batch)?,
            false => None,
        };
        let mut earliest: Option<TimeKey> = None;
        // Events retracted in this catch-up; an event's first retraction is the one that
        // counts (a later one retracts nothing more).
        let mut retracted_here = std::collections::HashSet::new();
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
                counted += 1;
                let target = match &r.event.body {
                    EventBody::EventRetracted { target, .. } => self.log.event(target).await?,
                    _ => None,
                };
                if let Some(ready) = &mut ready {
                    ready.push(
                        place,
                        r.position.0,
                        &r.event,
                        target.as_ref().map(|t| t.position.0),
                        &mut batch,
                    );
                }
                let key = match &r.event.body {
                    EventBody::EventRetracted { .. } => match target {
                        Some(t) => {
                            let k = time_key(t.event.occurred_at, t.position.0);
                            let ti = place_key(TI, place, Some(&k));
                            let already =
                                retracted_here.contains(&ti) || self.derived.get(&ti)?.is_some_and(|v| v.len() == 8);
                            if !already {
                                batch.put(ti.clone(), r.position.0.to_be_bytes().to_vec());
                                retracted_here.insert(ti);
                            }
                            batch.put(place_key(RX, place, Some(&r.position.0.to_be_bytes())), k.to_vec());
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
        let mark = HighWater {
            position: head,
            indexed: if hw == 0 {
                Some(counted)
            } else {
                indexed.map(|n| n + counted)
            },
        };
        batch.put(hw_key, mark.encode());
        if let Some(ready) = ready {
            ready.finish(&mut batch);
            batch.put(place_key(COVERED, place, None), head.to_be_bytes().to_vec());
        }
        self.derived.apply(batch)?;
        Ok(head)
    }

    /// The log position up to which `place`'s fold-ready form holds its events (0: none).
    fn covered(&self, place: &PlaceId) -> Result<u64, ProjectionError> {
        Ok(self
            .derived
            .get(&place_key(COVERED, place, None))?
            .and_then(|v| v.as_slice().try_into().ok())
            .map_or(0, u64::from_be_bytes))
    }

    fn high_water(&self, place: &PlaceId) -> Result<HighWater, ProjectionError> {
        Ok(HighWater::decode(self.derived.get(&place_key(HW, place, None))?))
    }

    /// How far `place`'s derived data is behind the log's head.
    pub async fn lag(&self, place: &PlaceId) -> Result<Lag, ProjectionError> {
        let mark = self.high_water(place)?;
        // An index without its fold-ready form (written by an older build) is rebuilt
        // once with it.
        if mark.position > 0 && self.covered(place)? != mark.position {
            return Ok(Lag::Rebuild);
        }
        if mark.position >= self.log.head().0 {
            return Ok(Lag::Current);
        }
        let version = self.log.version(&Stream::Place(place.clone())).await?;
        Ok(match mark.indexed {
            // Other places' events moved the head, none of this one's: its index holds
            // everything (a query still moves the mark, cheaply, before answering).
            Some(n) if mark.position > 0 && n >= version => Lag::Current,
            Some(n) if mark.position > 0 && version - n < REBUILD_FROM => Lag::Behind(version - n),
            _ => Lag::Rebuild,
        })
    }

    /// Brings `place`'s index up to the log's head and writes its checkpoints up to its
    /// last event, so that no query waits for them.
    pub async fn prepare(&self, place: &PlaceId) -> Result<(), ProjectionError> {
        self.known_place(place).await?;
        self.current(place, self.derived.generation()).await?;
        let last = self
            .derived
            .last_in(&place_key(TI, place, None), &place_end(TI, place))?
            .and_then(|(k, _)| parse_time_key(&k));
        if let Some((at, _)) = last {
            self.state_known(place, at, KnownAt::Everything).await?;
        }
        Ok(())
    }

    /// Catches `place` up to the log's head if it is behind, holding its lock alone.
    async fn current(&self, place: &PlaceId, generation: u64) -> Result<(), ProjectionError> {
        if self.high_water(place)?.position < self.log.head().0 {
            let lock = self.locks.of(place);
            let _alone = lock.write().await;
            self.catch_up(place, generation).await?;
        }
        Ok(())
    }

    /// Writes `place`'s index and checkpoints afresh from `history`, its whole history as
    /// known at a position of the log (read with [`Detail::Full`]: checkpoints hold names),
    /// read while the derived store was at `generation`. Nothing is written if the place's
    /// index is already at or past that position, or if a redaction has cleared the
    /// derived data since. This is the grouped pass after a bulk import: one read of the
    /// log for many places instead of one per place.
    pub async fn rebuild(&self, history: &crate::PlaceHistory, generation: u64) -> Result<(), ProjectionError> {
        let place = history.place();
        let lock = self.locks.of(place);
        let _alone = lock.write().await;
        if history.is_fold_ready() {
            return Err(ProjectionError::Derived(
                "derived data is rebuilt from a history read from the log, not from its fold-ready form".into(),
            ));
        }
        let h = history.known_at_position();
        // An index at or past `h` is kept, unless an older build wrote it without the
        // fold-ready form.
        let mark = self.high_water(place)?.position;
        if mark >= h && self.covered(place)? == mark {
            return Ok(());
        }
        let recorded = history.recorded();
        let mut batch = DerivedBatch::in_generation(generation);
        for prefix in [TI, RX, CP, BLOCKS] {
            for (k, _) in self
                .derived
                .range(&place_key(prefix, place, None), &place_end(prefix, place))?
            {
                batch.remove(k);
            }
        }
        // The index as catching up from nothing would write it: every event but the
        // retractions by valid time, each with the position of its first retraction, and
        // the retractions with their targets' keys.
        let mut keys: std::collections::HashMap<&shiftlog_model::EventId, (TimeKey, bool)> =
            std::collections::HashMap::with_capacity(recorded.len());
        let mut index: std::collections::BTreeMap<TimeKey, Vec<u8>> = std::collections::BTreeMap::new();
        let mut ready = ReadyAppend::default();
        for (p, e) in recorded {
            let k = time_key(e.occurred_at, p.0);
            let target = match &e.body {
                EventBody::EventRetracted { target, .. } => keys
                    .get(target)
                    .map(|(tk, _)| u64::from_be_bytes(tk[12..].try_into().expect("8 bytes"))),
                _ => None,
            };
            ready.push(place, p.0, e, target, &mut batch);
            if let EventBody::EventRetracted { target, .. } = &e.body {
                if let Some((tk, retracted)) = keys.get_mut(target) {
                    if !*retracted {
                        *retracted = true;
                        index.insert(*tk, p.0.to_be_bytes().to_vec());
                    }
                    batch.put(place_key(RX, place, Some(&p.0.to_be_bytes())), tk.to_vec());
                }
            } else {
                index.insert(k, Vec::new());
            }
            if let Some(id) = &e.id {
                keys.insert(id, (k, false));
            }
        }
        for (k, v) in index {
            batch.put(place_key(TI, place, Some(&k)), v);
        }
        let mark = HighWater {
            position: h,
            indexed: Some(recorded.len() as u64),
        };
        batch.put(place_key(HW, place, None), mark.encode());
        ready.finish(&mut batch);
        batch.put(place_key(COVERED, place, None), h.to_be_bytes().to_vec());
        self.derived.apply(batch)?;
        // Checkpoints as a fold of everything would write them, a few to a batch.
        let mut state = PlaceState::default();
        let mut max_position = 0;
        let mut checkpoints = DerivedBatch::in_generation(generation);
        for (i, (p, e)) in history.events().enumerate() {
            state.apply(e, *p);
            max_position = max_position.max(p.0);
            if (i + 1) % self.every == 0 {
                let head = CheckpointHead {
                    max_position,
                    written_at: h,
                };
                let key = time_key(e.occurred_at, p.0);
                checkpoints.put_sealed(place_key(CP, place, Some(&key)), encode(head, &state));
                if checkpoints.len() >= 16 {
                    self.derived.apply(std::mem::replace(
                        &mut checkpoints,
                        DerivedBatch::in_generation(generation),
                    ))?;
                }
            }
        }
        self.derived.apply(checkpoints)?;
        Ok(())
    }

    /// The place's state at valid time `at` as known now, from the nearest checkpoint,
    /// and the log position it reflects.
    pub async fn state_at(&self, place: &PlaceId, at: Timestamp) -> Result<(PlaceState, u64), ProjectionError> {
        self.state_known(place, at, KnownAt::Everything).await
    }

    /// The place's state at valid time `at` as known at `known`, from the nearest usable
    /// checkpoint, and the log position it reflects.
    pub async fn state_known(
        &self,
        place: &PlaceId,
        at: Timestamp,
        known: KnownAt,
    ) -> Result<(PlaceState, u64), ProjectionError> {
        self.known_place(place).await?;
        let lock = self.locks.of(place);
        // Derived data is cleared when an actor is redacted: an answer read across a
        // clear may have missed index entries, so it is worked out again.
        loop {
            let generation = self.derived.generation();
            self.current(place, generation).await?;
            let answer = {
                let _shared = lock.read().await;
                let hw = self.high_water(place)?.position;
                let k = known.position(self.log.as_ref(), hw).await?;
                (self.state_known_in(place, at, k, generation, hw).await?, k)
            };
            if self.derived.generation() == generation {
                return Ok(answer);
            }
        }
    }

    /// [`state_known`](Projector::state_known) with its measures, from memory when the
    /// same events were folded recently ([`crate::memo`]).
    async fn folded_known(
        &self,
        place: &PlaceId,
        at: Timestamp,
        known: KnownAt,
    ) -> Result<(Arc<crate::memo::Folded>, u64), ProjectionError> {
        use crate::memo::{FoldKey, Folded, Seen};
        self.known_place(place).await?;
        let lock = self.locks.of(place);
        loop {
            let generation = self.derived.generation();
            self.current(place, generation).await?;
            let (key, k, kept) = {
                let _shared = lock.read().await;
                let mark = self.high_water(place)?;
                let hw = mark.position;
                let k = known.position(self.log.as_ref(), hw).await?;
                // Under the shared lock the index is current to `hw >= k` and cannot move.
                let seen = match mark.indexed {
                    Some(n) if k == hw => Seen::Indexed(n),
                    _ => Seen::UpTo(k),
                };
                let upto = time_key(at, u64::MAX);
                let last = self
                    .derived
                    .last_in(&place_key(TI, place, None), &place_key(TI, place, Some(&upto)))?
                    .map(|(key, _)| key);
                let key = FoldKey {
                    place: place.clone(),
                    generation,
                    seen,
                    last,
                };
                match self.memo.get(&key) {
                    Some(folded) => (key, k, Ok(folded)),
                    None => {
                        let state = self.state_known_in(place, at, k, generation, hw).await?;
                        (key, k, Err(state))
                    }
                }
            };
            if self.derived.generation() != generation {
                continue;
            }
            let folded = match kept {
                Ok(folded) => folded,
                Err(state) => {
                    // Measures are computed outside the place's lock: catching up waits
                    // for folds, not for betweenness.
                    let folded = Arc::new(Folded::new(state));
                    self.memo.insert(key, folded.clone(), self.derived.generation());
                    folded
                }
            };
            return Ok((folded, k));
        }
    }

    /// Forgets the states kept in memory if derived data was cleared since (a redaction):
    /// what the keeper does after every round, so that no name outlives its erasure in
    /// memory longer than one round, even when no query comes.
    pub fn forget_if_cleared(&self) {
        self.memo.follow(self.derived.generation());
    }

    async fn state_known_in(
        &self,
        place: &PlaceId,
        at: Timestamp,
        k: u64,
        generation: u64,
        hw: u64,
    ) -> Result<PlaceState, ProjectionError> {
        let everything = k == hw;
        let upto = time_key(at, u64::MAX);
        let mut state = PlaceState::default();
        let mut max_position = 0;
        let mut start = place_key(TI, place, None);
        let (first, last) = (place_key(CP, place, None), place_key(CP, place, Some(&upto)));
        // A view of everything can use the latest checkpoint before T, so only that one
        // is read (each holds a whole state); an earlier view may have to pass over some.
        let checkpoints = match self.derived.last_in(&first, &last)? {
            Some(latest) if everything && decode_head(&latest.1).is_some() => vec![latest],
            _ => self.derived.range(&first, &last)?,
        };
        for (key, value) in checkpoints.iter().rev() {
            let Some(head) = decode_head(value) else { continue };
            let kc = &key[key.len() - 20..];
            if !everything && !self.usable(place, head, kc, k)? {
                continue;
            }
            if let Some((head, s)) = decode(value) {
                state = s;
                max_position = head.max_position;
                // Continue just after the checkpoint's event.
                start = place_key(TI, place, Some(kc));
                start.push(0);
                break;
            }
        }
        let entries = self.derived.range(&start, &place_key(TI, place, Some(&upto)))?;
        let folded = visible(&entries, k)?;
        let mut since_checkpoint = 0;
        for chunk in folded.chunks(4096) {
            for r in self.log.read_at(chunk).await? {
                state.apply(&r.event, r.position);
                max_position = max_position.max(r.position.0);
                since_checkpoint += 1;
                // Checkpoints are written only by folds of everything recorded.
                if everything && since_checkpoint == self.every {
                    since_checkpoint = 0;
                    let mut b = DerivedBatch::in_generation(generation);
                    let key = time_key(r.event.occurred_at, r.position.0);
                    let head = CheckpointHead {
                        max_position,
                        written_at: hw,
                    };
                    // A checkpoint holds names and attributes: sealed on disk.
                    b.put_sealed(place_key(CP, place, Some(&key)), encode(head, &state));
                    self.derived.apply(b)?;
                }
            }
        }
        Ok(state)
    }

    /// What changed in `place` between `from` and `to` as known at `known`: both states
    /// from checkpoints, the events in between from the valid-time index.
    pub async fn diff(
        &self,
        place: &PlaceId,
        from: Timestamp,
        to: Timestamp,
        known: KnownAt,
    ) -> Result<crate::Diff, ProjectionError> {
        let (a, b, k, positions) = loop {
            let generation = self.derived.generation();
            let (a, k) = self.state_known(place, from, known).await?;
            let (b, _) = self.state_known(place, to, KnownAt::Position(k)).await?;
            let lo = place_key(TI, place, Some(&time_key(from, u64::MAX)));
            let hi = place_key(TI, place, Some(&time_key(to, u64::MAX)));
            let positions = visible(&self.derived.range(&lo, &hi)?, k)?;
            if self.derived.generation() == generation {
                break (a, b, k, positions);
            }
        };
        let between = self.log.read_at(&positions).await?;
        Ok(crate::diff::diff_states(
            place,
            from,
            to,
            k,
            &a,
            &b,
            between.iter().map(|r| &r.event),
        ))
    }

    /// Whether a checkpoint at `kc` can start a view as known at `k`: it folded nothing
    /// past `k`, and no retraction recorded after `k` (up to when it was written) took
    /// back an event at or before it. Later retractions and late events removed any
    /// checkpoint they reached back before.
    fn usable(&self, place: &PlaceId, head: CheckpointHead, kc: &[u8], k: u64) -> Result<bool, ProjectionError> {
        if head.max_position > k {
            return Ok(false);
        }
        let from = place_key(RX, place, Some(&(k + 1).to_be_bytes()));
        let to = place_key(RX, place, Some(&head.written_at.saturating_add(1).to_be_bytes()));
        if from >= to {
            return Ok(true);
        }
        Ok(self
            .derived
            .range(&from, &to)?
            .iter()
            .all(|(_, target)| target.as_slice() > kc))
    }

    /// The histories of `places` as known at log position `k` (at most the log's head),
    /// read from their fold-ready forms ([`crate::fold_ready`]): the events as the measures
    /// see them, without names, roles, event ids or free text, decoded on every core. Their
    /// evolutions and anomaly counts are the log's; their snapshots show less. A place whose
    /// form does not hold every event the view sees (derived data behind the log, cleared,
    /// or written by an older build) is among the answer's `missing`: read it from the log.
    pub async fn fold_ready_histories(&self, places: &[PlaceId], k: u64) -> Result<FoldReady, ProjectionError> {
        use rayon::prelude::*;
        let redacted = self.redacted(k).await?;
        loop {
            let generation = self.derived.generation();
            let mut stored = Vec::with_capacity(places.len());
            for p in places {
                // The place's events so far, counted before its blocks are read: blocks
                // hold a prefix of the place's stream and only grow, so if they then hold
                // at least that many records they hold every event up to `k` (all of
                // which were in the log when it was counted).
                let version = self.log.version(&Stream::Place(p.clone())).await?;
                let blocks = self.derived.range(&place_key(BLOCKS, p, None), &place_end(BLOCKS, p))?;
                stored.push((p, version, blocks));
            }
            // Blocks read across a clear (a redaction) may be missing some: read again.
            if self.derived.generation() != generation {
                continue;
            }
            type Read = Option<(Vec<(Position, shiftlog_model::Event)>, Vec<(u64, u64)>)>;
            let read: Vec<(&PlaceId, Read)> = stored
                .into_par_iter()
                .map(|(p, version, blocks)| {
                    // Sized from the stream's version: growing a vector of events by
                    // doubling cost more than decoding them.
                    let (mut events, mut retractions) = (Vec::with_capacity(version as usize), Vec::new());
                    let whole = blocks
                        .iter()
                        .all(|(_, block)| crate::fold_ready::decode_into(block, &mut events, &mut retractions).is_ok());
                    let held = (events.len() + retractions.len()) as u64;
                    (
                        p,
                        (whole && version > 0 && held >= version).then_some((events, retractions)),
                    )
                })
                .collect();
            let mut out = FoldReady::default();
            for (p, read) in read {
                match read {
                    // As a read of the log, a place none of whose events the view knows
                    // is not in it.
                    Some((events, retractions))
                        if events.first().is_none_or(|(q, _)| q.0 > k)
                            && retractions.first().is_none_or(|(q, _)| *q > k) => {}
                    Some((events, retractions)) => {
                        let history =
                            crate::query::from_fold_ready(p.clone(), k, events, &retractions, redacted.clone());
                        out.histories.insert(p.clone(), history);
                    }
                    None => out.missing.push(p.clone()),
                }
            }
            return Ok(out);
        }
    }

    /// The snapshot of `place` at `at`, as known now (everything recorded).
    pub async fn snapshot(&self, place: &PlaceId, at: Timestamp) -> Result<Snapshot, ProjectionError> {
        self.snapshot_known(place, at, KnownAt::Everything).await
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

    /// Checks every checkpoint of `place` against a replay of the place's events from the
    /// log (not from the index): each must hold exactly the state after folding the
    /// events up to its key. Returns one line per checkpoint that does not.
    pub async fn verify_checkpoints(&self, place: &PlaceId) -> Result<Vec<String>, ProjectionError> {
        self.known_place(place).await?;
        let lock = self.locks.of(place);
        let _alone = lock.write().await;
        let hw = self.catch_up(place, self.derived.generation()).await?;
        let history = crate::query::history(self.log.as_ref(), place, KnownAt::Position(hw)).await?;
        let mut events = history.events().peekable();
        let mut state = PlaceState::default();
        let mut problems = Vec::new();
        for (key, value) in self.derived.range(&place_key(CP, place, None), &place_end(CP, place))? {
            let Some((at, position)) = parse_time_key(&key) else {
                problems.push(format!("place `{place}`: a checkpoint key does not parse"));
                continue;
            };
            let upto = time_key(at, position);
            while let Some((p, e)) = events.next_if(|(p, e)| time_key(e.occurred_at, p.0) <= upto) {
                state.apply(e, *p);
            }
            match decode(&value) {
                None => problems.push(format!(
                    "place `{place}`: the checkpoint at {at} (position {position}) does not decode"
                )),
                Some((_, s)) if s != state => problems.push(format!(
                    "place `{place}`: the checkpoint at {at} (position {position}) does not match a replay of the log"
                )),
                Some(_) => {}
            }
        }
        Ok(problems)
    }

    async fn known_place(&self, place: &PlaceId) -> Result<(), ProjectionError> {
        if self.log.version(&Stream::Place(place.clone())).await? == 0 {
            return Err(ProjectionError::UnknownPlace(place.clone()));
        }
        Ok(())
    }

    /// Actors redacted by events at positions up to `k`.
    async fn redacted(&self, k: u64) -> Result<BTreeSet<ActorId>, ProjectionError> {
        Ok(redactions(
            read_until(self.log.as_ref(), &Stream::Unplaced, k, Detail::WithoutPersonalData).await?,
        ))
    }

    /// The snapshot at `at` as known at `known`, from the nearest usable checkpoint.
    pub async fn snapshot_known(
        &self,
        place: &PlaceId,
        at: Timestamp,
        known: KnownAt,
    ) -> Result<Snapshot, ProjectionError> {
        let (folded, k) = self.folded_known(place, at, known).await?;
        let redacted = self.redacted(k).await?;
        Ok(Snapshot::of_folded(place, at, k, &folded, &redacted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiftlog_model::Event;
    use shiftlog_store::{AppendRequest, SledLog};

    async fn append(log: &dyn EventLog, value: serde_json::Value) {
        log.append(AppendRequest::new(vec![Event::from_json(&value).unwrap()]))
            .await
            .unwrap();
    }

    /// A snapshot's folded state (which holds names) is kept in memory; a redaction clears
    /// the derived store, and the keeper's next round then forgets every kept state, with
    /// no query needed.
    #[tokio::test]
    async fn a_redaction_makes_the_kept_states_go() {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path()).unwrap());
        append(
            log.as_ref(),
            serde_json::json!({"type": "place_registered", "id": "p", "occurred_at": "2024-01-01", "place": "x", "name": "X"}),
        )
        .await;
        append(
            log.as_ref(),
            serde_json::json!({"type": "actor_joined", "id": "a", "occurred_at": "2024-01-01", "place": "x", "actor": "jo", "kind": "person", "name": "Jo Bloggs"}),
        )
        .await;
        let projector = Projector::new(log.clone());
        let (place, at) = ("x".parse().unwrap(), "2024-02-01".parse().unwrap());
        let first = projector.snapshot(&place, at).await.unwrap();
        assert_eq!(first.actors[0].name.as_deref(), Some("Jo Bloggs"));
        assert_eq!(projector.memo.len(), 1, "the snapshot's state is kept");
        projector.forget_if_cleared();
        assert_eq!(projector.memo.len(), 1, "nothing was cleared");
        append(
            log.as_ref(),
            serde_json::json!({"type": "actor_redacted", "id": "r", "occurred_at": "2024-03-01", "actor": "jo"}),
        )
        .await;
        projector.forget_if_cleared();
        assert_eq!(
            projector.memo.len(),
            0,
            "a state holding the erased name is still in memory"
        );
        let after = projector.snapshot(&place, at).await.unwrap();
        assert_eq!(after.actors[0].name, None);
        assert!(after.actors[0].redacted);
    }
}
