//! Records are stored in pages of [`PAGE_EVENTS`] consecutive positions, one sled value per
//! page: a bulk append then costs sled one insert per 16 events instead of one per event,
//! and a small group commit writes one or two pages.
//!
//! A page is `[len: u32 LE][record]` repeated; its first record is position
//! `page * PAGE_EVENTS + 1` and the rest follow densely. Each record keeps its own checksum
//! ([`crate::codec`]), so damage is pinned to one position.

use crate::codec;
use crate::error::StoreError;
use crate::types::{Position, RecordedEvent};

/// Events per page.
pub(crate) const PAGE_EVENTS: u64 = 16;

pub(crate) const TAG: u8 = b'e';

pub(crate) fn page_of(position: u64) -> u64 {
    // Position 0 is never stored; saturating keeps a damaged head from overflowing.
    position.saturating_sub(1) / PAGE_EVENTS
}

pub(crate) fn first_position(page: u64) -> u64 {
    // Saturating: a damaged page key may name any number.
    page.saturating_mul(PAGE_EVENTS).saturating_add(1)
}

pub(crate) fn key(page: u64) -> [u8; 9] {
    let mut k = [TAG; 9];
    k[1..].copy_from_slice(&page.to_be_bytes());
    k
}

pub(crate) fn page_number(key: &[u8]) -> Option<u64> {
    match key {
        [TAG, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The key range of every page from `page` on.
pub(crate) fn from(page: u64) -> std::ops::RangeInclusive<[u8; 9]> {
    key(page)..=key(u64::MAX)
}

pub(crate) fn push(page: &mut Vec<u8>, record: &[u8]) {
    page.extend_from_slice(&(record.len() as u32).to_le_bytes());
    page.extend_from_slice(record);
}

/// A page's records with their positions; a broken length is damage at that position.
pub(crate) fn split(page: u64, bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, StoreError> {
    let mut out = Vec::with_capacity(PAGE_EVENTS as usize);
    let mut rest = bytes;
    let mut position = first_position(page);
    while !rest.is_empty() {
        let damaged = |reason: &str| StoreError::Damaged {
            position: Position(position),
            reason: reason.into(),
        };
        if rest.len() < 4 || out.len() as u64 == PAGE_EVENTS {
            return Err(damaged("the page holding it is malformed"));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() - 4 < len {
            return Err(damaged("its length runs past the end of its page"));
        }
        out.push((position, &rest[4..4 + len]));
        rest = &rest[4 + len..];
        position = position.saturating_add(1);
    }
    Ok(out)
}

/// Reads the record at `position`, or says it is missing.
pub(crate) fn record(tree: &sled::Tree, position: u64, keys: &dyn codec::Keys) -> Result<RecordedEvent, StoreError> {
    let page = page_of(position);
    let missing = || StoreError::Corrupt(format!("position {position} is missing from the log"));
    let bytes = tree.get(key(page))?.ok_or_else(missing)?;
    let (_, rec) = split(page, &bytes)?
        .into_iter()
        .find(|(p, _)| *p == position)
        .ok_or_else(missing)?;
    codec::decode_at(Position(position), rec, keys)
}
