//! The stored record format: the one place that knows how events become bytes.
//!
//! A record is `[crc32 of the rest: u32 LE][format version: u8][payload]`. Version 1's
//! payload is a bincode 2 encoding of [`v1::Record`], whose types mirror the domain model
//! but are frozen: changing the model never silently changes what is on disk. A new
//! format adds a `v2` module and a decode arm; old records stay readable.
//!
//! Decoding checks the checksum first, then the version, then decodes with a size limit,
//! then re-checks every identifier: a damaged record is an error, never a panic or a
//! wrong event.

use crate::types::{Position, RecordedEvent, Stream};
use shiftlog_model::{
    ActorId, ActorKind, Event, EventBody, EventId, PlaceId, PowerExpression, PowerForm, PowerSpace, SessionId,
    Timestamp,
};

/// The record format this build writes.
pub const RECORD_FORMAT: u8 = 1;

/// The largest payload a record may decode to, so that a damaged length field cannot ask
/// for an absurd allocation.
const DECODE_LIMIT: usize = 256 << 20;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Too short to hold a header.
    #[error("record is truncated ({0} bytes)")]
    Truncated(usize),
    /// The checksum does not match: bytes were changed after writing.
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the bytes as they are.
        computed: u32,
    },
    /// A format version this build does not know.
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    /// The payload does not decode.
    #[error("payload does not decode: {0}")]
    Payload(String),
    /// The payload decodes to something that is not a valid event.
    #[error("invalid field in payload: {0}")]
    Invalid(String),
}

/// Encodes a recorded event as a record of the current format.
pub fn encode(rec: &RecordedEvent) -> Vec<u8> {
    let payload = v1::Record::from_recorded(rec);
    let mut out = vec![0u8; 5];
    out[4] = RECORD_FORMAT;
    bincode::encode_into_std_write(&payload, &mut out, config()).expect("writing to a Vec cannot fail");
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a record; never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<RecordedEvent, DecodeError> {
    if bytes.len() < 5 {
        return Err(DecodeError::Truncated(bytes.len()));
    }
    let stored = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[4..]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    match bytes[4] {
        1 => {
            let (rec, used): (v1::Record, usize) =
                bincode::decode_from_slice(&bytes[5..], config()).map_err(|e| DecodeError::Payload(e.to_string()))?;
            if used != bytes.len() - 5 {
                return Err(DecodeError::Payload(format!(
                    "{} trailing bytes",
                    bytes.len() - 5 - used
                )));
            }
            rec.into_recorded()
        }
        v => Err(DecodeError::UnknownVersion(v)),
    }
}

/// Decodes the record stored at `position`, checking that it says it is that position.
pub(crate) fn decode_at(position: Position, bytes: &[u8]) -> Result<RecordedEvent, crate::StoreError> {
    let damaged = |reason: String| crate::StoreError::Damaged { position, reason };
    let rec = decode(bytes).map_err(|e| damaged(e.to_string()))?;
    if rec.position != position {
        return Err(damaged(format!("record says it is position {}", rec.position)));
    }
    Ok(rec)
}

mod v1 {
    //! Record format 1. Frozen: never change these types, add a `v2` instead.
    use super::*;
    use bincode::{Decode, Encode};

    #[derive(Encode, Decode)]
    pub(super) struct Record {
        position: u64,
        recorded_at: (i64, u32),
        /// The place of the stream, or `None` for the unplaced stream.
        stream: Option<String>,
        id: String,
        occurred_at: (i64, u32),
        place: Option<String>,
        recorded_by: Option<String>,
        source: Option<String>,
        tags: Vec<String>,
        body: Body,
        /// Unknown fields as a JSON object's text; empty when there are none.
        extra: String,
    }

    #[derive(Encode, Decode)]
    enum Body {
        PlaceRegistered {
            name: String,
            region: Option<String>,
            parent: Option<String>,
        },
        ActorJoined {
            actor: String,
            name: Option<String>,
            kind: u8,
            sector: Option<String>,
            roles: Vec<String>,
            power: Vec<(String, f64)>,
            attributes: Vec<(String, String)>,
        },
        ActorUpdated {
            actor: String,
            name: Option<String>,
            kind: Option<u8>,
            sector: Option<String>,
            roles: Option<Vec<String>>,
            attributes: Option<Vec<(String, String)>>,
        },
        ActorLeft {
            actor: String,
        },
        RelationshipFormed {
            from: String,
            to: String,
            kind: String,
            strength: Option<f64>,
            directed: Option<bool>,
            trust: Option<f64>,
            value: Option<f64>,
        },
        RelationshipChanged {
            from: String,
            to: String,
            kind: String,
            strength: Option<f64>,
            trust: Option<f64>,
            value: Option<f64>,
        },
        RelationshipEnded {
            from: String,
            to: String,
            kind: String,
        },
        PowerShifted {
            domain: String,
            amount: f64,
            from: Option<String>,
            to: Option<String>,
            form: Option<u8>,
            space: Option<u8>,
            expression: Option<u8>,
            evidence: Option<String>,
        },
        SessionHeld {
            session: String,
            title: Option<String>,
            theme: Option<String>,
            participants: Vec<String>,
            absent_voices: Vec<String>,
        },
        LearningRecorded {
            text: String,
            themes: Vec<String>,
            actors: Vec<String>,
            session: Option<String>,
        },
        OutcomeHarvested {
            description: String,
            actors: Vec<String>,
            significance: Option<String>,
            contribution: Option<String>,
            sources: Vec<String>,
            condition: Option<String>,
        },
        EventRetracted {
            target: String,
            reason: String,
        },
        ActorRedacted {
            actor: String,
            reason: Option<String>,
        },
    }

    // Codes for closed vocabularies: positions in these frozen lists.
    const KINDS: [ActorKind; 4] = [
        ActorKind::Person,
        ActorKind::Organisation,
        ActorKind::Group,
        ActorKind::Network,
    ];
    const FORMS: [PowerForm; 3] = [PowerForm::Visible, PowerForm::Hidden, PowerForm::Invisible];
    const SPACES: [PowerSpace; 3] = [PowerSpace::Closed, PowerSpace::Invited, PowerSpace::Claimed];
    const EXPRESSIONS: [PowerExpression; 4] = [
        PowerExpression::PowerOver,
        PowerExpression::PowerWith,
        PowerExpression::PowerTo,
        PowerExpression::PowerWithin,
    ];

    fn code<T: PartialEq>(list: &[T], x: &T) -> u8 {
        list.iter().position(|y| y == x).expect("every value is listed") as u8
    }

    fn from_code<T: Copy>(list: &[T], c: u8, what: &str) -> Result<T, DecodeError> {
        list.get(c as usize)
            .copied()
            .ok_or_else(|| DecodeError::Invalid(format!("{what} code {c}")))
    }

    fn s<T: AsRef<str>>(x: &T) -> String {
        x.as_ref().to_string()
    }

    fn ss<T: AsRef<str>>(xs: &[T]) -> Vec<String> {
        xs.iter().map(s).collect()
    }

    fn id<T>(x: String, make: fn(String) -> Result<T, shiftlog_model::IdError>) -> Result<T, DecodeError> {
        make(x).map_err(|e| DecodeError::Invalid(format!("id: {e}")))
    }

    fn ids<T>(xs: Vec<String>, make: fn(String) -> Result<T, shiftlog_model::IdError>) -> Result<Vec<T>, DecodeError> {
        xs.into_iter().map(|x| id(x, make)).collect()
    }

    fn opt_id<T>(
        x: Option<String>,
        make: fn(String) -> Result<T, shiftlog_model::IdError>,
    ) -> Result<Option<T>, DecodeError> {
        x.map(|x| id(x, make)).transpose()
    }

    fn time((secs, nanos): (i64, u32)) -> Result<Timestamp, DecodeError> {
        Timestamp::from_unix(secs, nanos).ok_or_else(|| DecodeError::Invalid(format!("timestamp {secs}.{nanos}")))
    }

    fn time_parts(t: &Timestamp) -> (i64, u32) {
        (t.unix_seconds(), t.subsec_nanos())
    }

    impl Record {
        pub(super) fn from_recorded(r: &RecordedEvent) -> Self {
            let e = &r.event;
            let body = match &e.body {
                EventBody::PlaceRegistered { name, region, parent } => Body::PlaceRegistered {
                    name: name.clone(),
                    region: region.clone(),
                    parent: parent.as_ref().map(s),
                },
                EventBody::ActorJoined {
                    actor,
                    name,
                    kind,
                    sector,
                    roles,
                    power,
                    attributes,
                } => Body::ActorJoined {
                    actor: s(actor),
                    name: name.clone(),
                    kind: code(&KINDS, kind),
                    sector: sector.clone(),
                    roles: roles.clone(),
                    power: power.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    attributes: attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                },
                EventBody::ActorUpdated {
                    actor,
                    name,
                    kind,
                    sector,
                    roles,
                    attributes,
                } => Body::ActorUpdated {
                    actor: s(actor),
                    name: name.clone(),
                    kind: kind.as_ref().map(|k| code(&KINDS, k)),
                    sector: sector.clone(),
                    roles: roles.clone(),
                    attributes: attributes
                        .as_ref()
                        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                },
                EventBody::ActorLeft { actor } => Body::ActorLeft { actor: s(actor) },
                EventBody::RelationshipFormed {
                    from,
                    to,
                    kind,
                    strength,
                    directed,
                    trust,
                    value,
                } => Body::RelationshipFormed {
                    from: s(from),
                    to: s(to),
                    kind: kind.clone(),
                    strength: *strength,
                    directed: *directed,
                    trust: *trust,
                    value: *value,
                },
                EventBody::RelationshipChanged {
                    from,
                    to,
                    kind,
                    strength,
                    trust,
                    value,
                } => Body::RelationshipChanged {
                    from: s(from),
                    to: s(to),
                    kind: kind.clone(),
                    strength: *strength,
                    trust: *trust,
                    value: *value,
                },
                EventBody::RelationshipEnded { from, to, kind } => Body::RelationshipEnded {
                    from: s(from),
                    to: s(to),
                    kind: kind.clone(),
                },
                EventBody::PowerShifted {
                    domain,
                    amount,
                    from,
                    to,
                    form,
                    space,
                    expression,
                    evidence,
                } => Body::PowerShifted {
                    domain: domain.clone(),
                    amount: *amount,
                    from: from.as_ref().map(s),
                    to: to.as_ref().map(s),
                    form: form.as_ref().map(|x| code(&FORMS, x)),
                    space: space.as_ref().map(|x| code(&SPACES, x)),
                    expression: expression.as_ref().map(|x| code(&EXPRESSIONS, x)),
                    evidence: evidence.clone(),
                },
                EventBody::SessionHeld {
                    session,
                    title,
                    theme,
                    participants,
                    absent_voices,
                } => Body::SessionHeld {
                    session: s(session),
                    title: title.clone(),
                    theme: theme.clone(),
                    participants: ss(participants),
                    absent_voices: absent_voices.clone(),
                },
                EventBody::LearningRecorded {
                    text,
                    themes,
                    actors,
                    session,
                } => Body::LearningRecorded {
                    text: text.clone(),
                    themes: themes.clone(),
                    actors: ss(actors),
                    session: session.as_ref().map(s),
                },
                EventBody::OutcomeHarvested {
                    description,
                    actors,
                    significance,
                    contribution,
                    sources,
                    condition,
                } => Body::OutcomeHarvested {
                    description: description.clone(),
                    actors: ss(actors),
                    significance: significance.clone(),
                    contribution: contribution.clone(),
                    sources: sources.clone(),
                    condition: condition.clone(),
                },
                EventBody::EventRetracted { target, reason } => Body::EventRetracted {
                    target: s(target),
                    reason: reason.clone(),
                },
                EventBody::ActorRedacted { actor, reason } => Body::ActorRedacted {
                    actor: s(actor),
                    reason: reason.clone(),
                },
            };
            Record {
                position: r.position.0,
                recorded_at: time_parts(&r.recorded_at),
                stream: match &r.stream {
                    Stream::Place(p) => Some(s(p)),
                    Stream::Unplaced => None,
                },
                id: e.id.as_ref().map(s).unwrap_or_default(),
                occurred_at: time_parts(&e.occurred_at),
                place: e.place.as_ref().map(s),
                recorded_by: e.recorded_by.clone(),
                source: e.source.clone(),
                tags: e.tags.clone(),
                body,
                extra: if e.extra.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&e.extra).expect("JSON values always serialize")
                },
            }
        }

        pub(super) fn into_recorded(self) -> Result<RecordedEvent, DecodeError> {
            let body = match self.body {
                Body::PlaceRegistered { name, region, parent } => EventBody::PlaceRegistered {
                    name,
                    region,
                    parent: opt_id(parent, PlaceId::new)?,
                },
                Body::ActorJoined {
                    actor,
                    name,
                    kind,
                    sector,
                    roles,
                    power,
                    attributes,
                } => EventBody::ActorJoined {
                    actor: id(actor, ActorId::new)?,
                    name,
                    kind: from_code(&KINDS, kind, "actor kind")?,
                    sector,
                    roles,
                    power: power.into_iter().collect(),
                    attributes: attributes.into_iter().collect(),
                },
                Body::ActorUpdated {
                    actor,
                    name,
                    kind,
                    sector,
                    roles,
                    attributes,
                } => EventBody::ActorUpdated {
                    actor: id(actor, ActorId::new)?,
                    name,
                    kind: kind.map(|k| from_code(&KINDS, k, "actor kind")).transpose()?,
                    sector,
                    roles,
                    attributes: attributes.map(|a| a.into_iter().collect()),
                },
                Body::ActorLeft { actor } => EventBody::ActorLeft {
                    actor: id(actor, ActorId::new)?,
                },
                Body::RelationshipFormed {
                    from,
                    to,
                    kind,
                    strength,
                    directed,
                    trust,
                    value,
                } => EventBody::RelationshipFormed {
                    from: id(from, ActorId::new)?,
                    to: id(to, ActorId::new)?,
                    kind,
                    strength,
                    directed,
                    trust,
                    value,
                },
                Body::RelationshipChanged {
                    from,
                    to,
                    kind,
                    strength,
                    trust,
                    value,
                } => EventBody::RelationshipChanged {
                    from: id(from, ActorId::new)?,
                    to: id(to, ActorId::new)?,
                    kind,
                    strength,
                    trust,
                    value,
                },
                Body::RelationshipEnded { from, to, kind } => EventBody::RelationshipEnded {
                    from: id(from, ActorId::new)?,
                    to: id(to, ActorId::new)?,
                    kind,
                },
                Body::PowerShifted {
                    domain,
                    amount,
                    from,
                    to,
                    form,
                    space,
                    expression,
                    evidence,
                } => EventBody::PowerShifted {
                    domain,
                    amount,
                    from: opt_id(from, ActorId::new)?,
                    to: opt_id(to, ActorId::new)?,
                    form: form.map(|c| from_code(&FORMS, c, "power form")).transpose()?,
                    space: space.map(|c| from_code(&SPACES, c, "power space")).transpose()?,
                    expression: expression
                        .map(|c| from_code(&EXPRESSIONS, c, "power expression"))
                        .transpose()?,
                    evidence,
                },
                Body::SessionHeld {
                    session,
                    title,
                    theme,
                    participants,
                    absent_voices,
                } => EventBody::SessionHeld {
                    session: id(session, SessionId::new)?,
                    title,
                    theme,
                    participants: ids(participants, ActorId::new)?,
                    absent_voices,
                },
                Body::LearningRecorded {
                    text,
                    themes,
                    actors,
                    session,
                } => EventBody::LearningRecorded {
                    text,
                    themes,
                    actors: ids(actors, ActorId::new)?,
                    session: opt_id(session, SessionId::new)?,
                },
                Body::OutcomeHarvested {
                    description,
                    actors,
                    significance,
                    contribution,
                    sources,
                    condition,
                } => EventBody::OutcomeHarvested {
                    description,
                    actors: ids(actors, ActorId::new)?,
                    significance,
                    contribution,
                    sources,
                    condition,
                },
                Body::EventRetracted { target, reason } => EventBody::EventRetracted {
                    target: id(target, EventId::new)?,
                    reason,
                },
                Body::ActorRedacted { actor, reason } => EventBody::ActorRedacted {
                    actor: id(actor, ActorId::new)?,
                    reason,
                },
            };
            let extra = if self.extra.is_empty() {
                Default::default()
            } else {
                serde_json::from_str(&self.extra).map_err(|e| DecodeError::Invalid(format!("unknown fields: {e}")))?
            };
            let event = Event {
                id: Some(id(self.id, EventId::new)?),
                occurred_at: time(self.occurred_at)?,
                place: opt_id(self.place, PlaceId::new)?,
                recorded_by: self.recorded_by,
                source: self.source,
                tags: self.tags,
                body,
                extra,
            };
            Ok(RecordedEvent {
                position: Position(self.position),
                recorded_at: time(self.recorded_at)?,
                stream: match self.stream {
                    Some(p) => Stream::Place(id(p, PlaceId::new)?),
                    None => Stream::Unplaced,
                },
                event,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> RecordedEvent {
        let event: Event = serde_json::from_str(
            r#"{"type":"power_shifted","id":"s1","occurred_at":"2023-02-01T10:00:00.5Z","place":"northbrook",
                "from":"council","to":"tenants","domain":"budget","amount":0.25,"space":"claimed",
                "tags":["power_dynamics"],"note":{"nested":[1,2]}}"#,
        )
        .unwrap();
        RecordedEvent {
            position: Position(42),
            recorded_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            stream: Stream::Place(PlaceId::new("northbrook").unwrap()),
            event,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(decode(&encode(&r)).unwrap(), r);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(decode(&b).is_err(), "flip of bit {bit} in byte {i} went unnoticed");
            }
        }
    }

    #[test]
    fn truncation_and_unknown_version() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err());
        }
        let mut b = bytes.clone();
        b[4] = 9;
        let crc = crc32fast::hash(&b[4..]);
        b[..4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&b), Err(DecodeError::UnknownVersion(9)));
    }

    proptest! {
        // Arbitrary bytes, with a valid checksum so the payload decoder itself is exercised.
        #[test]
        fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = vec![0, 0, 0, 0, 1];
            b.extend_from_slice(&payload);
            let crc = crc32fast::hash(&b[4..]);
            b[..4].copy_from_slice(&crc.to_le_bytes());
            let _ = decode(&b);
        }
    }
}
