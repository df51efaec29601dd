//! Folding a place's events, in (occurred_at, position) order, into the state of its
//! system, with the interchange format's fixed rules for events that make no sense at
//! their moment (they do nothing and are reported as anomalies).

use serde::{Deserialize, Serialize};
use shiftlog_model::{ActorId, ActorKind, Event, EventBody, Timestamp};
use shiftlog_store::Position;
use std::collections::{BTreeMap, BTreeSet};

/// An actor's membership of the place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorState {
    /// Whether it is active in the place now.
    pub active: bool,
    /// When its current membership began (valid time).
    pub since: Timestamp,
    /// Its display name, if recorded.
    pub name: Option<String>,
    /// Person, organisation, group or network.
    pub kind: ActorKind,
    /// Its sector, if recorded.
    pub sector: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Free attributes.
    pub attributes: BTreeMap<String, String>,
    /// Holdings per power domain (a domain is present once starting power or a shift named
    /// it, even when the holding has fallen to 0).
    pub power: BTreeMap<String, f64>,
}

/// An active relationship's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationshipState {
    /// In [0, 1].
    pub strength: f64,
    /// In [0, 1], if recorded.
    pub trust: Option<f64>,
    /// In [0, 1], if recorded.
    pub value: Option<f64>,
    /// Whether it runs one way.
    pub directed: bool,
    /// When it formed (valid time).
    pub since: Timestamp,
}

/// A relationship's identity: (from, to, kind).
pub type RelationshipKey = (ActorId, ActorId, String);

/// A relationship key seen as three strings, so that the map of relationships can be
/// searched with borrowed parts instead of three fresh allocations per event. Ordered as
/// the tuple is.
trait RelationshipParts {
    fn parts(&self) -> (&str, &str, &str);
}

impl RelationshipParts for RelationshipKey {
    fn parts(&self) -> (&str, &str, &str) {
        (self.0.as_str(), self.1.as_str(), &self.2)
    }
}

impl RelationshipParts for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn RelationshipParts + 'a> for RelationshipKey {
    fn borrow(&self) -> &(dyn RelationshipParts + 'a) {
        self
    }
}

impl PartialEq for dyn RelationshipParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn RelationshipParts + '_ {}

impl PartialOrd for dyn RelationshipParts + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn RelationshipParts + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// The borrowed form of the key (from, to, kind).
fn rel<'a>(from: &'a ActorId, to: &'a ActorId, kind: &'a str) -> (&'a str, &'a str, &'a str) {
    (from.as_str(), to.as_str(), kind)
}

/// What made an event an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// `actor_joined` for an actor already active: it did nothing.
    AlreadyActive,
    /// An event naming an actor not active at that moment: it did nothing.
    ActorNotActive,
    /// `relationship_formed` on an active relationship: it set its values.
    RelationshipAlreadyActive,
    /// `relationship_changed` or `relationship_ended` on an inactive one: it did nothing.
    RelationshipNotActive,
    /// A power shift larger than the giver held: only what it held moved.
    PowerShortfall,
}

/// An event that the fold's rules treated specially.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The event's id.
    pub event_id: String,
    /// Its position in the log.
    pub position: u64,
    /// Its valid time.
    pub occurred_at: Timestamp,
    /// The rule that applied.
    pub kind: AnomalyKind,
    /// What happened, for people.
    pub message: String,
}

/// The state of one place's system after folding events up to some valid time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaceState {
    /// Every actor that ever joined the place (active or not).
    pub actors: BTreeMap<ActorId, ActorState>,
    /// Active relationships.
    pub relationships: BTreeMap<RelationshipKey, RelationshipState>,
    /// Sessions held so far.
    pub sessions: u64,
    /// Distinct voices recorded as absent so far.
    pub absent_voices: BTreeSet<String>,
    /// Learning records so far.
    pub learning_records: u64,
    /// Outcomes harvested so far.
    pub outcomes: u64,
    /// Anomalies so far, in fold order.
    pub anomalies: Vec<Anomaly>,
}

impl PlaceState {
    fn is_active(&self, a: &ActorId) -> bool {
        self.actors.get(a).is_some_and(|s| s.active)
    }

    fn anomaly(&mut self, e: &Event, position: Position, kind: AnomalyKind, message: String) {
        self.anomalies.push(Anomaly {
            event_id: e.id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
            position: position.0,
            occurred_at: e.occurred_at,
            kind,
            message,
        });
    }

    /// The first actor among `actors` that is not active, if any.
    fn inactive<'a>(&self, actors: impl IntoIterator<Item = &'a ActorId>) -> Option<&'a ActorId> {
        actors.into_iter().find(|a| !self.is_active(a))
    }

    /// The anomaly for a change to a relationship that is not active: one of its actors
    /// is not active, or the relationship is not.
    fn missing_relationship(
        &mut self,
        e: &Event,
        position: Position,
        (from, to, kind): (&ActorId, &ActorId, &str),
        verb: &str,
    ) {
        let (rule, msg) = match self.inactive([from, to]) {
            Some(a) => (
                AnomalyKind::ActorNotActive,
                format!("relationship {from} -> {to} ({kind}) names `{a}`, who is not active"),
            ),
            None => (
                AnomalyKind::RelationshipNotActive,
                format!("relationship {from} -> {to} ({kind}) {verb} but is not active"),
            ),
        };
        self.anomaly(e, position, rule, msg);
    }

    /// Applies one event (already known not to be retracted, and in fold order).
    pub fn apply(&mut self, e: &Event, position: Position) {
        use AnomalyKind::*;
        match &e.body {
            EventBody::ActorJoined {
                actor,
                name,
                kind,
                sector,
                roles,
                power,
                attributes,
            } => {
                if self.is_active(actor) {
                    self.anomaly(
                        e,
                        position,
                        AlreadyActive,
                        format!("`{actor}` joined but was already active"),
                    );
                    return;
                }
                self.actors.insert(
                    actor.clone(),
                    ActorState {
                        active: true,
                        since: e.occurred_at,
                        name: name.clone(),
                        kind: *kind,
                        sector: sector.clone(),
                        roles: roles.clone(),
                        attributes: attributes.clone(),
                        power: power.clone(),
                    },
                );
            }
            EventBody::ActorUpdated {
                actor,
                name,
                kind,
                sector,
                roles,
                attributes,
            } => {
                let Some(s) = self.actors.get_mut(actor).filter(|s| s.active) else {
                    self.anomaly(
                        e,
                        position,
                        ActorNotActive,
                        format!("`{actor}` was updated but is not active"),
                    );
                    return;
                };
                if let Some(x) = name {
                    s.name = Some(x.clone());
                }
                if let Some(x) = kind {
                    s.kind = *x;
                }
                if let Some(x) = sector {
                    s.sector = Some(x.clone());
                }
                if let Some(x) = roles {
                    s.roles = x.clone();
                }
                if let Some(x) = attributes {
                    s.attributes = x.clone();
                }
            }
            EventBody::ActorLeft { actor } => {
                let Some(s) = self.actors.get_mut(actor).filter(|s| s.active) else {
                    self.anomaly(
                        e,
                        position,
                        ActorNotActive,
                        format!("`{actor}` left but was not active"),
                    );
                    return;
                };
                s.active = false;
                self.relationships
                    .retain(|(f, t, _), _| !same_actor(f, actor) && !same_actor(t, actor));
            }
            EventBody::RelationshipFormed {
                from,
                to,
                kind,
                strength,
                directed,
                trust,
                value,
            } => {
                if let Some(a) = self.inactive([from, to]) {
                    let msg = format!("relationship {from} -> {to} ({kind}) names `{a}`, who is not active");
                    self.anomaly(e, position, ActorNotActive, msg);
                    return;
                }
                // One search of the map (most formations are new relationships).
                match self.relationships.entry((from.clone(), to.clone(), kind.clone())) {
                    std::collections::btree_map::Entry::Occupied(mut r) => {
                        set_values(r.get_mut(), *strength, *trust, *value);
                        let msg = format!("relationship {from} -> {to} ({kind}) formed again while active: values set");
                        self.anomaly(e, position, RelationshipAlreadyActive, msg);
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(RelationshipState {
                            strength: strength.unwrap_or(0.5),
                            trust: *trust,
                            value: *value,
                            directed: directed.unwrap_or(true),
                            since: e.occurred_at,
                        });
                    }
                }
            }
            EventBody::RelationshipChanged {
                from,
                to,
                kind,
                strength,
                trust,
                value,
            } => {
                // An active relationship's actors are active (leaving ends them), so the
                // actors are looked up only when the relationship is not found.
                if let Some(r) = self
                    .relationships
                    .get_mut(&rel(from, to, kind) as &dyn RelationshipParts)
                {
                    set_values(r, *strength, *trust, *value);
                    return;
                }
                self.missing_relationship(e, position, (from, to, kind), "changed");
            }
            EventBody::RelationshipEnded { from, to, kind } => {
                if self
                    .relationships
                    .remove(&rel(from, to, kind) as &dyn RelationshipParts)
                    .is_some()
                {
                    return;
                }
                self.missing_relationship(e, position, (from, to, kind), "ended");
            }
            EventBody::PowerShifted {
                domain,
                amount,
                from,
                to,
                ..
            } => {
                if let Some(a) = self.inactive(from.iter().chain(to.iter())) {
                    let msg = format!("power shift in `{domain}` names `{a}`, who is not active");
                    self.anomaly(e, position, ActorNotActive, msg);
                    return;
                }
                let mut moved = *amount;
                if let Some(f) = from {
                    let held = self
                        .actors
                        .get(f)
                        .and_then(|s| s.power.get(domain))
                        .copied()
                        .unwrap_or(0.0);
                    if held < moved {
                        let msg = format!("`{f}` gave {amount} of `{domain}` but held {held}: {held} moved");
                        self.anomaly(e, position, PowerShortfall, msg);
                        moved = held;
                    }
                    let s = self.actors.get_mut(f).expect("active");
                    *s.power.entry(domain.clone()).or_insert(0.0) = held - moved;
                }
                if let Some(t) = to {
                    let s = self.actors.get_mut(t).expect("active");
                    *s.power.entry(domain.clone()).or_insert(0.0) += moved;
                }
            }
            EventBody::SessionHeld { absent_voices, .. } => {
                self.sessions += 1;
                self.absent_voices.extend(absent_voices.iter().cloned());
            }
            EventBody::LearningRecorded { .. } => self.learning_records += 1,
            EventBody::OutcomeHarvested { .. } => self.outcomes += 1,
            EventBody::PlaceRegistered { .. } | EventBody::EventRetracted { .. } | EventBody::ActorRedacted { .. } => {}
        }
    }
}

/// `a == b`, compared from the end: the ids of a place's actors tend to share a long
/// prefix and differ in their last characters, and this runs once per relationship for
/// every actor who leaves.
fn same_actor(a: &ActorId, b: &ActorId) -> bool {
    let (a, b) = (a.as_str().as_bytes(), b.as_str().as_bytes());
    a.len() == b.len() && a.iter().rev().zip(b.iter().rev()).all(|(x, y)| x == y)
}

fn set_values(r: &mut RelationshipState, strength: Option<f64>, trust: Option<f64>, value: Option<f64>) {
    if let Some(s) = strength {
        r.strength = s;
    }
    if trust.is_some() {
        r.trust = trust;
    }
    if value.is_some() {
        r.value = value;
    }
}
