//! Personal data: which fields of an event are about which actors, so that redaction can
//! erase them.
//!
//! The rule (see `docs/erasure.md`): an actor's name and attributes (`actor_joined`,
//! `actor_updated`) are its personal data; the free text of an event that lists actors
//! (a session's title and theme, a learning record's text, an outcome's description,
//! significance and contribution, a power shift's evidence) is personal data of every
//! actor it lists, so erasing any one of them erases the text. Ids, kinds, sectors, roles,
//! power, relationships and times are the network's shape and stay.

use crate::event::{Event, EventBody};
use crate::id::ActorId;
use std::collections::BTreeMap;

/// What stands in for erased free text in a field the format requires
/// (`learning_recorded.text`, `outcome_harvested.description`).
pub const ERASED_TEXT: &str = "[redacted]";

/// The personal data taken out of one event: its free-text fields in the event type's
/// order, and its attributes. Only [`Event::take_personal_data`] makes one, and only
/// [`Event::restore_personal_data`] of an event of the same type puts it back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonalData {
    /// The free-text fields, in the event type's fixed order.
    pub texts: Vec<Option<String>>,
    /// Attributes (`actor_joined`, `actor_updated`).
    pub attributes: Option<BTreeMap<String, String>>,
}

/// A [`PersonalData`] does not fit the event it is put back into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("personal data of {fields} fields does not fit a {event_type} event")]
pub struct PersonalDataMismatch {
    /// The event's type.
    pub event_type: &'static str,
    /// How many text fields the data had.
    pub fields: usize,
}

impl Event {
    /// The actors whose personal data this event carries, without repeats, in field order;
    /// empty when it carries none. Erasing any one of them erases all of
    /// [`take_personal_data`](Event::take_personal_data).
    ///
    /// ```
    /// use shiftlog_model::Event;
    /// let e: Event = serde_json::from_str(r#"{"type":"learning_recorded","id":"l1","occurred_at":"2024-01-01",
    ///   "place":"p","text":"Jo said the forum felt closed","actors":["jo","forum","jo"]}"#).unwrap();
    /// let subjects: Vec<&str> = e.data_subjects().iter().map(|a| a.as_str()).collect();
    /// assert_eq!(subjects, ["jo", "forum"]);
    /// ```
    pub fn data_subjects(&self) -> Vec<&ActorId> {
        let mut out: Vec<&ActorId> = Vec::new();
        let listed: Vec<&ActorId> = match &self.body {
            EventBody::ActorJoined { actor, .. } | EventBody::ActorUpdated { actor, .. } => vec![actor],
            EventBody::PowerShifted { from, to, .. } => from.iter().chain(to.iter()).collect(),
            EventBody::SessionHeld { participants, .. } => participants.iter().collect(),
            EventBody::LearningRecorded { actors, .. } | EventBody::OutcomeHarvested { actors, .. } => {
                actors.iter().collect()
            }
            // No personal data about listed actors (a place's name, a retraction's or a
            // redaction's reason: the docs say to write none there). Listed one by one so
            // that a new event type must say what of it is personal.
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorLeft { .. }
            | EventBody::RelationshipFormed { .. }
            | EventBody::RelationshipChanged { .. }
            | EventBody::RelationshipEnded { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => Vec::new(),
        };
        for a in listed {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// Takes the personal data out of the event, leaving it as it reads once erased:
    /// optional fields absent, attributes empty, required text [`ERASED_TEXT`]. `None`
    /// (and the event unchanged) when the event names no actor or carries nothing to take.
    ///
    /// ```
    /// use shiftlog_model::{Event, EventBody};
    /// let mut e: Event = serde_json::from_str(r#"{"type":"actor_joined","id":"a1","occurred_at":"2024-01-01",
    ///   "place":"p","actor":"jo","kind":"person","name":"Jo Bloggs","attributes":{"ward":"East"}}"#).unwrap();
    /// let original = e.clone();
    /// let data = e.take_personal_data().unwrap();
    /// assert!(matches!(&e.body, EventBody::ActorJoined { name: None, attributes, .. } if attributes.is_empty()));
    /// e.restore_personal_data(data).unwrap();
    /// assert_eq!(e, original);
    /// ```
    pub fn take_personal_data(&mut self) -> Option<PersonalData> {
        if self.data_subjects().is_empty() {
            return None;
        }
        let data = match &mut self.body {
            EventBody::ActorJoined { name, attributes, .. } => PersonalData {
                texts: vec![name.take()],
                attributes: Some(std::mem::take(attributes)),
            },
            EventBody::ActorUpdated { name, attributes, .. } => PersonalData {
                texts: vec![name.take()],
                attributes: attributes.take(),
            },
            EventBody::PowerShifted { evidence, .. } => PersonalData {
                texts: vec![evidence.take()],
                attributes: None,
            },
            EventBody::SessionHeld { title, theme, .. } => PersonalData {
                texts: vec![title.take(), theme.take()],
                attributes: None,
            },
            EventBody::LearningRecorded { text, .. } => PersonalData {
                texts: vec![Some(std::mem::replace(text, ERASED_TEXT.to_string()))],
                attributes: None,
            },
            EventBody::OutcomeHarvested {
                description,
                significance,
                contribution,
                ..
            } => PersonalData {
                texts: vec![
                    Some(std::mem::replace(description, ERASED_TEXT.to_string())),
                    significance.take(),
                    contribution.take(),
                ],
                attributes: None,
            },
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorLeft { .. }
            | EventBody::RelationshipFormed { .. }
            | EventBody::RelationshipChanged { .. }
            | EventBody::RelationshipEnded { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => return None,
        };
        let empty = data.texts.iter().all(Option::is_none) && data.attributes.as_ref().is_none_or(BTreeMap::is_empty);
        if empty {
            // Nothing personal was there: put the (empty) fields back as they were.
            self.restore_personal_data(data).expect("same event");
            return None;
        }
        Some(data)
    }

    /// Puts back what [`take_personal_data`](Event::take_personal_data) took out.
    pub fn restore_personal_data(&mut self, data: PersonalData) -> Result<(), PersonalDataMismatch> {
        let mismatch = PersonalDataMismatch {
            event_type: self.event_type().as_str(),
            fields: data.texts.len(),
        };
        let mut texts = data.texts.into_iter();
        let mut next = || texts.next().ok_or(mismatch.clone());
        match &mut self.body {
            EventBody::ActorJoined { name, attributes, .. } => {
                *name = next()?;
                *attributes = data.attributes.unwrap_or_default();
            }
            EventBody::ActorUpdated { name, attributes, .. } => {
                *name = next()?;
                *attributes = data.attributes;
            }
            EventBody::PowerShifted { evidence, .. } => *evidence = next()?,
            EventBody::SessionHeld { title, theme, .. } => {
                *title = next()?;
                *theme = next()?;
            }
            EventBody::LearningRecorded { text, .. } => *text = next()?.ok_or(mismatch.clone())?,
            EventBody::OutcomeHarvested {
                description,
                significance,
                contribution,
                ..
            } => {
                *description = next()?.ok_or(mismatch.clone())?;
                *significance = next()?;
                *contribution = next()?;
            }
            EventBody::PlaceRegistered { .. }
            | EventBody::ActorLeft { .. }
            | EventBody::RelationshipFormed { .. }
            | EventBody::RelationshipChanged { .. }
            | EventBody::RelationshipEnded { .. }
            | EventBody::EventRetracted { .. }
            | EventBody::ActorRedacted { .. } => return Err(mismatch),
        }
        if texts.next().is_some() {
            return Err(mismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_personal_field_is_taken_and_restored() {
        let cases = [
            r#"{"type":"actor_joined","id":"a","occurred_at":"2024-01-01","place":"p","actor":"jo","kind":"person","name":"Jo","attributes":{"k":"v"}}"#,
            r#"{"type":"actor_updated","id":"a","occurred_at":"2024-01-01","place":"p","actor":"jo","name":"Jo B","attributes":{"k":"w"}}"#,
            r#"{"type":"power_shifted","id":"a","occurred_at":"2024-01-01","place":"p","domain":"budget","amount":1,"from":"jo","evidence":"Jo's letter"}"#,
            r#"{"type":"session_held","id":"a","occurred_at":"2024-01-01","place":"p","session":"s","title":"With Jo","theme":"Jo's street","participants":["jo"]}"#,
            r#"{"type":"learning_recorded","id":"a","occurred_at":"2024-01-01","place":"p","text":"Jo spoke","actors":["jo"]}"#,
            r#"{"type":"outcome_harvested","id":"a","occurred_at":"2024-01-01","place":"p","description":"Jo now chairs","actors":["jo"],"significance":"Jo's first","contribution":"Jo's own"}"#,
        ];
        for json in cases {
            let original = ev(json);
            let mut e = original.clone();
            let data = e.take_personal_data().expect(json);
            let erased = serde_json::to_string(&e).unwrap();
            assert!(!erased.contains("Jo "), "{erased}");
            assert!(!erased.contains("Jo'"), "{erased}");
            assert!(!erased.contains("\"Jo\""), "{erased}");
            assert_ne!(e, original);
            e.restore_personal_data(data).unwrap();
            assert_eq!(e, original, "{json}");
        }
    }

    #[test]
    fn events_without_subjects_or_text_carry_nothing() {
        for json in [
            r#"{"type":"learning_recorded","id":"a","occurred_at":"2024-01-01","place":"p","text":"no one named"}"#,
            r#"{"type":"actor_joined","id":"a","occurred_at":"2024-01-01","place":"p","actor":"jo","kind":"person"}"#,
            r#"{"type":"relationship_formed","id":"a","occurred_at":"2024-01-01","place":"p","from":"a","to":"b","kind":"trust"}"#,
            r#"{"type":"actor_redacted","id":"a","occurred_at":"2024-01-01","actor":"jo","reason":"asked"}"#,
        ] {
            let original = ev(json);
            let mut e = original.clone();
            assert_eq!(e.take_personal_data(), None, "{json}");
            assert_eq!(e, original);
        }
    }

    #[test]
    fn data_of_another_shape_is_refused() {
        let mut e = ev(
            r#"{"type":"learning_recorded","id":"a","occurred_at":"2024-01-01","place":"p","text":"x","actors":["jo"]}"#,
        );
        let wrong = PersonalData {
            texts: vec![None, None],
            attributes: None,
        };
        assert!(e.restore_personal_data(wrong).is_err());
    }
}
