//! Looking after a data directory: backups, restores, integrity checks and rebuilding the
//! indexes from the log.
//!
//! Everything here works from the records alone: the indexes (`i`, `c`, `r`, `j`, `p`,
//! `a`) and the counters are a function of the records up to the head, which
//! [`Expected`] computes in one pass.

use super::vault::Vault;
use super::{keys, pages, SledLog, DERIVED_DIR, SLED_DIR, STORE_FORMAT};
use crate::archive::{ArchiveReader, ArchiveWriter, BackupSummary};
use crate::codec::{self, NoKeys};
use crate::error::StoreError;
use crate::store::Problem;
use crate::types::{Position, RecordedEvent, Stream};
use shiftlog_model::{ActorId, EventBody, EventId, PlaceId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering;

fn problem(what: impl Into<String>, detail: impl Into<String>) -> Problem {
    Problem {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Index entries as the records up to the head say they should be.
#[derive(Default)]
struct Expected {
    streams: BTreeMap<Vec<u8>, Vec<u64>>,
    /// `r` and `j` keys of registrations and joins not retracted.
    live: BTreeMap<Vec<u8>, EventId>,
    by_id: HashMap<EventId, Vec<u8>>,
    places: BTreeMap<Vec<u8>, u64>,
    /// `a` keys with their values, and how many actors (slots) there are.
    actors: BTreeMap<Vec<u8>, [u8; 12]>,
    actor_count: u32,
    redacted: BTreeSet<ActorId>,
}

impl Expected {
    fn add(&mut self, r: &RecordedEvent) {
        let p = r.position.0;
        let stream = match &r.stream {
            Stream::Place(pl) => pl.as_str().as_bytes().to_vec(),
            Stream::Unplaced => Vec::new(),
        };
        self.streams.entry(stream).or_default().push(p);
        if let Some(k) = keys::membership(r) {
            self.by_id.insert(r.id().clone(), k.clone());
            self.live.insert(k, r.id().clone());
        }
        match &r.event.body {
            EventBody::PlaceRegistered { .. } => {
                let place = r.event.place.as_ref().expect("has place");
                self.places.entry(keys::place(place)).or_insert(p);
            }
            EventBody::ActorJoined { actor, .. } => {
                let ak = keys::actor(actor);
                if !self.actors.contains_key(&ak) {
                    self.actors.insert(ak, keys::actor_value(p, self.actor_count));
                    self.actor_count += 1;
                }
            }
            EventBody::EventRetracted { target, .. } => {
                if let Some(k) = self.by_id.remove(target) {
                    self.live.remove(&k);
                }
            }
            EventBody::ActorRedacted { actor, .. } => {
                self.redacted.insert(actor.clone());
            }
            _ => {}
        }
    }
}

/// Reads records 1..=head in order, page by page; `f` sees each (or the damage found).
fn each_record(
    tree: &sled::Tree,
    head: u64,
    keys: &dyn codec::Keys,
    mut f: impl FnMut(u64, Result<RecordedEvent, StoreError>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if head == 0 {
        return Ok(());
    }
    let mut expected = 1;
    for item in tree.range(pages::key(0)..=pages::key(pages::page_of(head))) {
        let (k, v) = item?;
        let Some(page) = pages::page_number(&k) else { continue };
        while pages::first_position(page) > expected && expected <= head {
            f(expected, Err(StoreError::Corrupt("missing from the log".into())))?;
            expected += 1;
        }
        match pages::split(page, &v) {
            Ok(records) => {
                for (p, rec) in records {
                    if p > head {
                        break;
                    }
                    f(p, codec::decode_at(Position(p), rec, keys))?;
                    expected = p + 1;
                }
            }
            Err(e) => {
                let end = pages::first_position(page)
                    .saturating_add(pages::PAGE_EVENTS)
                    .min(head.saturating_add(1));
                for p in expected..end {
                    f(p, Err(StoreError::Corrupt(format!("its page is unreadable: {e}"))))?;
                }
                expected = end;
            }
        }
    }
    for p in expected..=head {
        f(p, Err(StoreError::Corrupt("missing from the log".into())))?;
    }
    Ok(())
}

fn meta(tree: &sled::Tree, key: &[u8]) -> Result<Option<u64>, StoreError> {
    Ok(tree.get(key)?.and_then(|v| keys::u64_value(&v)))
}

impl SledLog {
    /// Writes a consistent copy of the store as it is at its current head to `out`,
    /// while appends go on: records up to the head never change, and every key they need
    /// was written before them. A redaction that commits while the backup is taken may
    /// already have destroyed its key in the copy (erasure wins).
    pub fn backup(&self, out: &Path) -> Result<BackupSummary, StoreError> {
        let head = self.shared.head.load(Ordering::Acquire);
        let keys = self.vault.snapshot();
        let mut w = ArchiveWriter::create(out, head, &keys)?;
        if head > 0 {
            for page in 0..=pages::page_of(head) {
                let bytes = self
                    .db
                    .get(pages::key(page))?
                    .ok_or_else(|| StoreError::Corrupt(format!("page {page} is missing from the log")))?;
                // The head's page may have grown since; the writer keeps records up to the head.
                w.push_page(page, &bytes)?;
            }
        }
        w.finish()
    }

    /// Restores a backup into `dir`, which must not exist or be empty, and checks that
    /// the result opens and verifies.
    pub fn restore(backup: &Path, dir: &Path) -> Result<BackupSummary, StoreError> {
        let mut archive = ArchiveReader::open(backup)?;
        let head = archive.head;
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| StoreError::io(dir, e))?
                .next()
                .is_some()
        {
            return Err(StoreError::Corrupt(format!(
                "{} is not empty: restore into a new directory",
                dir.display()
            )));
        }
        // Whatever fails from here (a page that does not split, records that do not
        // verify) leaves no half-made store behind: the directory is removed again, or
        // emptied when it was there (empty) before.
        let existed = dir.exists();
        let made = (|| -> Result<(), StoreError> {
            super::private_dir(dir)?;
            Vault::create_with(dir, &archive.keys)?;
            {
                let db = sled::Config::new().path(dir.join(SLED_DIR)).open()?;
                let tree: &sled::Tree = &db;
                tree.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes())?;
                let mut batch = sled::Batch::default();
                while let Some((page, bytes)) = archive.next_page()? {
                    batch.insert(&pages::key(page), bytes);
                    if page % 256 == 255 {
                        tree.apply_batch(std::mem::take(&mut batch))?;
                    }
                }
                tree.apply_batch(batch)?;
                rebuild(tree, head)?;
                db.flush()?;
            }
            let log = SledLog::open(dir)?;
            let problems = log.verify()?;
            if let Some(p) = problems.first() {
                return Err(StoreError::Corrupt(format!(
                    "the restored store does not verify ({} problems; first: {p})",
                    problems.len()
                )));
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(dir);
            if existed {
                let _ = super::private_dir(dir);
            }
            return Err(e);
        }
        Ok(BackupSummary {
            head,
            keys: archive.keys.len() as u64,
            bytes: archive.size,
        })
    }

    /// Checks every record (checksum, position, its personal data opens or its key was
    /// destroyed), that positions are dense up to the head and nothing lies past it, that
    /// every index entry and counter agrees with the records, and the keys file. Returns
    /// what is wrong; empty means all is well. Run it on a store nothing is appending to.
    pub fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        let tree: &sled::Tree = &self.db;
        let head = self.shared.head.load(Ordering::Acquire);
        let mut out = Vec::new();
        let mut exp = Expected::default();
        let mut ids = 0u64;
        each_record(tree, head, &*self.vault, |p, r| {
            match r {
                Ok(r) => {
                    match tree.get(keys::id(r.id()))?.and_then(|v| keys::u64_value(&v)) {
                        Some(q) if q == p => {}
                        Some(q) => out.push(problem("index i", format!("event `{}` points at {q}, not {p}", r.id()))),
                        None => out.push(problem(
                            "index i",
                            format!("event `{}` (position {p}) is missing", r.id()),
                        )),
                    }
                    ids += 1;
                    exp.add(&r);
                }
                Err(e) => out.push(problem(format!("record {p}"), e.to_string())),
            }
            Ok(())
        })?;
        if let Some(item) = tree.range(pages::from(pages::page_of(head + 1))).next() {
            let (k, v) = item?;
            if let Some(page) = pages::page_number(&k) {
                let past = pages::split(page, &v)
                    .map(|rs| rs.iter().any(|(p, _)| *p > head))
                    .unwrap_or(true);
                if past {
                    out.push(problem("log", format!("records lie past the head ({head})")));
                }
            }
        }
        for item in tree.iter() {
            let (k, _) = item?;
            if !keys::is_known(&k) {
                out.push(problem("database", format!("a key of no known kind: {}", show_key(&k))));
            }
        }
        let id_entries = tree.scan_prefix([keys::ID]).count() as u64;
        if id_entries != ids {
            out.push(problem(
                "index i",
                format!("{id_entries} entries for {ids} readable events"),
            ));
        }
        // Streams: the concatenation of a stream's chunks is its positions.
        let mut found: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        for item in tree.scan_prefix([keys::CHUNK]) {
            let (k, v) = item?;
            let Some((stream, _)) = keys::parse_chunk(&k) else {
                out.push(problem("index c", format!("malformed key {}", show_key(&k))));
                continue;
            };
            let stream = stream.to_vec();
            match keys::decode_positions(&v) {
                Some(ps) => found.entry(stream).or_default().extend(ps),
                None => out.push(problem(
                    "index c",
                    format!(
                        "an entry of stream `{}` does not decode",
                        String::from_utf8_lossy(&stream)
                    ),
                )),
            }
        }
        for s in exp.streams.keys().chain(found.keys()).collect::<BTreeSet<_>>() {
            if exp.streams.get(s) != found.get(s) {
                out.push(problem(
                    "index c",
                    format!(
                        "stream `{}` does not list its events as the log has them",
                        String::from_utf8_lossy(s)
                    ),
                ));
            }
        }
        let mut compare = |tag: u8, name: &str, want: BTreeMap<Vec<u8>, Vec<u8>>| -> Result<(), StoreError> {
            let mut have = BTreeMap::new();
            for item in tree.scan_prefix([tag]) {
                let (k, v) = item?;
                have.insert(k.to_vec(), v.to_vec());
            }
            for (k, v) in &want {
                match have.get(k) {
                    None => out.push(problem(
                        format!("index {name}"),
                        format!("missing entry {}", show_key(k)),
                    )),
                    Some(h) if h != v => out.push(problem(
                        format!("index {name}"),
                        format!("wrong value for {}", show_key(k)),
                    )),
                    _ => {}
                }
            }
            for k in have.keys().filter(|k| !want.contains_key(*k)) {
                out.push(problem(
                    format!("index {name}"),
                    format!("entry {} matches no event", show_key(k)),
                ));
            }
            Ok(())
        };
        let live = |tag: u8| {
            exp.live
                .keys()
                .filter(|k| k[0] == tag)
                .map(|k| (k.clone(), Vec::new()))
                .collect()
        };
        compare(keys::REGISTRATION, "r", live(keys::REGISTRATION))?;
        compare(keys::JOIN, "j", live(keys::JOIN))?;
        compare(
            keys::PLACE,
            "p",
            exp.places
                .iter()
                .map(|(k, p)| (k.clone(), p.to_be_bytes().to_vec()))
                .collect(),
        )?;
        compare(
            keys::ACTOR,
            "a",
            exp.actors.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect(),
        )?;
        for (key, want) in [
            (keys::META_PLACES, exp.places.len() as u64),
            (keys::META_ACTORS, exp.actor_count as u64),
        ] {
            let have = meta(tree, key)?.unwrap_or(0);
            if have != want {
                out.push(problem(
                    "metadata",
                    format!("{} is {have}, the log says {want}", String::from_utf8_lossy(key)),
                ));
            }
        }
        if self.vault.len() < exp.actor_count as u64 {
            out.push(problem(
                "keys file",
                format!("{} keys for {} actors", self.vault.len(), exp.actor_count),
            ));
        }
        for actor in &exp.redacted {
            if let Some(v) = exp.actors.get(&keys::actor(actor)) {
                let (_, slot) = keys::parse_actor_value(v).expect("made above");
                if self.vault.key(slot).is_some() {
                    out.push(problem(
                        "keys file",
                        format!("redacted actor `{actor}` still has its key"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Rebuilds every index and counter of the store in `dir` from its records, and
    /// clears its derived data (rebuilt on the next query). The store must not be open.
    /// Fails, changing nothing, if a record is unreadable: restore from a backup then.
    pub fn repair_indexes(dir: &Path) -> Result<u64, StoreError> {
        let head = {
            // Without opening the log: repair must work on a store whose indexes keep it
            // from opening.
            let _lock = super::take_lock(dir)?;
            let db = super::open_sled(&dir.join(SLED_DIR))?;
            let tree: &sled::Tree = &db;
            check_format(tree)?;
            let head = committed_head(tree)?;
            drop_past(tree, head)?;
            let mut damaged = None;
            each_record(tree, head, &NoKeys, |p, r| {
                if let (Err(e), None) = (r, &damaged) {
                    damaged = Some(format!("record {p}: {e}"));
                }
                Ok(())
            })?;
            if let Some(d) = damaged {
                return Err(StoreError::Corrupt(format!(
                    "cannot rebuild indexes from a damaged log ({d}); restore it from a backup"
                )));
            }
            rebuild(tree, head)?;
            db.flush()?;
            head
        };
        let derived = dir.join(DERIVED_DIR);
        if derived.exists() {
            std::fs::remove_dir_all(&derived).map_err(|e| StoreError::io(&derived, e))?;
        }
        // Opening, with whole indexes, finishes a redaction cut short by a crash.
        SledLog::open(dir)?.close();
        Ok(head)
    }
}

/// Refuses a store of another format; a marker that is missing or unreadable is damage
/// (the records carry their own format), rewritten by [`rebuild`].
fn check_format(tree: &sled::Tree) -> Result<(), StoreError> {
    let found = tree
        .get(keys::META_FORMAT)?
        .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes));
    match found {
        Some(f) if f > STORE_FORMAT => Err(StoreError::UnsupportedFormat {
            found: f,
            supported: STORE_FORMAT,
        }),
        Some(f) if f < STORE_FORMAT => Err(StoreError::Corrupt(format!(
            "the store has format {f}, written by a development build; it cannot be repaired by this one"
        ))),
        _ => Ok(()),
    }
}

/// The committed head, as the log determines it when the head entry may be damaged.
///
/// The records present run densely from 1 to some `end` (a page that does not split counts
/// as full, so that damage inside the log is found by the record check, not cut off).
/// A group cut short by a crash leaves records past the head but never stream index
/// entries past it, so the head is the larger of the head entry and the last position the
/// stream index lists, and at most `end`; with neither readable, it is `end`.
fn committed_head(tree: &sled::Tree) -> Result<u64, StoreError> {
    let mut end = 0;
    for (expected, item) in (0u64..).zip(tree.range(pages::from(0))) {
        let (k, v) = item?;
        let Some(page) = pages::page_number(&k) else { break };
        if page != expected {
            break;
        }
        let n = pages::split(page, &v).map_or(pages::PAGE_EVENTS, |rs| rs.len() as u64);
        end = pages::first_position(page).saturating_add(n).saturating_sub(1);
        if n < pages::PAGE_EVENTS {
            break;
        }
    }
    let entry = tree.get(keys::META_HEAD)?.and_then(|v| keys::u64_value(&v));
    let mut indexed = None;
    for item in tree.scan_prefix([keys::CHUNK]) {
        let (k, v) = item?;
        if keys::parse_chunk(&k).is_some() {
            if let Some(last) = keys::decode_positions(&v).and_then(|ps| ps.into_iter().max()) {
                indexed = indexed.max(Some(last));
            }
        }
    }
    let claimed = match (entry, indexed) {
        (None, None) => end,
        (a, b) => a.unwrap_or(0).max(b.unwrap_or(0)),
    };
    if claimed > end {
        tracing::warn!(
            claimed,
            end,
            "the head and the stream index name positions past the last record: the log ends at {end}"
        );
    }
    Ok(claimed.min(end))
}

/// Removes records past `head` (a group cut short, or records the head no longer reaches).
fn drop_past(tree: &sled::Tree, head: u64) -> Result<(), StoreError> {
    let mut b = sled::Batch::default();
    for item in tree.range(pages::from(pages::page_of(head.saturating_add(1)))) {
        let (k, v) = item?;
        let Some(page) = pages::page_number(&k) else { continue };
        if pages::first_position(page) > head {
            b.remove(k);
            continue;
        }
        // The head's own page: keep its records up to the head (a page that does not
        // split is left for the record check to name).
        if let Ok(records) = pages::split(page, &v) {
            let mut kept = Vec::new();
            for (_, rec) in records.into_iter().filter(|(p, _)| *p <= head) {
                pages::push(&mut kept, rec);
            }
            b.insert(k, kept);
        }
    }
    Ok(tree.apply_batch(b)?)
}

/// Replaces every index entry and counter with what the records up to `head` say.
fn rebuild(tree: &sled::Tree, head: u64) -> Result<(), StoreError> {
    // Everything but the records goes: indexes, counters, and keys of no known kind.
    let mut b = sled::Batch::default();
    for item in tree.iter() {
        let (k, _) = item?;
        if pages::page_number(&k).is_none() {
            b.remove(k);
        }
    }
    b.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes());
    tree.apply_batch(std::mem::take(&mut b))?;
    let mut exp = Expected::default();
    let mut n = 0;
    let mut result = Ok(());
    each_record(tree, head, &NoKeys, |p, r| {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                result = Err(StoreError::Corrupt(format!("record {p}: {e}")));
                return Ok(());
            }
        };
        b.insert(keys::id(r.id()), &p.to_be_bytes());
        exp.add(&r);
        n += 1;
        if n % 4096 == 0 {
            tree.apply_batch(std::mem::take(&mut b))?;
        }
        Ok(())
    })?;
    result?;
    for (stream, ps) in &exp.streams {
        let s = match stream.is_empty() {
            true => Stream::Unplaced,
            false => Stream::Place(
                PlaceId::new(String::from_utf8_lossy(stream).into_owned())
                    .map_err(|e| StoreError::Corrupt(format!("stream name: {e}")))?,
            ),
        };
        for (i, chunk) in ps.chunks(4096).enumerate() {
            b.insert(keys::chunk(&s, (i * 4096) as u64 + 1), keys::encode_positions(chunk));
        }
    }
    for k in exp.live.keys() {
        b.insert(k.as_slice(), &[]);
    }
    for (k, p) in &exp.places {
        b.insert(k.as_slice(), &p.to_be_bytes());
    }
    for (k, v) in &exp.actors {
        b.insert(k.as_slice(), v);
    }
    b.insert(keys::META_HEAD, &head.to_be_bytes());
    b.insert(keys::META_PLACES, &(exp.places.len() as u64).to_be_bytes());
    b.insert(keys::META_ACTORS, &(exp.actor_count as u64).to_be_bytes());
    tree.apply_batch(b)?;
    Ok(())
}

/// An index key for people: its tag, then its text with 0x00 shown as `/`.
fn show_key(k: &[u8]) -> String {
    let Some((&tag, rest)) = k.split_first() else {
        return "(an empty key)".into();
    };
    let text: String = String::from_utf8_lossy(rest)
        .chars()
        .map(|c| {
            if c == '\0' {
                '/'
            } else if c.is_control() {
                '?'
            } else {
                c
            }
        })
        .collect();
    format!("`{}` {text}", tag as char)
}
