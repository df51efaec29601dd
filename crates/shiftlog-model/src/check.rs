//! The rules that need the log: registered places, joined actors, retraction targets.

use crate::event::{Event, EventBody, EventType};
use crate::id::{ActorId, EventId, PlaceId};
use crate::rejection::FieldError;
use crate::time::Timestamp;

/// What the rules need to know about an event already in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// Its type.
    pub event_type: EventType,
    /// Its place, if it has one.
    pub place: Option<PlaceId>,
}

/// The log as known when an event is appended (including earlier events of the same batch).
///
/// Implemented by the stores; the rules themselves live here so that every store applies
/// them the same way.
pub trait LogView {
    /// A failure to look something up (storage trouble).
    type Error;

    /// Whether `place` has a `place_registered` event that is not retracted.
    fn place_registered(&self, place: &PlaceId) -> Result<bool, Self::Error>;

    /// Whether `actor` has an `actor_joined` event in `place` (not retracted) with
    /// `occurred_at` at or before `at`.
    fn actor_joined_by(&self, place: &PlaceId, actor: &ActorId, at: Timestamp) -> Result<bool, Self::Error>;

    /// Whether `actor` has joined any place.
    fn actor_known(&self, actor: &ActorId) -> Result<bool, Self::Error>;

    /// The event with this id, if the log has one.
    fn event(&self, id: &EventId) -> Result<Option<EventSummary>, Self::Error>;
}

/// Checks the rules of the interchange format that depend on the log:
///
/// - the event's place is registered (every type but `place_registered` itself);
/// - every actor it names has joined that place at or before its `occurred_at`;
/// - an `actor_redacted` names an actor that has joined some place;
/// - an `event_retracted` targets a known event that is neither a retraction nor a
///   redaction (and, when it names a place, one of that place).
///
/// The outer `Result` is the view's own failure; the inner one is the verdict.
pub fn check_against_log<V: LogView>(event: &Event, view: &V) -> Result<Result<(), FieldError>, V::Error> {
    let ty = event.event_type();
    if let Some(place) = &event.place {
        if ty != EventType::PlaceRegistered && !view.place_registered(place)? {
            return Ok(Err(FieldError::new(
                "place",
                format!("place `{place}` is not registered"),
            )));
        }
    }
    if let Some(place) = &event.place {
        for (field, actor) in event.body.named_actors() {
            if !view.actor_joined_by(place, actor, event.occurred_at)? {
                let message = if view.actor_joined_by(
                    place,
                    actor,
                    Timestamp::from_unix(253_402_300_799, 0).expect("9999-12-31"),
                )? {
                    format!(
                        "actor `{actor}` has not joined `{place}` at or before {}",
                        event.occurred_at
                    )
                } else {
                    format!("actor `{actor}` has not joined `{place}`")
                };
                return Ok(Err(FieldError::new(field, message)));
            }
        }
    }
    match &event.body {
        EventBody::ActorRedacted { actor, .. } if !view.actor_known(actor)? => Ok(Err(FieldError::new(
            "actor",
            format!("actor `{actor}` has not joined any place"),
        ))),
        EventBody::EventRetracted { target, .. } => Ok(match view.event(target)? {
            None => Err(FieldError::new(
                "target",
                format!("no event with id `{target}` is in the log"),
            )),
            Some(s) if matches!(s.event_type, EventType::EventRetracted | EventType::ActorRedacted) => {
                Err(FieldError::new(
                    "target",
                    format!("`{target}` is a {}, which cannot be retracted", s.event_type),
                ))
            }
            Some(s) => match (&event.place, &s.place) {
                (Some(p), Some(tp)) if p != tp => Err(FieldError::new(
                    "place",
                    format!("the retraction names place `{p}` but its target belongs to `{tp}`"),
                )),
                _ => Ok(()),
            },
        }),
        _ => Ok(Ok(())),
    }
}
