//! The shiftlog domain model: inquiry events in their interchange format, and the rules
//! that decide which events a log accepts.
//!
//! It owns the event types of `spec/event-format.md`, parsing them from JSON (NDJSON or
//! arrays) with errors that name the line, the event id and the field, writing them back,
//! and the validation rules. It knows nothing of storage, graphs or HTTP: rules that need
//! the log are written against the [`LogView`] trait, which the stores implement.
//!
//! Guarantees:
//! - unknown fields are kept in [`Event::extra`] and written back, never dropped;
//! - parsing never panics, whatever the input; a bad event gives a [`Rejection`];
//! - `Event -> JSON -> Event` gives back an equal event.
//!
//! ```
//! use shiftlog_model::{parse_input, EventBody};
//! let parsed = parse_input(r#"[{"type":"relationship_formed","id":"r1","occurred_at":"2023-02-01",
//!     "place":"northbrook","from":"council","to":"vcs-forum","kind":"collaboration","strength":0.3}]"#);
//! assert!(parsed.rejections.is_empty());
//! match &parsed.events[0].event.body {
//!     EventBody::RelationshipFormed { strength, .. } => assert_eq!(*strength, Some(0.3)),
//!     _ => unreachable!(),
//! }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod check;
mod event;
mod id;
mod input;
mod json;
mod parse;
mod personal;
mod rejection;
mod strict;
mod time;

pub use check::{check_against_log, EventSummary, LogView};
pub use event::{
    ActorKind, Condition, Event, EventBody, EventType, ExtraFields, LearningArea, ParticipationRung, PowerExpression,
    PowerForm, PowerSpace,
};
pub use id::{ActorId, EventId, IdError, PlaceId, SessionId, MAX_ID_CHARS};
pub use input::{parse_input, LocatedEvent, NdjsonReader, ParsedInput, ReadError, MAX_LINE_BYTES};
pub use parse::{raw_event_id, ENGINE_FIELDS};
pub use personal::{PersonalData, PersonalDataMismatch, ERASED_TEXT};
pub use rejection::{FieldError, Location, Rejection};
pub use strict::parse_json;
pub use time::{Timestamp, TimestampError};
