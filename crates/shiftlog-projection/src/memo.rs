//! The folded states of the snapshots asked for most recently, with their measures, kept
//! in memory so that asking again does not read the log and compute betweenness and
//! communities again.
//!
//! A snapshot's cost was mostly not its JSON: it was reading the events after the place's
//! last checkpoint from the log (up to [`crate::Projector::DEFAULT_CHECKPOINT_EVERY`] of
//! them) and computing every measure (docs/performance.md, "Snapshots answered from
//! memory"). Both are a pure function of *which* events the fold takes, so an entry is
//! keyed by exactly that ([`FoldKey`]) and never needs invalidating: a new event, a late
//! one or a retraction makes a different key.
//!
//! Entries hold names and attributes, as checkpoints do. A redaction clears the derived
//! store and so starts a new generation; the memo forgets every entry of an earlier
//! generation the next time it is used (every query, and the keeper's round after each
//! append, use it), and never takes one in from an earlier generation.
//!
//! A bounded list with a linear scan, not an LRU crate: at most [`Memo::MAX_ENTRIES`]
//! keys, each compared in a few nanoseconds, against a fold that costs milliseconds.

use crate::fold::PlaceState;
use crate::metrics::{compute, ActorMeasures, Metrics};
use shiftlog_model::{ActorId, PlaceId};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What a snapshot is made of: the state, its metrics and every active actor's measures.
#[derive(Debug)]
pub(crate) struct Folded {
    pub(crate) state: PlaceState,
    pub(crate) metrics: Metrics,
    pub(crate) measures: BTreeMap<ActorId, ActorMeasures>,
}

impl Folded {
    /// Computes the measures of `state`.
    pub(crate) fn new(state: PlaceState) -> Self {
        let (metrics, measures) = compute(&state);
        Folded {
            state,
            metrics,
            measures,
        }
    }

    /// About how much memory the entry holds, in units of one actor, relationship,
    /// anomaly or absent voice.
    fn weight(&self) -> usize {
        1 + self.state.actors.len()
            + self.state.relationships.len()
            + self.state.anomalies.len()
            + self.state.absent_voices.len()
    }
}

/// Which events a fold of a place takes, exactly: those of the place's valid-time index
/// up to the entry `last` (its greatest key at or before the date asked for; `None` when
/// the place has none yet) that the view sees ([`Seen`]), in derived-data generation
/// `generation`. Two dates with the same last entry fold the same events. The index's
/// entries up to `last` change only when the place's stream grows (a late event, a
/// retraction) or across a clear, which changes the generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoldKey {
    pub(crate) place: PlaceId,
    pub(crate) generation: u64,
    pub(crate) seen: Seen,
    pub(crate) last: Option<Vec<u8>>,
}

/// What a fold sees of a place's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Everything the index holds, which is the first this many events of the place's
    /// stream: other places' events move the log's head without changing it, so a
    /// snapshot of everything stays kept while other places are written to.
    Indexed(u64),
    /// The events at log positions up to this one (the index holds at least those).
    UpTo(u64),
}

/// The most recently used [`Folded`] states, newest first, bounded in number and weight.
#[derive(Debug, Default)]
pub(crate) struct Memo(Mutex<Entries>);

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    weight: usize,
    recent: VecDeque<(FoldKey, Arc<Folded>)>,
}

impl Entries {
    /// Forgets everything when the derived store has moved to a later generation.
    fn follow(&mut self, generation: u64) {
        if generation > self.generation {
            self.recent.clear();
            self.weight = 0;
            self.generation = generation;
        }
    }
}

impl Memo {
    /// At most this many states are kept.
    pub(crate) const MAX_ENTRIES: usize = 64;
    /// At most this much weight ([`Folded::weight`]) is kept: a few hundred bytes each,
    /// so tens of megabytes at most. A state heavier than this alone is not kept.
    pub(crate) const MAX_WEIGHT: usize = 200_000;

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state folded for `key`, if kept.
    pub(crate) fn get(&self, key: &FoldKey) -> Option<Arc<Folded>> {
        let mut m = self.entries();
        m.follow(key.generation);
        let i = m.recent.iter().position(|(k, _)| k == key)?;
        let entry = m.recent.remove(i)?;
        let folded = entry.1.clone();
        m.recent.push_front(entry);
        Some(folded)
    }

    /// Keeps `folded` for `key`, unless the derived store is no longer in `key`'s
    /// generation (`current`): a state folded before a redaction is never kept after it.
    pub(crate) fn insert(&self, key: FoldKey, folded: Arc<Folded>, current: u64) {
        let weight = folded.weight();
        let mut m = self.entries();
        m.follow(current);
        if key.generation != m.generation || weight > Self::MAX_WEIGHT || m.recent.iter().any(|(k, _)| *k == key) {
            return;
        }
        m.weight += weight;
        m.recent.push_front((key, folded));
        while m.recent.len() > Self::MAX_ENTRIES || m.weight > Self::MAX_WEIGHT {
            let Some((_, old)) = m.recent.pop_back() else { break };
            m.weight -= old.weight();
        }
    }

    /// Forgets every entry of a generation before `current`.
    pub(crate) fn follow(&self, current: u64) {
        self.entries().follow(current);
    }

    /// How many states are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(place: &str, generation: u64, last: u8) -> FoldKey {
        FoldKey {
            place: PlaceId::new(place).unwrap(),
            generation,
            seen: Seen::UpTo(1),
            last: Some(vec![last]),
        }
    }

    fn folded() -> Arc<Folded> {
        Arc::new(Folded::new(PlaceState::default()))
    }

    #[test]
    fn a_later_generation_forgets_everything_and_an_earlier_one_is_not_kept() {
        let memo = Memo::default();
        memo.insert(key("a", 0, 1), folded(), 0);
        assert!(memo.get(&key("a", 0, 1)).is_some());
        // A state folded in generation 0, offered once the store is in generation 1.
        memo.insert(key("b", 0, 1), folded(), 1);
        assert_eq!(memo.len(), 0, "the clear forgot a, and b was not kept");
        memo.follow(1);
        memo.insert(key("a", 1, 1), folded(), 1);
        memo.follow(2);
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn it_keeps_the_most_recently_used() {
        let memo = Memo::default();
        for i in 0..Memo::MAX_ENTRIES as u8 {
            memo.insert(key("a", 0, i), folded(), 0);
        }
        assert!(memo.get(&key("a", 0, 0)).is_some(), "used again: now the newest");
        memo.insert(key("a", 0, 200), folded(), 0);
        assert_eq!(memo.len(), Memo::MAX_ENTRIES);
        assert!(memo.get(&key("a", 0, 0)).is_some());
        assert!(memo.get(&key("a", 0, 1)).is_none(), "the least recently used went");
    }
}
