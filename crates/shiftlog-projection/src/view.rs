//! What a query looks at: the log as known at a point ([`KnownAt`]) and the relationships
//! of which kinds ([`Kinds`]).

use crate::query::{KnownAt, PlaceHistory};
use shiftlog_model::Event;
use std::collections::BTreeSet;

/// The relationship kinds a view counts: every kind (the default), or only some. A view
/// of some kinds is the network of a log from which the other kinds' relationship events
/// were removed; actors, power, sessions and learning are the same as in the whole view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kinds(Option<BTreeSet<String>>);

impl Kinds {
    /// Every kind.
    pub fn all() -> Kinds {
        Kinds(None)
    }

    /// Only these kinds; no kinds at all means every kind.
    pub fn only<S: Into<String>>(kinds: impl IntoIterator<Item = S>) -> Kinds {
        let set: BTreeSet<String> = kinds.into_iter().map(Into::into).collect();
        Kinds((!set.is_empty()).then_some(set))
    }

    /// The kinds kept, `None` for every kind.
    pub fn as_set(&self) -> Option<&BTreeSet<String>> {
        self.0.as_ref()
    }

    /// Whether this view counts every kind.
    pub fn is_all(&self) -> bool {
        self.0.is_none()
    }

    /// Whether relationships of `kind` are counted.
    pub fn keeps(&self, kind: &str) -> bool {
        self.0.as_ref().is_none_or(|set| set.contains(kind))
    }

    /// Whether the view sees `event`: every event but the relationship events of other
    /// kinds.
    pub fn keeps_event(&self, event: &Event) -> bool {
        event.body.relationship_kind().is_none_or(|k| self.keeps(k))
    }

    /// Leaves out of a history the other kinds' relationship events, so that everything
    /// folded from it (anomalies included) is what a log without them gives. (Filtering
    /// a folded state instead would keep the other kinds' anomalies, and checkpoints hold
    /// folded states: views of some kinds are folded from the history.)
    pub fn apply_to_history(&self, history: &mut PlaceHistory) {
        if !self.is_all() {
            history.retain_events(|e| self.keeps_event(e));
        }
    }
}

/// What a query looks at: the log as known at a point, and the relationships of which
/// kinds. A [`KnownAt`] alone is a view of every kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// How much of the log.
    pub known: KnownAt,
    /// Which relationships.
    pub kinds: Kinds,
}

impl View {
    /// A view of the log as known at `known`, relationships of `kinds` only.
    pub fn new(known: KnownAt, kinds: Kinds) -> View {
        View { known, kinds }
    }
}

impl From<KnownAt> for View {
    fn from(known: KnownAt) -> View {
        View {
            known,
            kinds: Kinds::all(),
        }
    }
}
