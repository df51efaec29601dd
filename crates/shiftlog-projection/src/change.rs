//! What changed between two states of a place (`docs/measures.md`, "Change between two
//! steps"): the keys each evolution step adds to its metrics, and the diff's counts.

use crate::fold::{PlaceState, RelationshipKey};
use serde::Serialize;
use shiftlog_model::ActorId;
use std::collections::{BTreeMap, BTreeSet};

/// Counts of what changed from one network to the next. Relationships are compared as
/// (from, to, kind) triples, actors by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Change {
    /// Actors active now and not before.
    pub joined: usize,
    /// Actors active before and not now.
    pub left: usize,
    /// Relationships active now and not before.
    pub formed: usize,
    /// Relationships active before and not now.
    pub ended: usize,
    /// Relationships active at both whose strength rose.
    pub strengthened: usize,
    /// Relationships active at both whose strength fell.
    pub weakened: usize,
    /// Jaccard index of the two relationship sets: shared over in either; 1 when both are
    /// empty.
    pub tie_stability: f64,
}

/// The network a step is compared with: who was active and each active relationship's
/// strength. Kept up to date in place, so an evolution copies only what changed.
#[derive(Debug, Default)]
pub(crate) struct Before {
    actors: BTreeSet<ActorId>,
    relationships: BTreeMap<RelationshipKey, f64>,
}

impl Before {
    pub(crate) fn of(state: &PlaceState) -> Before {
        let mut before = Before::default();
        before.advance(state);
        before
    }

    /// What changed from this network to `state`'s; this becomes `state`'s.
    pub(crate) fn advance(&mut self, state: &PlaceState) -> Change {
        let mut c = Change::default();
        let now = state.actors.iter().filter(|(_, s)| s.active).map(|(a, _)| a);
        let (mut gone, mut new) = (Vec::new(), Vec::new());
        merge(
            self.actors.iter(),
            now,
            |a, b| a.cmp(b),
            |step| match step {
                Side::Before(a) => gone.push(a.clone()),
                Side::Now(a) => new.push(a.clone()),
                Side::Both(..) => {}
            },
        );
        (c.joined, c.left) = (new.len(), gone.len());
        for a in gone {
            self.actors.remove(&a);
        }
        self.actors.extend(new);

        let (mut ended, mut formed, mut moved, mut shared) = (Vec::new(), Vec::new(), Vec::new(), 0);
        merge(
            self.relationships.iter(),
            state.relationships.iter(),
            |a, b| a.0.cmp(b.0),
            |step| match step {
                Side::Before((k, _)) => ended.push(k.clone()),
                Side::Now((k, r)) => formed.push((k.clone(), r.strength)),
                Side::Both((k, &x), (_, r)) => {
                    shared += 1;
                    if r.strength != x {
                        moved.push((k.clone(), r.strength));
                        if r.strength > x {
                            c.strengthened += 1;
                        } else {
                            c.weakened += 1;
                        }
                    }
                }
            },
        );
        (c.formed, c.ended) = (formed.len(), ended.len());
        let either = self.relationships.len() + formed.len();
        c.tie_stability = if either == 0 {
            1.0
        } else {
            shared as f64 / either as f64
        };
        for k in ended {
            self.relationships.remove(&k);
        }
        self.relationships.extend(formed);
        self.relationships.extend(moved);
        c
    }
}

/// What changed from `a` to `b`.
pub fn change(a: &PlaceState, b: &PlaceState) -> Change {
    Before::of(a).advance(b)
}

enum Side<B, N> {
    Before(B),
    Now(N),
    Both(B, N),
}

/// Walks two sorted sequences together.
fn merge<B, N>(
    before: impl Iterator<Item = B>,
    now: impl Iterator<Item = N>,
    cmp: impl Fn(&B, &N) -> std::cmp::Ordering,
    mut each: impl FnMut(Side<B, N>),
) {
    let (mut b, mut n) = (before.peekable(), now.peekable());
    loop {
        let order = match (b.peek(), n.peek()) {
            (Some(x), Some(y)) => cmp(x, y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return,
        };
        match order {
            std::cmp::Ordering::Less => each(Side::Before(b.next().expect("peeked"))),
            std::cmp::Ordering::Greater => each(Side::Now(n.next().expect("peeked"))),
            std::cmp::Ordering::Equal => each(Side::Both(b.next().expect("peeked"), n.next().expect("peeked"))),
        }
    }
}
