//! A snapshot: one place's network at one date, ready to serialize.

use crate::fold::PlaceState;
use crate::memo::Folded;
use crate::metrics::{compute, ActorMeasures, Metrics};
use serde::Serialize;
use shiftlog_model::{ActorId, PlaceId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// An active actor in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorView {
    /// Its id.
    pub id: String,
    /// Its name (`None` once redacted).
    pub name: Option<String>,
    /// Person, organisation, group or network.
    pub kind: String,
    /// Its sector.
    pub sector: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Free attributes (empty once redacted).
    pub attributes: BTreeMap<String, String>,
    /// Holdings per power domain.
    pub power: BTreeMap<String, f64>,
    /// When its current membership began.
    pub since: Timestamp,
    /// Whether its personal data was redacted.
    pub redacted: bool,
    /// Distinct neighbours.
    pub degree: usize,
    /// Degree centrality.
    pub degree_centrality: f64,
    /// Betweenness centrality.
    pub betweenness: f64,
    /// Whether it is an articulation point (a broker).
    pub broker: bool,
    /// Harmonic closeness in the undirected network, over n - 1 (measures version 2).
    pub closeness: f64,
    /// Its core number in the undirected network.
    pub core_number: usize,
    /// Mean trust of the relationships to it (`null` when none is rated).
    pub trust_in: Option<f64>,
    /// Mean trust of the relationships from it.
    pub trust_out: Option<f64>,
    /// Mean value of the relationships to it.
    pub value_in: Option<f64>,
    /// Mean value of the relationships from it.
    pub value_out: Option<f64>,
    /// Its community in the engine's partition (`null` for an isolate).
    pub community: Option<usize>,
}

/// An active relationship in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationshipView {
    /// From this actor.
    pub from: String,
    /// To this actor.
    pub to: String,
    /// Its kind.
    pub kind: String,
    /// In [0, 1].
    pub strength: f64,
    /// In [0, 1], if recorded.
    pub trust: Option<f64>,
    /// In [0, 1], if recorded.
    pub value: Option<f64>,
    /// Whether it runs one way.
    pub directed: bool,
    /// When it formed.
    pub since: Timestamp,
}

/// A place's network at a valid time, as known at a log position. Its JSON form is the
/// contract of `shiftlog snapshot`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The place.
    pub place: String,
    /// The valid time.
    pub at: Timestamp,
    /// The last log position the view includes.
    pub known_at_position: u64,
    /// Active actors, by id.
    pub actors: Vec<ActorView>,
    /// Active relationships, by (from, to, kind).
    pub relationships: Vec<RelationshipView>,
    /// The metrics.
    pub metrics: Metrics,
}

impl Snapshot {
    pub(crate) fn new(
        place: &PlaceId,
        at: Timestamp,
        known_at_position: u64,
        state: &PlaceState,
        redacted: &BTreeSet<ActorId>,
    ) -> Self {
        let (metrics, measures) = compute(state);
        Self::of_parts(place, at, known_at_position, state, metrics, &measures, redacted)
    }

    /// The snapshot of a folded state whose measures are already computed.
    pub(crate) fn of_folded(
        place: &PlaceId,
        at: Timestamp,
        known_at_position: u64,
        folded: &Folded,
        redacted: &BTreeSet<ActorId>,
    ) -> Self {
        Self::of_parts(
            place,
            at,
            known_at_position,
            &folded.state,
            folded.metrics.clone(),
            &folded.measures,
            redacted,
        )
    }

    fn of_parts(
        place: &PlaceId,
        at: Timestamp,
        known_at_position: u64,
        state: &PlaceState,
        metrics: Metrics,
        measures: &BTreeMap<ActorId, ActorMeasures>,
        redacted: &BTreeSet<ActorId>,
    ) -> Self {
        let actors = state
            .actors
            .iter()
            .filter(|(_, s)| s.active)
            .map(|(id, s)| {
                let m = &measures[id];
                let hidden = redacted.contains(id);
                ActorView {
                    id: id.to_string(),
                    name: if hidden { None } else { s.name.clone() },
                    kind: s.kind.as_str().to_string(),
                    sector: s.sector.clone(),
                    roles: s.roles.clone(),
                    attributes: if hidden { BTreeMap::new() } else { s.attributes.clone() },
                    power: s.power.clone(),
                    since: s.since,
                    redacted: hidden,
                    degree: m.degree,
                    degree_centrality: m.degree_centrality,
                    betweenness: m.betweenness,
                    broker: m.broker,
                    closeness: m.closeness,
                    core_number: m.core_number,
                    trust_in: m.trust_in,
                    trust_out: m.trust_out,
                    value_in: m.value_in,
                    value_out: m.value_out,
                    community: m.community,
                }
            })
            .collect();
        let relationships = state
            .relationships
            .iter()
            .map(|((from, to, kind), r)| RelationshipView {
                from: from.to_string(),
                to: to.to_string(),
                kind: kind.clone(),
                strength: r.strength,
                trust: r.trust,
                value: r.value,
                directed: r.directed,
                since: r.since,
            })
            .collect();
        Snapshot {
            place: place.to_string(),
            at,
            known_at_position,
            actors,
            relationships,
            metrics,
        }
    }

    /// The mean `trust` over the active relationships that have one; `None` when none has
    /// (`metrics.trust_mean`).
    pub fn trust_mean(&self) -> Option<f64> {
        self.metrics.trust_mean
    }
}
