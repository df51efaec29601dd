//! Inquiry events: the typed form of the interchange format.

use crate::id::{ActorId, EventId, PlaceId, SessionId};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

/// Fields an event carries that the spec does not define: kept and returned, never dropped.
pub type ExtraFields = serde_json::Map<String, serde_json::Value>;

/// One thing that happened in a place's system, as a learning partner recorded it.
///
/// Parse one from JSON with [`Event::from_json`] or `serde_json::from_str`; write one
/// back with `serde_json::to_string` (the interchange format).
///
/// ```
/// use shiftlog_model::{Event, EventBody};
/// let e: Event = serde_json::from_str(
///     r#"{"type":"actor_left","id":"l1","occurred_at":"2023-03-01","place":"northbrook","actor":"tenants","mood":"sad"}"#,
/// ).unwrap();
/// assert!(matches!(e.body, EventBody::ActorLeft { .. }));
/// assert_eq!(e.extra["mood"], "sad"); // unknown fields are kept
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The idempotency key; `None` until the engine assigns one.
    pub id: Option<EventId>,
    /// When it happened in the world (valid time).
    pub occurred_at: Timestamp,
    /// The place whose system it belongs to; `None` only for retractions and redactions.
    pub place: Option<PlaceId>,
    /// Who recorded it.
    pub recorded_by: Option<String>,
    /// Where it came from: a session id, an interview, a document.
    pub source: Option<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// What happened.
    pub body: EventBody,
    /// Fields the spec does not define.
    pub extra: ExtraFields,
}

/// The kind of an actor (a closed list in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ActorKind {
    Person,
    Organisation,
    Group,
    Network,
}

/// Whether power is visible, hidden or invisible (the power cube's forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum PowerForm {
    Visible,
    Hidden,
    Invisible,
}

/// The space in which power moved (the power cube's spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum PowerSpace {
    Closed,
    Invited,
    Claimed,
}

/// How power is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum PowerExpression {
    PowerOver,
    PowerWith,
    PowerTo,
    PowerWithin,
}

/// The Place Action Inquiry's five learning areas (a conventional tag vocabulary: found in
/// a learning record's `themes` or `tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum LearningArea {
    GoalsParadigmsPerspectives,
    StructuresActorsNetworks,
    PowerParticipationRelationships,
    LearningJourney,
    RolesFunctions,
}

/// The six conditions of systems change (an outcome's `condition`, or a tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Condition {
    Policies,
    Practices,
    ResourceFlows,
    RelationshipsConnections,
    PowerDynamics,
    MentalModels,
}

/// The rungs of Arnstein's ladder of participation (a tag vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum ParticipationRung {
    Manipulation,
    Therapy,
    Informing,
    Consultation,
    Placation,
    Partnership,
    DelegatedPower,
    CitizenControl,
}

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in the spec's order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The name used in the interchange format.
            pub fn as_str(&self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            /// Parses the interchange name.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown value `{s}`")))
            }
        }
    };
}

names!(ActorKind { Person => "person", Organisation => "organisation", Group => "group", Network => "network" });
names!(PowerForm { Visible => "visible", Hidden => "hidden", Invisible => "invisible" });
names!(PowerSpace { Closed => "closed", Invited => "invited", Claimed => "claimed" });
names!(PowerExpression { PowerOver => "power_over", PowerWith => "power_with", PowerTo => "power_to", PowerWithin => "power_within" });

/// The type of an event, without its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum EventType {
    PlaceRegistered,
    ActorJoined,
    ActorUpdated,
    ActorLeft,
    RelationshipFormed,
    RelationshipChanged,
    RelationshipEnded,
    PowerShifted,
    SessionHeld,
    LearningRecorded,
    OutcomeHarvested,
    EventRetracted,
    ActorRedacted,
}

names!(LearningArea {
    GoalsParadigmsPerspectives => "goals_paradigms_perspectives",
    StructuresActorsNetworks => "structures_actors_networks",
    PowerParticipationRelationships => "power_participation_relationships",
    LearningJourney => "learning_journey",
    RolesFunctions => "roles_functions",
});

names!(Condition {
    Policies => "policies",
    Practices => "practices",
    ResourceFlows => "resource_flows",
    RelationshipsConnections => "relationships_connections",
    PowerDynamics => "power_dynamics",
    MentalModels => "mental_models",
});

names!(ParticipationRung {
    Manipulation => "manipulation",
    Therapy => "therapy",
    Informing => "informing",
    Consultation => "consultation",
    Placation => "placation",
    Partnership => "partnership",
    DelegatedPower => "delegated_power",
    CitizenControl => "citizen_control",
});

names!(EventType {
    PlaceRegistered => "place_registered",
    ActorJoined => "actor_joined",
    ActorUpdated => "actor_updated",
    ActorLeft => "actor_left",
    RelationshipFormed => "relationship_formed",
    RelationshipChanged => "relationship_changed",
    RelationshipEnded => "relationship_ended",
    PowerShifted => "power_shifted",
    SessionHeld => "session_held",
    LearningRecorded => "learning_recorded",
    OutcomeHarvested => "outcome_harvested",
    EventRetracted => "event_retracted",
    ActorRedacted => "actor_redacted",
});

impl EventType {
    /// Whether events of this type must name a place.
    pub fn requires_place(&self) -> bool {
        !matches!(self, EventType::EventRetracted | EventType::ActorRedacted)
    }
}

/// What happened: one variant per event type of the interchange format.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // each field is the interchange field of the same name
pub enum EventBody {
    /// A place's system comes under inquiry.
    PlaceRegistered {
        name: String,
        region: Option<String>,
        parent: Option<PlaceId>,
    },
    /// An actor becomes active in the place.
    ActorJoined {
        actor: ActorId,
        name: Option<String>,
        kind: ActorKind,
        sector: Option<String>,
        roles: Vec<String>,
        /// Starting power per domain (non-negative).
        power: BTreeMap<String, f64>,
        attributes: BTreeMap<String, String>,
    },
    /// Some of an actor's descriptive fields change; absent fields stay as they were.
    ActorUpdated {
        actor: ActorId,
        name: Option<String>,
        kind: Option<ActorKind>,
        sector: Option<String>,
        roles: Option<Vec<String>>,
        attributes: Option<BTreeMap<String, String>>,
    },
    /// An actor stops being active in the place; its active relationships there end.
    ActorLeft { actor: ActorId },
    /// A relationship (from, to, kind) begins.
    RelationshipFormed {
        from: ActorId,
        to: ActorId,
        kind: String,
        /// In [0, 1]; 0.5 when absent.
        strength: Option<f64>,
        /// True when absent.
        directed: Option<bool>,
        trust: Option<f64>,
        value: Option<f64>,
    },
    /// A relationship's strength, trust or value changes.
    RelationshipChanged {
        from: ActorId,
        to: ActorId,
        kind: String,
        strength: Option<f64>,
        trust: Option<f64>,
        value: Option<f64>,
    },
    /// A relationship ends.
    RelationshipEnded { from: ActorId, to: ActorId, kind: String },
    /// Power in a domain moves from one actor to another, or into or out of the system.
    PowerShifted {
        domain: String,
        /// Greater than 0.
        amount: f64,
        from: Option<ActorId>,
        to: Option<ActorId>,
        form: Option<PowerForm>,
        space: Option<PowerSpace>,
        expression: Option<PowerExpression>,
        evidence: Option<String>,
    },
    /// A sensemaking session took place.
    SessionHeld {
        session: SessionId,
        title: Option<String>,
        theme: Option<String>,
        participants: Vec<ActorId>,
        /// Who was still not in the room.
        absent_voices: Vec<String>,
    },
    /// Something was learned.
    LearningRecorded {
        text: String,
        themes: Vec<String>,
        actors: Vec<ActorId>,
        session: Option<SessionId>,
    },
    /// A change in a social actor's behaviour, relationships, policies or practice.
    OutcomeHarvested {
        description: String,
        actors: Vec<ActorId>,
        significance: Option<String>,
        contribution: Option<String>,
        sources: Vec<String>,
        condition: Option<String>,
    },
    /// An earlier event stops counting in every projection; the log keeps both.
    EventRetracted { target: EventId, reason: String },
    /// An actor's personal data is to be erased; the actor stays as an anonymous node.
    ActorRedacted { actor: ActorId, reason: Option<String> },
}

impl EventBody {
    /// This body's event type.
    pub fn event_type(&self) -> EventType {
        match self {
            EventBody::PlaceRegistered { .. } => EventType::PlaceRegistered,
            EventBody::ActorJoined { .. } => EventType::ActorJoined,
            EventBody::ActorUpdated { .. } => EventType::ActorUpdated,
            EventBody::ActorLeft { .. } => EventType::ActorLeft,
            EventBody::RelationshipFormed { .. } => EventType::RelationshipFormed,
            EventBody::RelationshipChanged { .. } => EventType::RelationshipChanged,
            EventBody::RelationshipEnded { .. } => EventType::RelationshipEnded,
            EventBody::PowerShifted { .. } => EventType::PowerShifted,
            EventBody::SessionHeld { .. } => EventType::SessionHeld,
            EventBody::LearningRecorded { .. } => EventType::LearningRecorded,
            EventBody::OutcomeHarvested { .. } => EventType::OutcomeHarvested,
            EventBody::EventRetracted { .. } => EventType::EventRetracted,
            EventBody::ActorRedacted { .. } => EventType::ActorRedacted,
        }
    }

    /// The kind of the relationship this event forms, changes or ends; `None` for every
    /// other event.
    pub fn relationship_kind(&self) -> Option<&str> {
        match self {
            EventBody::RelationshipFormed { kind, .. }
            | EventBody::RelationshipChanged { kind, .. }
            | EventBody::RelationshipEnded { kind, .. } => Some(kind),
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorJoined { .. }
            | EventBody::ActorUpdated { .. }
            | EventBody::ActorLeft { .. }
            | EventBody::PowerShifted { .. }
            | EventBody::SessionHeld { .. }
            | EventBody::LearningRecorded { .. }
            | EventBody::OutcomeHarvested { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => None,
        }
    }

    /// The actors this event names, each with the field that names it, in field order.
    ///
    /// Redactions are left out: they name an actor to erase, not one taking part.
    pub fn named_actors(&self) -> Vec<(String, &ActorId)> {
        fn list<'a>(field: &str, xs: &'a [ActorId]) -> Vec<(String, &'a ActorId)> {
            xs.iter()
                .enumerate()
                .map(|(i, a)| (format!("{field}[{i}]"), a))
                .collect()
        }
        match self {
            EventBody::ActorUpdated { actor, .. } | EventBody::ActorLeft { actor } => {
                vec![("actor".into(), actor)]
            }
            EventBody::RelationshipFormed { from, to, .. }
            | EventBody::RelationshipChanged { from, to, .. }
            | EventBody::RelationshipEnded { from, to, .. } => {
                vec![("from".into(), from), ("to".into(), to)]
            }
            EventBody::PowerShifted { from, to, .. } => {
                let mut v = Vec::new();
                if let Some(a) = from {
                    v.push(("from".into(), a));
                }
                if let Some(a) = to {
                    v.push(("to".into(), a));
                }
                v
            }
            EventBody::SessionHeld { participants, .. } => list("participants", participants),
            EventBody::LearningRecorded { actors, .. } | EventBody::OutcomeHarvested { actors, .. } => {
                list("actors", actors)
            }
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorJoined { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => Vec::new(),
        }
    }
}

impl Event {
    /// This event's type.
    pub fn event_type(&self) -> EventType {
        self.body.event_type()
    }
}
