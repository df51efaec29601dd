//! The stored record format: the one place that knows how events become bytes.
//!
//! A record is `[crc32 of the rest: u32 LE][format version: u8][payload]`. Version 1's
//! payload is a bincode 2 encoding of `v1::Record`, whose types mirror the domain model
//! but are frozen: changing the model never silently changes what is on disk. Version 2
//! (written since personal data is sealed) is a version 1 record with the event's personal
//! data taken out ([`Event::take_personal_data`]), followed by that data sealed with
//! ChaCha20-Poly1305 under a key derived from the keys of every actor it is about
//! ([`Keys`]). Destroying any one of those keys makes it unreadable: the record then
//! decodes as the erased event. Old records stay readable.
//!
//! Decoding checks the checksum first, then the version, then decodes with a size limit,
//! then re-checks every identifier: a damaged record is an error, never a panic or a
//! wrong event.

use crate::types::{Position, RecordedEvent, Stream};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use sha2::{Digest, Sha256};
use shiftlog_model::{
    ActorId, ActorKind, Event, EventBody, EventId, PersonalData, PlaceId, PowerExpression, PowerForm, PowerSpace,
    SessionId, Timestamp,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// The record format this build writes.
pub const RECORD_FORMAT: u8 = 2;

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

/// One actor's secret key (256 bits).
pub type ActorKey = [u8; 32];

/// Where the codec gets the per-actor keys that seal personal data.
pub trait Keys {
    /// The slot and key to seal `actor`'s personal data with; `None` when the actor has
    /// no key (its key was destroyed): its personal data is then not written at all.
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)>;
    /// The key in `slot`; `None` once it has been destroyed.
    fn open_key(&self, slot: u32) -> Option<ActorKey>;
}

/// No keys: encoding writes no personal data, decoding reads none (every record reads as
/// erased). For tools that must never see personal data.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl Keys for NoKeys {
    fn seal_key(&self, _: &ActorId) -> Option<(u32, ActorKey)> {
        None
    }
    fn open_key(&self, _: u32) -> Option<ActorKey> {
        None
    }
}

/// Keys kept in memory, made on first use: for tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryKeys(Mutex<MemoryKeyring>);

/// Slots by actor, and keys by slot (`None` once destroyed).
type MemoryKeyring = (HashMap<ActorId, u32>, Vec<Option<ActorKey>>);

impl MemoryKeys {
    /// Destroys `actor`'s key.
    pub fn destroy(&self, actor: &ActorId) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&slot) = g.0.get(actor) {
            g.1[slot as usize] = None;
        }
    }
}

impl Keys for MemoryKeys {
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (slots, keys) = &mut *g;
        let slot = match slots.get(actor) {
            Some(&s) => s,
            None => {
                keys.push(Some(new_key()));
                let s = (keys.len() - 1) as u32;
                slots.insert(actor.clone(), s);
                s
            }
        };
        keys[slot as usize].map(|k| (slot, k))
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.1.get(slot as usize).copied().flatten()
    }
}

/// A fresh random key from the operating system.
pub fn new_key() -> ActorKey {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).expect("the operating system's random source failed");
    k
}

/// The key that seals data about every actor in `keys` (in slot order as stored).
fn sealing_key(keys: &[ActorKey]) -> chacha20poly1305::Key {
    let mut h = Sha256::new();
    h.update(b"shiftlog: personal data, sealed, v2");
    for k in keys {
        h.update(k);
    }
    h.finalize()
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

/// Encodes a recorded event as a record of the current format, sealing its personal data
/// with `keys` (or leaving it out when a subject has no key).
pub fn encode(rec: &RecordedEvent, keys: &dyn Keys) -> Vec<u8> {
    let mut sealed = None;
    let subjects = rec.event.data_subjects();
    let base = if subjects.is_empty() {
        v1::Record::from_parts(rec, &rec.event)
    } else {
        let mut event = rec.event.clone();
        if let Some(data) = event.take_personal_data() {
            sealed = seal(rec.position.0, &subjects, data, keys);
        }
        v1::Record::from_parts(rec, &event)
    };
    let payload = v2::Record { base, sealed };
    let mut out = vec![0u8; 5];
    out[4] = RECORD_FORMAT;
    bincode::encode_into_std_write(&payload, &mut out, config()).expect("writing to a Vec cannot fail");
    let crc = crc32fast::hash(&out[4..]);
    out[..4].copy_from_slice(&crc.to_le_bytes());
    out
}

fn seal(position: u64, subjects: &[&ActorId], data: PersonalData, keys: &dyn Keys) -> Option<v2::Sealed> {
    let mut slots = Vec::new();
    let mut material = Vec::new();
    for actor in subjects {
        let (slot, key) = keys.seal_key(actor)?;
        slots.push(slot);
        material.push(key);
    }
    let plain = v2::Personal {
        texts: data.texts,
        attributes: data.attributes.map(|a| a.into_iter().collect()),
    };
    let plain = bincode::encode_to_vec(&plain, config()).expect("writing to a Vec cannot fail");
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    let ciphertext = ChaCha20Poly1305::new(&sealing_key(&material))
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plain,
                aad: &position.to_le_bytes(),
            },
        )
        .expect("encryption of a bounded message cannot fail");
    Some(v2::Sealed {
        slots,
        nonce,
        ciphertext,
    })
}

/// Opens sealed personal data: `Ok(None)` when a key was destroyed (the data is erased).
fn open(position: u64, sealed: v2::Sealed, keys: &dyn Keys) -> Result<Option<PersonalData>, DecodeError> {
    let mut material = Vec::with_capacity(sealed.slots.len());
    for &slot in &sealed.slots {
        match keys.open_key(slot) {
            Some(k) => material.push(k),
            None => return Ok(None),
        }
    }
    let plain = ChaCha20Poly1305::new(&sealing_key(&material))
        .decrypt(
            &sealed.nonce.into(),
            Payload {
                msg: &sealed.ciphertext,
                aad: &position.to_le_bytes(),
            },
        )
        .map_err(|_| {
            DecodeError::Invalid(format!(
                "the personal data of record {position} does not open with its keys (the keys file is damaged)"
            ))
        })?;
    let (data, used): (v2::Personal, usize) =
        bincode::decode_from_slice(&plain, config()).map_err(|e| DecodeError::Payload(e.to_string()))?;
    if used != plain.len() {
        return Err(DecodeError::Payload("trailing bytes in personal data".into()));
    }
    Ok(Some(PersonalData {
        texts: data.texts,
        attributes: data.attributes.map(|a| a.into_iter().collect()),
    }))
}

/// Decodes a record, opening its personal data with `keys`; never panics, whatever the
/// bytes. A record whose keys were destroyed decodes as the erased event.
pub fn decode(bytes: &[u8], keys: &dyn Keys) -> Result<RecordedEvent, DecodeError> {
    let (format, body) = checked(bytes)?;
    fn payload<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
        let (rec, used): (T, usize) =
            bincode::decode_from_slice(bytes, config()).map_err(|e| DecodeError::Payload(e.to_string()))?;
        if used != bytes.len() {
            return Err(DecodeError::Payload(format!("{} trailing bytes", bytes.len() - used)));
        }
        Ok(rec)
    }
    match format {
        1 => payload::<v1::Record>(body)?.into_recorded(),
        2 => {
            let v2::Record { base, sealed } = payload(body)?;
            let mut rec = base.into_recorded()?;
            if let Some(sealed) = sealed {
                if let Some(data) = open(rec.position.0, sealed, keys)? {
                    rec.event
                        .restore_personal_data(data)
                        .map_err(|e| DecodeError::Invalid(e.to_string()))?;
                }
            }
            Ok(rec)
        }
        v => Err(DecodeError::UnknownVersion(v)),
    }
}

/// The place whose stream a record belongs to (`None`: the unplaced stream), read from the
/// front of the record without decoding the rest; the checksum is still checked, so a
/// damaged record is never passed over as some other place's.
pub(crate) fn place_of(bytes: &[u8]) -> Result<Option<&str>, DecodeError> {
    match checked(bytes)? {
        // Format 2 starts with a format 1 record, which starts with its stream.
        (1 | 2, body) => {
            let (head, _): (v1::Head<'_>, usize) =
                bincode::borrow_decode_from_slice(body, config()).map_err(|e| DecodeError::Payload(e.to_string()))?;
            Ok(head.stream)
        }
        (v, _) => Err(DecodeError::UnknownVersion(v)),
    }
}

/// The key slots a record's personal data is sealed under (none when it holds none), read
/// without opening it.
pub(crate) fn sealed_slots(bytes: &[u8]) -> Result<Vec<u32>, DecodeError> {
    match checked(bytes)? {
        (1, _) => Ok(Vec::new()),
        (2, body) => {
            let (rec, _): (v2::Record, usize) =
                bincode::decode_from_slice(body, config()).map_err(|e| DecodeError::Payload(e.to_string()))?;
            Ok(rec.sealed.map(|s| s.slots).unwrap_or_default())
        }
        (v, _) => Err(DecodeError::UnknownVersion(v)),
    }
}

/// A record's format and payload, once its length and checksum are checked.
fn checked(bytes: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    if bytes.len() < 5 {
        return Err(DecodeError::Truncated(bytes.len()));
    }
    let stored = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[4..]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    Ok((bytes[4], &bytes[5..]))
}

/// Decodes the record stored at `position`, checking that it says it is that position.
pub(crate) fn decode_at(position: Position, bytes: &[u8], keys: &dyn Keys) -> Result<RecordedEvent, crate::StoreError> {
    let damaged = |reason: String| crate::StoreError::Damaged { position, reason };
    let rec = decode(bytes, keys).map_err(|e| damaged(e.to_string()))?;
    if rec.position != position {
        return Err(damaged(format!("record says it is position {}", rec.position)));
    }
    Ok(rec)
}

mod v2 {
    //! Record format 2: a version 1 record with its personal data taken out, and that
    //! data sealed. Frozen: never change these types, add a `v3` instead.
    use bincode::{Decode, Encode};

    #[derive(Encode, Decode)]
    pub(super) struct Record {
        pub(super) base: super::v1::Record,
        pub(super) sealed: Option<Sealed>,
    }

    /// Personal data, encrypted under the key derived from the keys in `slots`, with the
    /// record's position as associated data (so it cannot be moved to another record).
    #[derive(Encode, Decode)]
    pub(super) struct Sealed {
        pub(super) slots: Vec<u32>,
        pub(super) nonce: [u8; 12],
        pub(super) ciphertext: Vec<u8>,
    }

    /// What `Sealed::ciphertext` decrypts to.
    #[derive(Encode, Decode)]
    pub(super) struct Personal {
        pub(super) texts: Vec<Option<String>>,
        pub(super) attributes: Option<Vec<(String, String)>>,
    }
}

mod v1 {
    //! Record format 1. Frozen: never change these types, add a `v2` instead.
    use super::*;
    use bincode::{Decode, Encode};

    #[derive(Encode, Decode)]
    pub(super) struct Record {
        pub(super) position: u64,
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

    /// The first fields of a [`Record`], borrowed: enough to tell its stream.
    #[derive(bincode::BorrowDecode)]
    pub(super) struct Head<'a> {
        _position: u64,
        _recorded_at: (i64, u32),
        pub(super) stream: Option<&'a str>,
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
        /// The record of `r`, with `e` (`r`'s event, perhaps with personal data taken out).
        pub(super) fn from_parts(r: &RecordedEvent, e: &Event) -> Self {
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
            event.check().map_err(|e| DecodeError::Invalid(e.to_string()))?;
            let stream = match self.stream {
                Some(p) => Stream::Place(id(p, PlaceId::new)?),
                None => Stream::Unplaced,
            };
            // An event with a place is in that place's stream; a retraction may be in its
            // target's; anything else is unplaced.
            let consistent = match (&event.place, &stream) {
                (Some(p), Stream::Place(s)) => p == s,
                (Some(_), Stream::Unplaced) => false,
                (None, Stream::Place(_)) => matches!(event.body, EventBody::EventRetracted { .. }),
                (None, Stream::Unplaced) => true,
            };
            if !consistent {
                return Err(DecodeError::Invalid(format!("the event is not in {stream}'s stream")));
            }
            Ok(RecordedEvent {
                position: Position(self.position),
                recorded_at: time(self.recorded_at)?,
                stream,
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
        assert_eq!(decode(&encode(&r, &NoKeys), &NoKeys).unwrap(), r);
    }

    fn personal() -> RecordedEvent {
        let event: Event = serde_json::from_str(
            r#"{"type":"learning_recorded","id":"l1","occurred_at":"2023-02-01","place":"northbrook",
                "text":"Jo Bloggs said the forum felt closed","actors":["jo","forum"]}"#,
        )
        .unwrap();
        RecordedEvent {
            position: Position(7),
            recorded_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            stream: Stream::Place(PlaceId::new("northbrook").unwrap()),
            event,
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn personal_data_is_sealed_and_destroying_any_subjects_key_erases_it() {
        let r = personal();
        for destroyed in ["jo", "forum"] {
            let keys = MemoryKeys::default();
            let bytes = encode(&r, &keys);
            assert!(!contains(&bytes, b"Jo Bloggs"), "plaintext in the record");
            assert_eq!(decode(&bytes, &keys).unwrap(), r);
            keys.destroy(&ActorId::new(destroyed).unwrap());
            let erased = decode(&bytes, &keys).unwrap();
            let mut expected = r.event.clone();
            expected.take_personal_data().unwrap();
            assert_eq!(erased.event, expected);
            // Written after the key is gone, the data is not stored at all.
            let again = encode(&r, &keys);
            assert!(again.len() < bytes.len());
            assert_eq!(decode(&again, &MemoryKeys::default()).unwrap().event, expected);
        }
    }

    #[test]
    fn sealed_data_is_bound_to_its_position_and_keys() {
        let keys = MemoryKeys::default();
        let r = personal();
        let bytes = encode(&r, &keys);
        // The same record re-encoded at another position: its sealed part does not open there.
        let mut moved = bytes.clone();
        let v2::Record { mut base, sealed } = bincode::decode_from_slice::<v2::Record, _>(&moved[5..], config())
            .unwrap()
            .0;
        base.position = 8;
        moved.truncate(5);
        bincode::encode_into_std_write(&v2::Record { base, sealed }, &mut moved, config()).unwrap();
        let crc = crc32fast::hash(&moved[4..]);
        moved[..4].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&moved, &keys), Err(DecodeError::Invalid(_))));
        // Other keys (a damaged keys file) are damage, not erasure.
        let other = MemoryKeys::default();
        other.seal_key(&ActorId::new("x").unwrap());
        other.seal_key(&ActorId::new("y").unwrap());
        assert!(matches!(decode(&bytes, &other), Err(DecodeError::Invalid(_))));
    }

    #[test]
    fn format_1_records_still_decode() {
        let r = sample();
        let mut b = vec![0u8; 5];
        b[4] = 1;
        bincode::encode_into_std_write(v1::Record::from_parts(&r, &r.event), &mut b, config()).unwrap();
        let crc = crc32fast::hash(&b[4..]);
        b[..4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&b, &NoKeys).unwrap(), r);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let keys = MemoryKeys::default();
        for r in [sample(), personal()] {
            let bytes = encode(&r, &keys);
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut b = bytes.clone();
                    b[i] ^= 1 << bit;
                    assert!(
                        decode(&b, &keys).is_err(),
                        "flip of bit {bit} in byte {i} went unnoticed"
                    );
                }
            }
        }
    }

    #[test]
    fn truncation_and_unknown_version() {
        let bytes = encode(&sample(), &NoKeys);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], &NoKeys).is_err());
        }
        let mut b = bytes.clone();
        b[4] = 9;
        let crc = crc32fast::hash(&b[4..]);
        b[..4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&b, &NoKeys), Err(DecodeError::UnknownVersion(9)));
    }

    proptest! {
        // Arbitrary bytes, with a valid checksum so the payload decoders themselves are exercised.
        #[test]
        fn arbitrary_payloads_never_panic(version in 1u8..=2, payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = vec![0, 0, 0, 0, version];
            b.extend_from_slice(&payload);
            let crc = crc32fast::hash(&b[4..]);
            b[..4].copy_from_slice(&crc.to_le_bytes());
            let _ = decode(&b, &MemoryKeys::default());
        }
    }
}
