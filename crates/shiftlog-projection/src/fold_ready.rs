//! The fold-ready form of a place's history: each event as the fold and the measures see
//! it, kept in the derived store beside the index so that an evolution reads a few small
//! blocks per place instead of decoding every full record of the log (issue 20).
//!
//! Beside the index, per place:
//! - `p3/fw/<place>`: the log position the form holds the place's events up to (8 bytes,
//!   big-endian); written in the same batch as the index's high-water mark, so the two
//!   agree unless an older build wrote the index (then the place is rebuilt once);
//! - `p3/fr/<place>\0<position>`: blocks of at most [`BLOCK_RECORDS`] records and about
//!   [`BLOCK_BYTES`] bytes, in log order, keyed by the position of their first record.
//!   Only the last block grows: a catch-up rewrites it with the new records appended.
//!
//! A block ([`FORMAT`] 1), little-endian:
//!
//! ```text
//! u8 format | u32 S | S x (u32 length, UTF-8 bytes) | u32 R | R records
//! record: u64 position | 12-byte valid-time sort key | u8 type | the type's fields
//! ```
//!
//! The strings (actor and session ids, relationship kinds, power domains, sectors, absent
//! voices) are interned once per block and named by their index (`u32::MAX`: none).
//! Numbers that may be absent are a flags byte and then always three `f64`s, so a record's
//! width depends on its type alone, except for the counted lists of starting power and of
//! absent voices. No names, attributes, roles or free text are kept: nothing personal
//! beyond the ids the index keys already hold, so blocks are stored unsealed. A retraction
//! is stored with its target's position, resolved when it was written (a retraction and
//! its target are always in one place's stream), so no event ids are kept either.
//!
//! Decoding gives events that hold only those fields ([`Entry::Event`]): enough for every
//! measure (they are functions of the folded state's actors, relationships, holdings,
//! sectors and counts), not for snapshots, which show names.

use shiftlog_model::{ActorId, ActorKind, Event, EventBody, SessionId, Timestamp, ERASED_TEXT};
use shiftlog_store::Position;
use std::collections::BTreeMap;

/// The blocks' key prefix.
pub(crate) const BLOCKS: &[u8] = b"p3/fr/";
/// The key prefix of how far a place's form reaches.
pub(crate) const COVERED: &[u8] = b"p3/fw/";
/// The block format this build writes and reads; a block of any other is not read (the
/// place is read from the log instead, and rebuilt).
pub const FORMAT: u8 = 1;
/// Records per block: the last block is rewritten at each catch-up, so this bounds that
/// work, while a place's history stays a few reads.
pub const BLOCK_RECORDS: u32 = 4096;
/// Encoded bytes past which a block is closed and the next record starts a new one (a
/// block is at most this plus one record). Why this small: the last block is rewritten at
/// every catch-up, and sled stores a value over about 128 KiB (a quarter of its segment)
/// as a file of its own, a "blob", whose creation can fail where an inline write cannot;
/// sled 0.34 then leaves its log buffer waiting for a writer that never finishes, and the
/// next flush (the one at drop included) hangs.
pub const BLOCK_BYTES: usize = 32 << 10;

const NONE: u32 = u32::MAX;

// Record types. One byte each; never reuse a number.
const PLACE_REGISTERED: u8 = 1;
const ACTOR_JOINED: u8 = 2;
const ACTOR_UPDATED: u8 = 3;
const ACTOR_LEFT: u8 = 4;
const RELATIONSHIP_FORMED: u8 = 5;
const RELATIONSHIP_CHANGED: u8 = 6;
const RELATIONSHIP_ENDED: u8 = 7;
const POWER_SHIFTED: u8 = 8;
const SESSION_HELD: u8 = 9;
const LEARNING_RECORDED: u8 = 10;
const OUTCOME_HARVESTED: u8 = 11;
const EVENT_RETRACTED: u8 = 12;
const ACTOR_REDACTED: u8 = 13;

// Flags of the optional numbers.
const STRENGTH: u8 = 1;
const TRUST: u8 = 2;
const VALUE: u8 = 4;
const DIRECTED_SET: u8 = 8;
const DIRECTED: u8 = 16;

fn kind_code(k: ActorKind) -> u8 {
    match k {
        ActorKind::Person => 0,
        ActorKind::Organisation => 1,
        ActorKind::Group => 2,
        ActorKind::Network => 3,
    }
}

fn kind_of(code: u8) -> Result<ActorKind, Malformed> {
    Ok(match code {
        0 => ActorKind::Person,
        1 => ActorKind::Organisation,
        2 => ActorKind::Group,
        3 => ActorKind::Network,
        _ => return Err(Malformed("an actor kind code is unknown")),
    })
}

/// Why a stored block could not be read (derived data: the place is then read from the
/// log instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a fold-ready block is malformed: {0}")]
pub struct Malformed(&'static str);

/// One block being written: its strings, interned, and its records' bytes
/// (`BlockWriter::default()` starts an empty one).
#[derive(Debug, Default)]
pub struct BlockWriter {
    strings: Vec<String>,
    index: rustc_hash::FxHashMap<String, u32>,
    records: Vec<u8>,
    count: u32,
    /// The strings' encoded bytes (each with its length).
    string_bytes: usize,
}

impl BlockWriter {
    /// A writer that continues `block` (its records are kept as they are).
    pub fn resume(block: &[u8]) -> Result<BlockWriter, Malformed> {
        let mut r = Reader::new(block)?;
        let mut w = BlockWriter::default();
        for s in r.strings()? {
            w.intern(s);
        }
        w.count = r.u32()?;
        w.records = r.rest().to_vec();
        Ok(w)
    }

    /// How many records it holds.
    pub fn records(&self) -> u32 {
        self.count
    }

    /// Whether the block is closed: it holds [`BLOCK_RECORDS`] records, or its encoding
    /// has reached [`BLOCK_BYTES`].
    pub fn is_full(&self) -> bool {
        self.count >= BLOCK_RECORDS || self.encoded_len() >= BLOCK_BYTES
    }

    /// The length of [`BlockWriter::finish`]'s bytes.
    pub fn encoded_len(&self) -> usize {
        1 + 4 + self.string_bytes + 4 + self.records.len()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.string_bytes += 4 + s.len();
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    fn id(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.intern(s))
    }

    fn u32(&mut self, x: u32) {
        self.records.extend_from_slice(&x.to_le_bytes());
    }

    fn f64(&mut self, x: f64) {
        self.records.extend_from_slice(&x.to_le_bytes());
    }

    fn numbers(&mut self, flags: u8, [a, b, c]: [Option<f64>; 3]) {
        let present = |x: Option<f64>, bit: u8| if x.is_some() { bit } else { 0 };
        self.records
            .push(flags | present(a, STRENGTH) | present(b, TRUST) | present(c, VALUE));
        for x in [a, b, c] {
            self.f64(x.unwrap_or(0.0));
        }
    }

    fn triple(&mut self, from: &ActorId, to: &ActorId, kind: &str) {
        for s in [from.as_str(), to.as_str(), kind] {
            let i = self.intern(s);
            self.u32(i);
        }
    }

    /// Appends the event at `position`; a retraction's `target` is the position of the
    /// event it takes back (ignored for other events).
    pub fn push(&mut self, position: u64, e: &Event, target: Option<u64>) {
        self.start_record(position, e.occurred_at);
        match &e.body {
            EventBody::PlaceRegistered { .. } => self.records.push(PLACE_REGISTERED),
            EventBody::ActorJoined {
                actor,
                kind,
                sector,
                power,
                ..
            } => {
                self.records.push(ACTOR_JOINED);
                let a = self.intern(actor.as_str());
                self.u32(a);
                self.records.push(kind_code(*kind));
                let s = self.id(sector.as_deref());
                self.u32(s);
                self.u32(power.len() as u32);
                for (domain, amount) in power {
                    let d = self.intern(domain);
                    self.u32(d);
                    self.f64(*amount);
                }
            }
            EventBody::ActorUpdated {
                actor, kind, sector, ..
            } => {
                self.records.push(ACTOR_UPDATED);
                let a = self.intern(actor.as_str());
                self.u32(a);
                self.records.push(kind.map_or(u8::MAX, kind_code));
                let s = self.id(sector.as_deref());
                self.u32(s);
            }
            EventBody::ActorLeft { actor } => {
                self.records.push(ACTOR_LEFT);
                let a = self.intern(actor.as_str());
                self.u32(a);
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
                self.records.push(RELATIONSHIP_FORMED);
                self.triple(from, to, kind);
                let flags = match directed {
                    None => 0,
                    Some(false) => DIRECTED_SET,
                    Some(true) => DIRECTED_SET | DIRECTED,
                };
                self.numbers(flags, [*strength, *trust, *value]);
            }
            EventBody::RelationshipChanged {
                from,
                to,
                kind,
                strength,
                trust,
                value,
            } => {
                self.records.push(RELATIONSHIP_CHANGED);
                self.triple(from, to, kind);
                self.numbers(0, [*strength, *trust, *value]);
            }
            EventBody::RelationshipEnded { from, to, kind } => {
                self.records.push(RELATIONSHIP_ENDED);
                self.triple(from, to, kind);
            }
            EventBody::PowerShifted {
                domain,
                amount,
                from,
                to,
                ..
            } => {
                self.records.push(POWER_SHIFTED);
                let d = self.intern(domain);
                self.u32(d);
                self.f64(*amount);
                let f = self.id(from.as_ref().map(ActorId::as_str));
                self.u32(f);
                let t = self.id(to.as_ref().map(ActorId::as_str));
                self.u32(t);
            }
            EventBody::SessionHeld {
                session, absent_voices, ..
            } => {
                self.records.push(SESSION_HELD);
                let s = self.intern(session.as_str());
                self.u32(s);
                self.u32(absent_voices.len() as u32);
                for v in absent_voices {
                    let i = self.intern(v);
                    self.u32(i);
                }
            }
            EventBody::LearningRecorded { .. } => self.records.push(LEARNING_RECORDED),
            EventBody::OutcomeHarvested { .. } => self.records.push(OUTCOME_HARVESTED),
            EventBody::EventRetracted { .. } => self.retraction_fields(target.unwrap_or(0)),
            EventBody::ActorRedacted { actor, .. } => {
                self.records.push(ACTOR_REDACTED);
                let a = self.intern(actor.as_str());
                self.u32(a);
            }
        }
    }

    /// Appends a decoded record as it was: an event (holding what the fold reads), or a
    /// retraction with its target's position. A retraction's valid time is not kept by
    /// decoding, so it is written as 1970-01-01: encoding what a block decodes to, then
    /// decoding and encoding that again, gives the same bytes (the fuzz target checks).
    pub fn push_entry(&mut self, entry: &Entry) {
        match entry {
            Entry::Event(p, e) => self.push(p.0, e, None),
            Entry::Retraction { position, target } => {
                self.start_record(*position, Timestamp::from_unix(0, 0).expect("1970 is in range"));
                self.retraction_fields(*target);
            }
        }
    }

    /// A record's position and valid time, the start of every record.
    fn start_record(&mut self, position: u64, occurred_at: Timestamp) {
        self.count += 1;
        self.records.extend_from_slice(&position.to_le_bytes());
        self.records.extend_from_slice(&occurred_at.sort_key());
    }

    /// A retraction's type and its target's position.
    fn retraction_fields(&mut self, target: u64) {
        self.records.push(EVENT_RETRACTED);
        self.records.extend_from_slice(&target.to_le_bytes());
    }

    /// The block's bytes.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(FORMAT);
        out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        for s in &self.strings {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.records);
        out
    }
}

/// A decoded record.
// Nearly every record is an event, moved once into a history: boxing them would cost an
// allocation each for the few retractions' sake.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// An event as the fold sees it, at its log position.
    Event(Position, Event),
    /// A retraction at `position` of the event at `target` (0: of none).
    Retraction {
        /// The retraction's own position.
        position: u64,
        /// Its target's position.
        target: u64,
    },
}

impl Entry {
    /// The record's log position.
    pub fn position(&self) -> u64 {
        match self {
            Entry::Event(p, _) => p.0,
            Entry::Retraction { position, .. } => *position,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(block: &'a [u8]) -> Result<Reader<'a>, Malformed> {
        match block.split_first() {
            Some((&FORMAT, rest)) => Ok(Reader { bytes: rest }),
            Some(_) => Err(Malformed("the block's format is not one this build reads")),
            None => Err(Malformed("the block is empty")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.bytes.len() < n {
            return Err(Malformed("the block ends inside a record"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn f64(&mut self) -> Result<f64, Malformed> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn strings(&mut self) -> Result<Vec<&'a str>, Malformed> {
        let n = self.u32()?;
        // Each string takes at least its 4-byte length: a count past that is damage, and
        // must not size an allocation.
        if n as usize > self.bytes.len() / 4 {
            return Err(Malformed("the string count is larger than the block"));
        }
        (0..n)
            .map(|_| {
                let len = self.u32()? as usize;
                std::str::from_utf8(self.take(len)?).map_err(|_| Malformed("a string is not UTF-8"))
            })
            .collect()
    }
}

/// A block's strings, looked up by index; each one an actor id is made once, and shared
/// by every record that names it (ids are cheap to clone).
struct Strings<'a> {
    text: Vec<&'a str>,
    actors: Vec<std::cell::OnceCell<ActorId>>,
}

impl<'a> Strings<'a> {
    fn new(text: Vec<&'a str>) -> Self {
        let actors = (0..text.len()).map(|_| std::cell::OnceCell::new()).collect();
        Strings { text, actors }
    }

    fn get(&self, i: u32) -> Result<&'a str, Malformed> {
        self.text
            .get(i as usize)
            .copied()
            .ok_or(Malformed("a string index is past the block's strings"))
    }

    fn text(&self, i: u32) -> Result<String, Malformed> {
        Ok(self.get(i)?.to_owned())
    }

    fn optional(&self, i: u32) -> Result<Option<String>, Malformed> {
        (i != NONE).then(|| self.text(i)).transpose()
    }

    fn actor(&self, i: u32) -> Result<ActorId, Malformed> {
        let text = self.get(i)?;
        let cell = &self.actors[i as usize];
        if let Some(a) = cell.get() {
            return Ok(a.clone());
        }
        let a = ActorId::new(text).map_err(|_| Malformed("an actor id is not valid"))?;
        Ok(cell.get_or_init(|| a).clone())
    }

    fn optional_actor(&self, i: u32) -> Result<Option<ActorId>, Malformed> {
        (i != NONE).then(|| self.actor(i)).transpose()
    }
}

/// An event holding only `body` at `occurred_at`: what the fold reads.
fn event(occurred_at: Timestamp, body: EventBody) -> Event {
    Event {
        id: None,
        occurred_at,
        place: None,
        recorded_by: None,
        source: None,
        tags: Vec::new(),
        body,
        extra: Default::default(),
    }
}

/// The block of `entries` (see [`BlockWriter::push_entry`]).
pub fn encode_block(entries: &[Entry]) -> Vec<u8> {
    let mut block = BlockWriter::default();
    for entry in entries {
        block.push_entry(entry);
    }
    block.finish()
}

/// Appends the records of `block` to `out`.
pub fn decode_block(block: &[u8], out: &mut Vec<Entry>) -> Result<(), Malformed> {
    let (mut events, mut retractions) = (Vec::new(), Vec::new());
    decode_into(block, &mut events, &mut retractions)?;
    // Both are in log order: merged back into it.
    let mut retractions = retractions.into_iter().peekable();
    for (p, e) in events {
        while let Some((position, target)) = retractions.next_if(|(q, _)| *q < p.0) {
            out.push(Entry::Retraction { position, target });
        }
        out.push(Entry::Event(p, e));
    }
    out.extend(retractions.map(|(position, target)| Entry::Retraction { position, target }));
    Ok(())
}

/// Appends the events of `block` to `events` and its retractions, as (position, target's
/// position), to `retractions`: what a history is made of, without moving the events
/// again (they are large, and a place's history holds thousands).
pub(crate) fn decode_into(
    block: &[u8],
    events: &mut Vec<(Position, Event)>,
    retractions: &mut Vec<(u64, u64)>,
) -> Result<(), Malformed> {
    let mut r = Reader::new(block)?;
    let strings = Strings::new(r.strings()?);
    let n = r.u32()?;
    // The smallest record is 21 bytes.
    if n as usize > r.rest().len() / 21 {
        return Err(Malformed("the record count is larger than the block"));
    }
    for _ in 0..n {
        let position = r.u64()?;
        let key = r.take(12)?;
        let secs = u64::from_be_bytes(key[..8].try_into().expect("8 bytes")) ^ (1 << 63);
        let nanos = u32::from_be_bytes(key[8..].try_into().expect("4 bytes"));
        let at = Timestamp::from_unix(secs as i64, nanos).ok_or(Malformed("a valid time is out of range"))?;
        let triple = |r: &mut Reader| -> Result<(ActorId, ActorId, String), Malformed> {
            Ok((
                strings.actor(r.u32()?)?,
                strings.actor(r.u32()?)?,
                strings.text(r.u32()?)?,
            ))
        };
        let numbers = |r: &mut Reader| -> Result<(u8, [Option<f64>; 3]), Malformed> {
            let flags = r.u8()?;
            let mut xs = [None; 3];
            for (x, bit) in xs.iter_mut().zip([STRENGTH, TRUST, VALUE]) {
                let v = r.f64()?;
                *x = (flags & bit != 0).then_some(v);
            }
            Ok((flags, xs))
        };
        let body = match r.u8()? {
            PLACE_REGISTERED => EventBody::PlaceRegistered {
                name: String::new(),
                region: None,
                parent: None,
            },
            ACTOR_JOINED => {
                let actor = strings.actor(r.u32()?)?;
                let kind = kind_of(r.u8()?)?;
                let sector = strings.optional(r.u32()?)?;
                let holdings = r.u32()?;
                if holdings as usize > r.rest().len() / 12 {
                    return Err(Malformed("a holdings count is larger than the block"));
                }
                let mut power = BTreeMap::new();
                for _ in 0..holdings {
                    let domain = strings.text(r.u32()?)?;
                    power.insert(domain, r.f64()?);
                }
                EventBody::ActorJoined {
                    actor,
                    name: None,
                    kind,
                    sector,
                    roles: Vec::new(),
                    power,
                    attributes: BTreeMap::new(),
                }
            }
            ACTOR_UPDATED => {
                let actor = strings.actor(r.u32()?)?;
                let kind = match r.u8()? {
                    u8::MAX => None,
                    code => Some(kind_of(code)?),
                };
                EventBody::ActorUpdated {
                    actor,
                    name: None,
                    kind,
                    sector: strings.optional(r.u32()?)?,
                    roles: None,
                    attributes: None,
                }
            }
            ACTOR_LEFT => EventBody::ActorLeft {
                actor: strings.actor(r.u32()?)?,
            },
            RELATIONSHIP_FORMED => {
                let (from, to, kind) = triple(&mut r)?;
                let (flags, [strength, trust, value]) = numbers(&mut r)?;
                EventBody::RelationshipFormed {
                    from,
                    to,
                    kind,
                    strength,
                    directed: (flags & DIRECTED_SET != 0).then_some(flags & DIRECTED != 0),
                    trust,
                    value,
                }
            }
            RELATIONSHIP_CHANGED => {
                let (from, to, kind) = triple(&mut r)?;
                let (_, [strength, trust, value]) = numbers(&mut r)?;
                EventBody::RelationshipChanged {
                    from,
                    to,
                    kind,
                    strength,
                    trust,
                    value,
                }
            }
            RELATIONSHIP_ENDED => {
                let (from, to, kind) = triple(&mut r)?;
                EventBody::RelationshipEnded { from, to, kind }
            }
            POWER_SHIFTED => EventBody::PowerShifted {
                domain: strings.text(r.u32()?)?,
                amount: r.f64()?,
                from: strings.optional_actor(r.u32()?)?,
                to: strings.optional_actor(r.u32()?)?,
                form: None,
                space: None,
                expression: None,
                evidence: None,
            },
            SESSION_HELD => {
                let session =
                    SessionId::new(strings.get(r.u32()?)?).map_err(|_| Malformed("a session id is not valid"))?;
                let voices = r.u32()?;
                if voices as usize > r.rest().len() / 4 {
                    return Err(Malformed("an absent-voice count is larger than the block"));
                }
                let absent_voices = (0..voices).map(|_| strings.text(r.u32()?)).collect::<Result<_, _>>()?;
                EventBody::SessionHeld {
                    session,
                    title: None,
                    theme: None,
                    participants: Vec::new(),
                    absent_voices,
                }
            }
            LEARNING_RECORDED => EventBody::LearningRecorded {
                text: ERASED_TEXT.to_string(),
                themes: Vec::new(),
                actors: Vec::new(),
                session: None,
            },
            OUTCOME_HARVESTED => EventBody::OutcomeHarvested {
                description: ERASED_TEXT.to_string(),
                actors: Vec::new(),
                significance: None,
                contribution: None,
                sources: Vec::new(),
                condition: None,
            },
            EVENT_RETRACTED => {
                retractions.push((position, r.u64()?));
                continue;
            }
            ACTOR_REDACTED => EventBody::ActorRedacted {
                actor: strings.actor(r.u32()?)?,
                reason: None,
            },
            _ => return Err(Malformed("a record type is unknown")),
        };
        events.push((Position(position), event(at, body)));
    }
    if !r.rest().is_empty() {
        return Err(Malformed("bytes follow the last record"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One event of every type a place's stream holds, with optional fields both set and
    /// unset, a repeated string (interned once), and a retraction of the first event.
    fn events() -> Vec<(u64, Event, Option<u64>)> {
        let lines = [
            r#"{"type":"place_registered","id":"r","occurred_at":"2024-01-01","place":"west","name":"West"}"#,
            r#"{"type":"actor_joined","id":"j","occurred_at":"2024-01-02T10:00:00.5Z","place":"west","actor":"a","name":"Ann","kind":"person","sector":"health","roles":["chair"],"power":{"budget":0.75}}"#,
            r#"{"type":"actor_updated","id":"u","occurred_at":"2024-01-03","place":"west","actor":"a","kind":"group"}"#,
            r#"{"type":"relationship_formed","id":"f","occurred_at":"2024-01-04","place":"west","from":"a","to":"b","kind":"trust","strength":0.5,"directed":false,"value":0.25}"#,
            r#"{"type":"relationship_changed","id":"c","occurred_at":"2024-01-05","place":"west","from":"a","to":"b","kind":"trust","trust":0.125}"#,
            r#"{"type":"relationship_ended","id":"e","occurred_at":"2024-01-06","place":"west","from":"a","to":"b","kind":"trust"}"#,
            r#"{"type":"power_shifted","id":"p","occurred_at":"2024-01-07","place":"west","domain":"budget","amount":0.5,"from":"a","evidence":"minutes"}"#,
            r#"{"type":"session_held","id":"s","occurred_at":"2024-01-08","place":"west","session":"s1","title":"First","participants":["a"],"absent_voices":["young people","carers"]}"#,
            r#"{"type":"learning_recorded","id":"l","occurred_at":"2024-01-09","place":"west","text":"noted"}"#,
            r#"{"type":"outcome_harvested","id":"o","occurred_at":"2024-01-10","place":"west","description":"done","actors":["a"]}"#,
            r#"{"type":"actor_left","id":"x","occurred_at":"1969-12-31T23:59:59Z","place":"west","actor":"a"}"#,
            r#"{"type":"event_retracted","id":"t","occurred_at":"2024-01-11","place":"west","target":"r","reason":"wrong"}"#,
        ];
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let e = Event::from_json(&serde_json::from_str(l).unwrap()).unwrap();
                let target = matches!(e.body, EventBody::EventRetracted { .. }).then_some(1);
                (i as u64 + 1, e, target)
            })
            .collect()
    }

    fn block() -> Vec<u8> {
        let mut w = BlockWriter::default();
        for (p, e, t) in events() {
            w.push(p, &e, t);
        }
        w.finish()
    }

    /// Format 1 as it is stored: a change to these bytes is a new format, not an edit.
    /// (Checked by hand against the layout above: 8 strings `a`, `health`, `budget`, `b`,
    /// `trust`, `s1`, `young people`, `carers`; 12 records; 2024-01-02T10:00:00.5Z is
    /// seconds 0x6593dea0 and nanoseconds 0x1dcd6500 after the sign bit; the formation's
    /// flags 0x0d are strength, value and "directed set" with directed false; the
    /// departure before 1970 has seconds 0x7fffffffffffffff.)
    const GOLDEN: &str = concat!(
        "01080000000100000061060000006865616c746806000000627564676574010000006205000000747275737402000000",
        "73310c000000796f756e672070656f706c65060000006361726572730c00000001000000000000008000000065920080",
        "00000000010200000000000000800000006593dea01dcd65000200000000000100000001000000020000000000000000",
        "00e83f0300000000000000800000006594a38000000000030000000002ffffffff0400000000000000800000006595f5",
        "0000000000050000000003000000040000000d000000000000e03f0000000000000000000000000000d03f0500000000",
        "00000080000000659746800000000006000000000300000004000000020000000000000000000000000000c03f000000",
        "000000000006000000000000008000000065989800000000000700000000030000000400000007000000000000008000",
        "00006599e980000000000802000000000000000000e03f00000000ffffffff080000000000000080000000659b3b0000",
        "0000000905000000020000000600000007000000090000000000000080000000659c8c80000000000a0a000000000000",
        "0080000000659dde00000000000b0b000000000000007fffffffffffffff0000000004000000000c0000000000000080",
        "000000659f2f80000000000c0100000000000000",
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn format_1_bytes_are_fixed() {
        assert_eq!(hex(&block()), GOLDEN);
    }

    #[test]
    fn a_block_decodes_to_what_the_fold_reads() {
        let mut out = Vec::new();
        decode_block(&block(), &mut out).unwrap();
        let events = events();
        assert_eq!(out.len(), events.len());
        for (entry, (p, e, _)) in out.iter().zip(&events) {
            match (entry, &e.body) {
                (Entry::Retraction { position, target }, EventBody::EventRetracted { .. }) => {
                    assert_eq!((*position, *target), (*p, 1));
                }
                (Entry::Event(q, d), _) => {
                    assert_eq!(q.0, *p);
                    assert_eq!(d.occurred_at, e.occurred_at);
                    // Everything the fold reads is kept; names, roles and texts are not.
                    let mut fold_sees = e.clone();
                    fold_sees.take_personal_data();
                    assert_eq!(d.event_type(), e.event_type());
                    match (&d.body, &fold_sees.body) {
                        (
                            EventBody::ActorJoined {
                                actor,
                                kind,
                                sector,
                                power,
                                name,
                                roles,
                                ..
                            },
                            EventBody::ActorJoined {
                                actor: a2,
                                kind: k2,
                                sector: s2,
                                power: p2,
                                ..
                            },
                        ) => {
                            assert_eq!((actor, kind, sector, power), (a2, k2, s2, p2));
                            assert!(name.is_none() && roles.is_empty());
                        }
                        (EventBody::SessionHeld { title, .. }, EventBody::SessionHeld { .. }) => {
                            assert!(title.is_none());
                            let voices = |b: &EventBody| match b {
                                EventBody::SessionHeld {
                                    session, absent_voices, ..
                                } => (session.clone(), absent_voices.clone()),
                                _ => unreachable!(),
                            };
                            assert_eq!(voices(&d.body), voices(&e.body));
                        }
                        (EventBody::PowerShifted { evidence, .. }, _) => {
                            assert!(evidence.is_none());
                            let mut without = fold_sees.body.clone();
                            if let EventBody::PowerShifted {
                                form,
                                space,
                                expression,
                                ..
                            } = &mut without
                            {
                                (*form, *space, *expression) = (None, None, None);
                            }
                            assert_eq!(d.body, without);
                        }
                        (
                            EventBody::PlaceRegistered { .. }
                            | EventBody::LearningRecorded { .. }
                            | EventBody::OutcomeHarvested { .. },
                            _,
                        ) => {}
                        (body, _) => assert_eq!(body, &fold_sees.body),
                    }
                }
                (Entry::Retraction { .. }, _) => panic!("a retraction where {e:?} was"),
            }
        }
    }

    #[test]
    fn a_resumed_block_is_the_block_written_at_once() {
        let events = events();
        let mut first = BlockWriter::default();
        for (p, e, t) in &events[..5] {
            first.push(*p, e, *t);
        }
        let mut resumed = BlockWriter::resume(&first.finish()).unwrap();
        assert_eq!(resumed.records(), 5);
        for (p, e, t) in &events[5..] {
            resumed.push(*p, e, *t);
        }
        assert_eq!(resumed.finish(), block());
    }

    /// A block closes at [`BLOCK_BYTES`] (long before [`BLOCK_RECORDS`] when its records
    /// bring new long strings), so no block is stored as a sled blob; a resumed block knows
    /// its length.
    #[test]
    fn a_block_closes_at_its_byte_budget() {
        let mut w = BlockWriter::default();
        let mut n = 0u64;
        while !w.is_full() {
            let before = w.encoded_len();
            assert!(before < BLOCK_BYTES);
            let line = format!(
                r#"{{"type":"actor_joined","id":"j{n}","occurred_at":"2024-01-02","place":"west","actor":"{}-{n}","kind":"person"}}"#,
                "a".repeat(100)
            );
            let e = Event::from_json(&serde_json::from_str(&line).unwrap()).unwrap();
            n += 1;
            w.push(n, &e, None);
            assert_eq!(w.encoded_len(), w.finish().len());
        }
        assert!(w.records() < BLOCK_RECORDS);
        assert!(w.encoded_len() >= BLOCK_BYTES && w.encoded_len() < BLOCK_BYTES + 200);
        let resumed = BlockWriter::resume(&w.finish()).unwrap();
        assert_eq!(resumed.encoded_len(), w.encoded_len());
        assert!(resumed.is_full());
        assert!(!BlockWriter::resume(&block()).unwrap().is_full());
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let whole = block();
        let mut out = Vec::new();
        for cut in 0..whole.len() {
            assert!(decode_block(&whole[..cut], &mut out).is_err(), "cut at {cut}");
        }
        let mut longer = whole.clone();
        longer.push(0);
        assert_eq!(
            decode_block(&longer, &mut out),
            Err(Malformed("bytes follow the last record"))
        );
        let mut other = whole.clone();
        other[0] = 2;
        assert!(decode_block(&other, &mut out).is_err());
        // A huge count must not size an allocation.
        let mut huge = vec![FORMAT];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_block(&huge, &mut out).is_err());
    }

    proptest! {
        /// Any bytes, and any one-byte change to a good block: an error or records, never
        /// a panic.
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), at in any::<usize>(), to in any::<u8>()) {
            let mut out = Vec::new();
            let _ = decode_block(&bytes, &mut out);
            let mut changed = block();
            let i = at % changed.len();
            changed[i] = to;
            let _ = decode_block(&changed, &mut out);
            let mut with_format = vec![FORMAT];
            with_format.extend_from_slice(&bytes);
            let _ = decode_block(&with_format, &mut out);
            // A catch-up resumes the stored last block: damaged, it is an error or a
            // block to close, never a panic.
            for stored in [&bytes, &changed, &with_format] {
                if let Ok(mut w) = BlockWriter::resume(stored) {
                    // As `catch_up` does: a full block is closed, not grown.
                    if !w.is_full() {
                        w.push_entry(&Entry::Retraction { position: 9, target: 1 });
                    }
                    let _ = w.finish();
                }
            }
        }
    }
}
