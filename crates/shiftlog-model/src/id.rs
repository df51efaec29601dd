//! Identifiers: places, actors, sessions and events.

use std::fmt;

/// The most characters an identifier may have (the spec's limit).
pub const MAX_ID_CHARS: usize = 128;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string has more than [`MAX_ID_CHARS`] characters.
    #[error("must be at most {MAX_ID_CHARS} characters, got {0}")]
    TooLong(usize),
    /// The string holds a control character (NUL, newline, ...).
    #[error("must not contain control characters (found U+{0:04X} at character {1})")]
    ControlCharacter(u32, usize),
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    // Nearly every id is short printable ASCII: one pass over the bytes settles it (every
    // stored event's ids are checked again when it is read back).
    if s.len() <= MAX_ID_CHARS && s.bytes().fold(true, |ok, b| ok & (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    let mut count = 0;
    for (i, c) in s.chars().enumerate() {
        if c.is_control() {
            return Err(IdError::ControlCharacter(c as u32, i + 1));
        }
        count += 1;
    }
    if count > MAX_ID_CHARS {
        return Err(IdError::TooLong(count));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Case-sensitive, 1 to 128 characters, no control characters.
        ///
        /// Shared, not copied, when cloned: a place's history names each actor in
        /// thousands of events, and its folded state, indexes and evolution steps keep
        /// copies of the ids.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s.into()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Checked like [`Self::new`].
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An event's idempotency key.
    EventId
);
id_type!(
    /// A place: the local system an inquiry looks at (a borough, a neighbourhood).
    PlaceId
);
id_type!(
    /// An actor: a person, organisation, group or network taking part in a place's system.
    ActorId
);
id_type!(
    /// A sensemaking session.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(PlaceId::new("northbrook").is_ok());
        assert_eq!(PlaceId::new(""), Err(IdError::Empty));
        assert!(PlaceId::new("é".repeat(128)).is_ok());
        assert_eq!(PlaceId::new("é".repeat(129)), Err(IdError::TooLong(129)));
        assert_eq!(ActorId::new("a\u{0}b"), Err(IdError::ControlCharacter(0, 2)));
    }
}
