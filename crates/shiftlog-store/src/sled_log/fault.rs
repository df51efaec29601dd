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

/// A raw key and its new value (`None`: removed).
pub type RawWrite = (Vec<u8>, Option<Vec<u8>>);

/// Every key in the closed store's database, in order.
pub fn raw_keys(dir: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let db = open(dir)?;
    db.iter().keys().map(|k| Ok(k?.to_vec())).collect()
}

/// The value of a raw key in the closed store's database.
pub fn raw_get(dir: &Path, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(open(dir)?.get(key)?.map(|v| v.to_vec()))
}

/// Sets (`Some`) or removes (`None`) raw keys of the closed store's database, whatever
/// they mean: what a damaged disk or a stray tool does to an index.
pub fn raw_write(dir: &Path, ops: &[RawWrite]) -> Result<(), StoreError> {
    let db = open(dir)?;
    for (k, v) in ops {
        match v {
            Some(v) => db.insert(k.as_slice(), v.as_slice())?,
            None => db.remove(k.as_slice())?,
        };
    }
    db.flush()?;
    Ok(())
}

/// Reads `data` as a list of damages and writes them into the closed store: the fuzz
/// target `store_damage` and its corpus replay share this reading. Each damage starts
/// with a byte whose low two bits choose: remove an existing key; set an existing key's
/// value; write a new key (any bytes); flip bits in an existing value. Indexes into the
/// store's keys wrap around; lengths are a byte each.
pub fn damage_from_bytes(dir: &Path, data: &[u8]) -> Result<usize, StoreError> {
    let existing = raw_keys(dir)?;
    if existing.is_empty() {
        return Ok(0);
    }
    let mut bytes = data.iter().copied();
    let mut take = |n: usize| -> Vec<u8> { bytes.by_ref().take(n).collect() };
    let mut ops: Vec<RawWrite> = Vec::new();
    loop {
        let head = take(2);
        let [kind, pick] = head[..] else { break };
        let key = existing[pick as usize % existing.len()].clone();
        match kind % 4 {
            0 => ops.push((key, None)),
            1 => {
                let len = take(1).first().copied().unwrap_or(0) as usize;
                ops.push((key, Some(take(len))));
            }
            2 => {
                let len = 1 + pick as usize % 24;
                let new_key = take(len);
                let vlen = take(1).first().copied().unwrap_or(0) as usize;
                if !new_key.is_empty() {
                    ops.push((new_key, Some(take(vlen))));
                }
            }
            _ => {
                let at = take(2);
                let [offset, mask] = at[..] else { break };
                let mut v = raw_get(dir, &key)?.unwrap_or_default();
                if !v.is_empty() {
                    let i = offset as usize % v.len();
                    v[i] ^= mask.max(1);
                    ops.push((key, Some(v)));
                }
            }
        }
    }
    raw_write(dir, &ops)?;
    Ok(ops.len())
}

/// Writes a small store into `dir` with every kind of index entry over several pages: two
/// places, people with names, relationships, a session, a retraction, an actor leaving and
/// a redaction. The damage tests and the `store_damage` fuzz target start from it. Call it
/// outside an async runtime.
pub fn damage_template(dir: &Path) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut lines = vec![
        r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"northbrook","name":"N"}"#
            .to_string(),
        r#"{"type":"place_registered","id":"p2","occurred_at":"2023-01-01","place":"eastholm","name":"E"}"#.to_string(),
    ];
    for i in 0..12 {
        let place = if i % 2 == 0 { "northbrook" } else { "eastholm" };
        lines.push(format!(
            r#"{{"type":"actor_joined","id":"a{i}","occurred_at":"2023-01-02","place":"{place}","actor":"actor-{i}","kind":"person","name":"Person {i}"}}"#
        ));
        if i >= 2 {
            lines.push(format!(
                r#"{{"type":"relationship_formed","id":"r{i}","occurred_at":"2023-02-01","place":"{place}","from":"actor-{i}","to":"actor-{}","kind":"trust"}}"#,
                i - 2
            ));
        }
    }
    lines.extend(
        [
            r#"{"type":"session_held","id":"s1","occurred_at":"2023-03-01","place":"northbrook","session":"s1","title":"First","participants":["actor-0","actor-2"]}"#,
            r#"{"type":"event_retracted","id":"x1","occurred_at":"2023-03-02","target":"r4","reason":"wrong"}"#,
            r#"{"type":"actor_left","id":"l1","occurred_at":"2023-03-03","place":"eastholm","actor":"actor-5"}"#,
            r#"{"type":"actor_redacted","id":"red1","occurred_at":"2023-03-04","actor":"actor-0","reason":"asked"}"#,
        ]
        .map(String::from),
    );
    let input = shiftlog_model::parse_input(&lines.join("\n"));
    assert!(input.rejections.is_empty(), "the template is valid");
    let events = input.events.into_iter().map(|e| e.event).collect();
    let fixed: crate::Clock = std::sync::Arc::new(|| "2025-01-01T00:00:00Z".parse().expect("a time"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::io(dir, e))?;
    runtime.block_on(async {
        use crate::EventLog;
        let log = super::SledLog::open_with(dir, super::SledOptions::default().clock(fixed))?;
        log.append(crate::AppendRequest::new(events))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the template was refused: {e}")))?;
        let all = log.read(crate::Position(1), usize::MAX).await?;
        log.close();
        Ok(all)
    })
}

/// Copies a closed store (a directory tree) to `to`: each damage case starts from a fresh
/// copy of one template.
pub fn copy_store(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_store(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// What restoring some bytes did, as [`check_restore`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// It made a store that opens, verifies and reads every event its backup held.
    Sound,
    /// It was refused with an error, and nothing was left behind.
    Refused,
}

/// Restores `bytes` (written to `work/in.bak`) into `work/restored`, and panics, as a test or
/// a fuzz target reports a failure, unless it either made a sound store or was refused
/// leaving nothing behind. Removes what it made. The check that the restore property test
/// and the `backup_restore` fuzz target share.
pub fn check_restore(bytes: &[u8], work: &Path) -> Restored {
    let file = work.join("in.bak");
    std::fs::write(&file, bytes).expect("the work directory takes a file");
    let target = work.join("restored");
    match super::SledLog::restore(&file, &target) {
        Ok(summary) => {
            let log = super::SledLog::open(&target).expect("a restored store opens");
            let problems = log.verify().expect("verify runs");
            assert!(problems.is_empty(), "a restored store verifies: {problems:?}");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            let all = runtime
                .block_on(crate::EventLog::read(&log, crate::Position(1), usize::MAX))
                .expect("a restored store reads");
            assert_eq!(
                all.len() as u64,
                summary.head,
                "a restored store holds its backup's events"
            );
            log.close();
            std::fs::remove_dir_all(&target).expect("the restored store is removed");
            Restored::Sound
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a refusal says why");
            assert!(
                !target.exists(),
                "a refused restore left {} behind ({e})",
                target.display()
            );
            Restored::Refused
        }
    }
}
