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

pub(crate) use crate::archive::{first_position, page_of, push, split, PAGE_EVENTS};

pub(crate) const TAG: u8 = b'e';

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
