//! Fault injection for tests: damaging a closed store the way failing disks and crashes
//! do, without the tests having to know the key layout. Not part of the supported API.

use super::{keys, pages, SLED_DIR};
use crate::codec;
use crate::error::StoreError;
use crate::types::RecordedEvent;
use shiftlog_model::EventBody;
use std::path::Path;

/// The steps of a redaction in the writer, after its group is durable; a hook set with
/// [`super::SledOptions::on_redaction_step`] is called at each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionStep {
    /// The redaction is durable in the log; nothing is erased yet.
    Committed,
    /// Derived data is unreadable and cleared; the actors' keys are still there.
    DerivedCleared,
    /// The keys are destroyed; the caller has not been answered yet.
    KeysDestroyed,
}

impl RedactionStep {
    /// Every step, in order.
    pub const ALL: [RedactionStep; 3] = [
        RedactionStep::Committed,
        RedactionStep::DerivedCleared,
        RedactionStep::KeysDestroyed,
    ];
}

/// Called at each [`RedactionStep`], on the writer's thread.
pub type RedactionHook = std::sync::Arc<dyn Fn(RedactionStep) + Send + Sync>;

/// Opens the store's sled database the way the log does, waiting out sled's lock if the
/// log that just closed still has I/O threads finishing.
fn open(dir: &Path) -> Result<sled::Db, StoreError> {
    Ok(super::open_sled(&dir.join(SLED_DIR))?)
}

/// Rewrites the page holding the record at `position` with `change`, which gets the page's
/// bytes, where that record's length prefix starts in them, and the record's length.
fn rewrite_page(
    dir: &Path,
    position: u64,
    change: impl FnOnce(&[u8], usize, usize) -> Vec<u8>,
) -> Result<(), StoreError> {
    let db = open(dir)?;
    let page = pages::page_of(position);
    let bytes = db
        .get(pages::key(page))?
        .ok_or_else(|| StoreError::Corrupt("no such page".into()))?;
    let mut start = 0;
    for (p, rec) in pages::split(page, &bytes)? {
        if p == position {
            db.insert(pages::key(page), change(&bytes, start, rec.len()))?;
            db.flush()?;
            return Ok(());
        }
        start += 4 + rec.len();
    }
    Err(StoreError::Corrupt(format!("no record at {position}")))
}

/// Flips the bits of `mask` in byte `offset` of the stored record at `position`.
pub fn flip_record_byte(dir: &Path, position: u64, offset: usize, mask: u8) -> Result<(), StoreError> {
    rewrite_page(dir, position, |bytes, start, len| {
        let mut changed = bytes.to_vec();
        // Records start after their 4-byte length.
        changed[start + 4 + offset.min(len - 1)] ^= mask;
        changed
    })
}

/// Cuts the page holding `position` short, just before that record: what a lost write
/// leaves behind.
pub fn truncate_page_at(dir: &Path, position: u64) -> Result<(), StoreError> {
    rewrite_page(dir, position, |bytes, start, _| bytes[..start].to_vec())
}

/// Writes records past the committed head, with their index entries, and leaves the head
/// where it is: what an append cut short by a crash leaves behind.
pub fn write_uncommitted(dir: &Path, records: &[RecordedEvent]) -> Result<(), StoreError> {
    let db = open(dir)?;
    for r in records {
        let p = r.position.0;
        let page = pages::page_of(p);
        let mut bytes = db.get(pages::key(page))?.map(|b| b.to_vec()).unwrap_or_default();
        pages::push(&mut bytes, &codec::encode(r, &codec::NoKeys));
        db.insert(pages::key(page), bytes)?;
        db.insert(keys::id(r.id()), &p.to_be_bytes())?;
        if let EventBody::ActorJoined { actor, .. } = &r.event.body {
            let place = r.event.place.as_ref().expect("has place");
            db.insert(keys::join(place, actor, r.event.occurred_at, p), &[])?;
        }
    }
    db.flush()?;
    Ok(())
}

/// Removes the id index entry of event `id`: an index that no longer agrees with the log.
pub fn remove_id_entry(dir: &Path, id: &shiftlog_model::EventId) -> Result<(), StoreError> {
    let db = open(dir)?;
    db.remove(keys::id(id))?
        .ok_or_else(|| StoreError::Corrupt(format!("no index entry for `{id}`")))?;
    db.flush()?;
    Ok(())
}
