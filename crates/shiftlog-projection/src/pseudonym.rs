//! Stable pseudonyms for people: what a funder sees instead of a resident's name.
//!
//! Funders need organisations' names, not people's. Every `kind: person` actor of a place
//! is numbered in the order its first join was recorded (log position), so the numbers
//! never change as the log grows: a later event cannot come before an earlier one in the
//! log, whatever its valid time. The label is the person's sector at that join and the
//! number, e.g. `community member 7` (`person 7` without a sector); sector, roles, power,
//! relationships and id stay as they are, attributes go.

use crate::query::PlaceHistory;
use crate::snapshot::Snapshot;
use shiftlog_model::{ActorId, ActorKind, EventBody};
use std::collections::BTreeMap;

/// The pseudonyms of a place's people (see the module's text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pseudonyms(BTreeMap<ActorId, String>);

impl Pseudonyms {
    /// Numbers the people of `history` by their first recorded join. Give it the place's
    /// whole history (everything recorded), so that views of the past use the same
    /// numbers as the present.
    pub fn of_people(history: &PlaceHistory) -> Pseudonyms {
        let mut joins: Vec<(u64, &ActorId, Option<&str>)> = Vec::new();
        for (p, e) in history.events() {
            if let EventBody::ActorJoined {
                actor,
                kind: ActorKind::Person,
                sector,
                ..
            } = &e.body
            {
                joins.push((p.0, actor, sector.as_deref()));
            }
        }
        joins.sort_by_key(|(p, _, _)| *p);
        let mut out = BTreeMap::new();
        for (_, actor, sector) in joins {
            if out.contains_key(actor) {
                continue;
            }
            let n = out.len() + 1;
            let label = match sector {
                Some(s) if !s.trim().is_empty() => format!("{} member {n}", s.trim()),
                _ => format!("person {n}"),
            };
            out.insert(actor.clone(), label);
        }
        Pseudonyms(out)
    }

    /// The pseudonym of `actor`, if it is a person of the place.
    pub fn get(&self, actor: &str) -> Option<&str> {
        ActorId::new(actor)
            .ok()
            .and_then(|a| self.0.get(&a))
            .map(String::as_str)
    }

    /// Replaces every person's name in `snapshot` with its pseudonym and drops their
    /// attributes. A person the numbering does not know (it came from another view of
    /// the log) is shown as `person` alone, never by name.
    pub fn apply_to_snapshot(&self, snapshot: &mut Snapshot) {
        for a in &mut snapshot.actors {
            if a.kind == ActorKind::Person.as_str() {
                a.name = Some(self.get(&a.id).unwrap_or("person").to_string());
                a.attributes.clear();
            }
        }
    }

    /// Replaces every person's name in `history`'s events with its pseudonym and drops
    /// their attributes (for the dynamic exports, drawn from a whole history).
    pub fn apply_to_history(&self, history: &mut PlaceHistory) {
        history.rewrite_events(|e| match &mut e.body {
            EventBody::ActorJoined {
                actor,
                name,
                attributes,
                ..
            } => {
                if let Some(label) = self.0.get(actor) {
                    *name = Some(label.clone());
                    attributes.clear();
                }
            }
            EventBody::ActorUpdated {
                actor,
                name,
                attributes,
                ..
            } => {
                if let Some(label) = self.0.get(actor) {
                    if name.is_some() {
                        *name = Some(label.clone());
                    }
                    *attributes = None;
                }
            }
            // No other event names a person by name; free text is withheld from funders
            // by the server already.
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorLeft { .. }
            | EventBody::RelationshipFormed { .. }
            | EventBody::RelationshipChanged { .. }
            | EventBody::RelationshipEnded { .. }
            | EventBody::PowerShifted { .. }
            | EventBody::SessionHeld { .. }
            | EventBody::LearningRecorded { .. }
            | EventBody::OutcomeHarvested { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => {}
        });
    }
}
