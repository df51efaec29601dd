//! Why an event was rejected, and where it was in the input.

use std::fmt;

/// Where an event was in its input: a line of NDJSON or an index in a JSON array or batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// 1-based line number in NDJSON input.
    Line(usize),
    /// 0-based index in a JSON array or an appended batch.
    Index(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// A problem with one field of one event (or the event as a whole when `field` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field at fault, as a path (`strength`, `power.budget`, `participants[2]`).
    pub field: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with the event as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        FieldError {
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A rejected event: where it was, its id when it had one, the field and what is wrong.
///
/// Displays as `line 12 (event "ev-9"): field `strength`: must be between 0 and 1, got 1.01`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}{}: {error}", .event_id.as_ref().map(|id| format!(" (event {id:?})")).unwrap_or_default())]
pub struct Rejection {
    /// Where the event was in its input.
    pub location: Location,
    /// The event's `id`, when it had a readable one.
    pub event_id: Option<String>,
    /// What is wrong.
    pub error: FieldError,
}

impl Rejection {
    /// The field at fault, if the problem is with one field.
    pub fn field(&self) -> Option<&str> {
        self.error.field.as_deref()
    }
}
