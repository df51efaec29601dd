//! The on-disk key layout (one sled tree; the first byte says what a key is).
//!
//! | key | value | what |
//! |---|---|---|
//! | `m` name | varies | metadata: `mformat` (u32), `mhead` (u64), `mplaces`, `mactors` (u64 counts) |
//! | `e` page (u64 BE) | up to 16 records ([`super::pages`]) | the log itself |
//! | `i` event id | position (u64 BE) | idempotency and reads by id |
//! | `c` stream 0x00 first-version (u64 BE) | positions (varints) | a stream's events, one entry per commit; the last one gives the stream's version |
//! | `r` place 0x00 position | empty | non-retracted `place_registered` events |
//! | `j` place 0x00 actor 0x00 occurred_at (12 B) position | empty | non-retracted `actor_joined` events |
//! | `p` place | position (u64 BE) | every place ever registered (first registration) |
//! | `a` actor | position (u64 BE), key slot (u32 BE) | every actor that ever joined (first join), and where its key is in the keys file |
//!
//! A stream is a place id, or nothing for the unplaced stream. Ids never contain 0x00
//! (control characters are rejected), so 0x00 ends a variable-length part unambiguously.

use crate::types::Stream;
use shiftlog_model::{ActorId, EventId, PlaceId, Timestamp};

pub(crate) const META_FORMAT: &[u8] = b"mformat";
pub(crate) const META_HEAD: &[u8] = b"mhead";
pub(crate) const META_PLACES: &[u8] = b"mplaces";
pub(crate) const META_ACTORS: &[u8] = b"mactors";

pub(crate) const ID: u8 = b'i';
pub(crate) const CHUNK: u8 = b'c';
pub(crate) const REGISTRATION: u8 = b'r';
pub(crate) const JOIN: u8 = b'j';
pub(crate) const PLACE: u8 = b'p';
pub(crate) const ACTOR: u8 = b'a';

fn tagged(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub(crate) fn id(id: &EventId) -> Vec<u8> {
    tagged(ID, &[id.as_str().as_bytes()])
}

fn stream_bytes(stream: &Stream) -> &[u8] {
    match stream {
        Stream::Place(p) => p.as_str().as_bytes(),
        Stream::Unplaced => b"",
    }
}

pub(crate) fn chunk_prefix(stream: &Stream) -> Vec<u8> {
    tagged(CHUNK, &[stream_bytes(stream), &[0]])
}

pub(crate) fn chunk(stream: &Stream, first_version: u64) -> Vec<u8> {
    tagged(CHUNK, &[stream_bytes(stream), &[0], &first_version.to_be_bytes()])
}

/// The stream bytes (empty for the unplaced stream) and first version of a chunk key;
/// `None` when the key is not one (damage).
pub(crate) fn parse_chunk(key: &[u8]) -> Option<(&[u8], u64)> {
    let rest = key.strip_prefix(&[CHUNK])?;
    let split = rest.len().checked_sub(9)?;
    let (stream, tail) = rest.split_at(split);
    if tail[0] != 0 {
        return None;
    }
    Some((stream, u64::from_be_bytes(tail[1..].try_into().ok()?)))
}

/// The place of a `p` key; `None` when the key is not one (damage).
pub(crate) fn parse_place(key: &[u8]) -> Option<PlaceId> {
    let name = std::str::from_utf8(key.strip_prefix(&[PLACE])?).ok()?;
    PlaceId::new(name).ok()
}

/// Whether a key has one of the forms the store writes (pages, indexes, metadata), judged
/// by its tag and length alone; anything else is damage.
pub(crate) fn is_known(key: &[u8]) -> bool {
    match key.first() {
        Some(&super::pages::TAG) => super::pages::page_number(key).is_some(),
        Some(&CHUNK) => parse_chunk(key).is_some(),
        Some(&ID) | Some(&REGISTRATION) | Some(&JOIN) | Some(&PLACE) | Some(&ACTOR) => key.len() > 1,
        Some(b'm') => [META_FORMAT, META_HEAD, META_PLACES, META_ACTORS].contains(&key),
        _ => false,
    }
}

/// An index entry that does not parse: the indexes are damaged, and the log can rebuild them.
pub(crate) fn damaged(what: impl std::fmt::Display) -> crate::error::StoreError {
    crate::error::StoreError::Corrupt(format!(
        "{what} is malformed: the store's indexes are damaged; `shiftlog repair-indexes` rebuilds them from the log"
    ))
}

pub(crate) fn registration(place: &PlaceId, position: u64) -> Vec<u8> {
    tagged(
        REGISTRATION,
        &[place.as_str().as_bytes(), &[0], &position.to_be_bytes()],
    )
}

/// (place, position) from a registration key.
pub(crate) fn parse_registration(key: &[u8]) -> Option<(PlaceId, u64)> {
    let rest = key.strip_prefix(&[REGISTRATION])?;
    let (place, tail) = rest.split_at(rest.len().checked_sub(9)?);
    if tail[0] != 0 {
        return None;
    }
    let place = PlaceId::new(std::str::from_utf8(place).ok()?).ok()?;
    Some((place, u64::from_be_bytes(tail[1..].try_into().ok()?)))
}

pub(crate) fn join_prefix(place: &PlaceId, actor: &ActorId) -> Vec<u8> {
    tagged(
        JOIN,
        &[place.as_str().as_bytes(), &[0], actor.as_str().as_bytes(), &[0]],
    )
}

pub(crate) fn join(place: &PlaceId, actor: &ActorId, at: Timestamp, position: u64) -> Vec<u8> {
    let mut k = join_prefix(place, actor);
    k.extend_from_slice(&at.sort_key());
    k.extend_from_slice(&position.to_be_bytes());
    k
}

/// (occurred_at, position) from the tail of a join key.
pub(crate) fn parse_join_tail(key: &[u8]) -> Option<(Timestamp, u64)> {
    let tail = &key[key.len().checked_sub(20)?..];
    let secs = u64::from_be_bytes(tail[..8].try_into().ok()?) ^ (1u64 << 63);
    let nanos = u32::from_be_bytes(tail[8..12].try_into().ok()?);
    let at = Timestamp::from_unix(secs as i64, nanos)?;
    Some((at, u64::from_be_bytes(tail[12..].try_into().ok()?)))
}

pub(crate) fn place(place: &PlaceId) -> Vec<u8> {
    tagged(PLACE, &[place.as_str().as_bytes()])
}

pub(crate) fn actor(actor: &ActorId) -> Vec<u8> {
    tagged(ACTOR, &[actor.as_str().as_bytes()])
}

/// The `r` or `j` entry a record makes while it is not retracted: the one rule the writer,
/// crash recovery, `verify` and `repair-indexes` share.
pub(crate) fn membership(r: &crate::types::RecordedEvent) -> Option<Vec<u8>> {
    use shiftlog_model::EventBody;
    let place = r.event.place.as_ref()?;
    match &r.event.body {
        EventBody::PlaceRegistered { .. } => Some(registration(place, r.position.0)),
        EventBody::ActorJoined { actor, .. } => Some(join(place, actor, r.event.occurred_at, r.position.0)),
        _ => None,
    }
}

/// An `a` entry's value: the actor's first join and its key slot.
pub(crate) fn actor_value(position: u64, slot: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&position.to_be_bytes());
    v[8..].copy_from_slice(&slot.to_be_bytes());
    v
}

pub(crate) fn parse_actor_value(v: &[u8]) -> Option<(u64, u32)> {
    let v: &[u8; 12] = v.try_into().ok()?;
    Some((
        u64::from_be_bytes(v[..8].try_into().ok()?),
        u32::from_be_bytes(v[8..].try_into().ok()?),
    ))
}

pub(crate) fn u64_value(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Positions as LEB128 varints: the first, then the gaps.
pub(crate) fn encode_positions(ps: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ps.len() * 2 + 2);
    let mut prev = 0u64;
    for &p in ps {
        let mut x = p - prev;
        prev = p;
        loop {
            let byte = (x & 0x7f) as u8;
            x >>= 7;
            if x == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

pub(crate) fn decode_positions(bytes: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    let mut prev = 0u64;
    let mut x = 0u64;
    let mut shift = 0u32;
    for &b in bytes {
        if shift > 63 {
            return None;
        }
        x |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            prev = prev.checked_add(x)?;
            out.push(prev);
            x = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let ps = vec![1, 2, 130, 100_000, u64::MAX / 2];
        assert_eq!(decode_positions(&encode_positions(&ps)), Some(ps));
        assert_eq!(decode_positions(&[0x80]), None);
    }

    #[test]
    fn join_keys() {
        let p = PlaceId::new("p").unwrap();
        let a = ActorId::new("a").unwrap();
        let t: Timestamp = "1960-05-01T10:00:00.25Z".parse().unwrap();
        let k = join(&p, &a, t, 77);
        assert!(k.starts_with(&join_prefix(&p, &a)));
        assert_eq!(parse_join_tail(&k), Some((t, 77)));
        assert_eq!(parse_registration(&registration(&p, 9)), Some((p, 9)));
    }
}
