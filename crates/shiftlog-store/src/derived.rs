//! Room beside the log for data derived from it (projection checkpoints and indexes).
//!
//! Derived data is never part of the log's guarantees: it is not flushed on its own, may be
//! lost in a crash or cleared at any time, and must always be rebuildable from the log.
//! What it does guarantee is that a batch is applied whole or not at all.
//!
//! Values that may hold personal data (checkpoints: actors' names and attributes) are
//! written with [`DerivedBatch::put_sealed`] and never reach the disk in the clear: the
//! sled store seals them with a key of its current *generation*, kept in a file of its own
//! beside the database. A redaction destroys that key inside the log's writer, before the
//! redaction is acknowledged and before the actors' keys go (so a crash at any step leaves
//! nothing readable: the next open finishes both), then deletes the database and starts a
//! new generation. A batch made from what was read in an earlier generation is dropped, so
//! nothing read before a redaction is written after it.

use crate::error::StoreError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// How a stored value starts: plain, or sealed under the generation's key.
const PLAIN: u8 = 0;
const SEALED: u8 = 1;

/// Puts and removes applied together.
#[derive(Debug, Default, Clone)]
pub struct DerivedBatch {
    ops: Vec<(Vec<u8>, Option<Value>)>,
    generation: Option<u64>,
}

#[derive(Debug, Clone)]
enum Value {
    Plain(Vec<u8>),
    Sealed(Vec<u8>),
}

impl DerivedBatch {
    /// A batch that is dropped unless the store is still at `generation` when applied:
    /// for data derived from what was read in that generation.
    pub fn in_generation(generation: u64) -> Self {
        DerivedBatch {
            ops: Vec::new(),
            generation: Some(generation),
        }
    }

    /// Sets `key` to `value`, which holds no personal data (positions, times, ids).
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(Value::Plain(value))));
    }

    /// Sets `key` to `value`, which may hold personal data: a durable store keeps it sealed
    /// under a key that every redaction destroys. Reads give it back in the clear.
    pub fn put_sealed(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(Value::Sealed(value))));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// How many puts and removes it holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key and its value.
pub type DerivedEntry = (Vec<u8>, Vec<u8>);

/// A key-value space for derived data, ordered by key.
///
/// Reads return values as they were put, sealed ones opened. A sealed value that no longer
/// opens (damaged bytes) reads as empty: derived data is a cache, and its readers rebuild
/// what does not decode.
pub trait DerivedStore: Send + Sync + std::fmt::Debug {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Entries with `from <= key < to`, in key order.
    fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<DerivedEntry>, StoreError>;
    /// The entry with the greatest key in `from <= key < to`.
    fn last_in(&self, from: &[u8], to: &[u8]) -> Result<Option<DerivedEntry>, StoreError>;
    /// Applies a batch atomically (or drops it whole when it is from an earlier generation).
    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError>;
    /// The current generation: it changes whenever everything is cleared.
    fn generation(&self) -> u64;
    /// Removes everything, leaving nothing readable in the data directory, and starts a new
    /// generation.
    fn clear(&self) -> Result<(), StoreError>;
}

/// The key of one generation: sealed values of that generation open with it alone.
type GenerationKey = [u8; 32];

/// Derived data in its own sled database, `<dir>/<generation>/`, with the generation's
/// sealing key in `<dir>/<generation>.key`. Clearing destroys the key in place (zeros,
/// `fdatasync`) before deleting the database, so what sled's files still hold after a
/// crash at any moment is sealed under a key that is gone.
#[derive(Debug)]
pub(crate) struct SledDerived {
    dir: PathBuf,
    current: RwLock<Generation>,
}

struct Generation {
    number: u64,
    db: sled::Db,
    cipher: ChaCha20Poly1305,
    /// Set when a write failed: sled 0.34 may then have left a write counted in its log
    /// buffer that never reaches the disk (a value over its blob threshold, about 128 KiB,
    /// whose file could not be created), and every later flush, the one in its `Drop`
    /// included, waits for it forever. Such a database is not dropped but left open
    /// until the process ends: derived data is a cache, and what did not reach the disk
    /// is derived again.
    write_failed: std::sync::atomic::AtomicBool,
}

impl Drop for Generation {
    fn drop(&mut self) {
        if self.write_failed.load(std::sync::atomic::Ordering::Acquire) {
            tracing::error!(
                generation = self.number,
                "a write to the derived store failed earlier, so its database is left open \
                 instead of flushed (a flush could wait forever); what it held is derived \
                 again when the store is next opened"
            );
            // A clone that is never dropped keeps sled's shared state alive, so the
            // flush in its last handle's drop never runs.
            std::mem::forget(self.db.clone());
        }
    }
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

fn key_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation}.key"))
}

/// A generation's key, if its file holds one (not destroyed, not torn).
fn read_key(dir: &Path, generation: u64) -> Option<GenerationKey> {
    let bytes = std::fs::read(key_path(dir, generation)).ok()?;
    let key: GenerationKey = bytes.as_slice().try_into().ok()?;
    (key != [0; 32]).then_some(key)
}

/// Creates generation `generation`: its key first (synced), then its database.
fn create_generation(dir: &Path, generation: u64) -> Result<Generation, StoreError> {
    let path = key_path(dir, generation);
    let key = crate::codec::new_key();
    let io = |e| StoreError::io(&path, e);
    let file = crate::sled_log::private_file(&path).map_err(io)?;
    file.write_all_at(&key, 0).map_err(io)?;
    file.sync_all().map_err(io)?;
    crate::sled_log::sync_dir(dir)?;
    open_generation(dir, generation, key)
}

fn open_generation(dir: &Path, generation: u64, key: GenerationKey) -> Result<Generation, StoreError> {
    let path = dir.join(generation.to_string());
    crate::sled_log::remove_unfinished_snapshots(&path).map_err(|e| StoreError::io(&path, e))?;
    // No background flusher: derived data need not reach the disk on its own (what is lost
    // in a crash is derived again), and a flush on a database whose write failed may wait
    // forever (see `write_failed`) while holding sled's process-wide lock, which every
    // batch of every sled database in the process (the log's appends included) then waits
    // for. Without the flusher such a database is never flushed at all.
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(32 << 20)
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            sled::Error::Io(io) => StoreError::io(&path, io),
            other => other.into(),
        })?;
    crate::sled_log::make_private(&path)?;
    Ok(Generation {
        number: generation,
        db,
        cipher: ChaCha20Poly1305::new(&key.into()),
        write_failed: Default::default(),
    })
}

/// Makes generation `generation` unreadable and removes it: the key is overwritten with
/// zeros and synced before anything else, so a crash part way leaves nothing that opens.
fn destroy_generation(dir: &Path, generation: u64) -> Result<(), StoreError> {
    let path = key_path(dir, generation);
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => {
            let io = |e| StoreError::io(&path, e);
            let len = f.metadata().map_err(io)?.len().max(32) as usize;
            f.write_all_at(&vec![0; len], 0).map_err(io)?;
            f.sync_data().map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    let db_dir = dir.join(generation.to_string());
    match std::fs::remove_dir_all(&db_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&db_dir, e)),
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    Ok(())
}

impl SledDerived {
    /// Opens the newest generation under `dir` whose key is intact, removing every other
    /// one; when there is none (a new store, a key destroyed by a redaction cut short, or
    /// a store written before derived data was sealed), starts a new generation.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::sled_log::private_dir(dir)?;
        let mut generations: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .filter_map(|d| {
                let name = d.ok()?.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".key").unwrap_or(name).parse().ok()
            })
            .collect();
        generations.sort_unstable();
        generations.dedup();
        let newest = generations.last().copied();
        let keep = newest.and_then(|g| read_key(dir, g).map(|k| (g, k)));
        for &old in &generations {
            if keep.is_none_or(|(g, _)| g != old) {
                destroy_generation(dir, old)?;
            }
        }
        let current = match keep {
            Some((g, key)) => open_generation(dir, g, key)?,
            None => create_generation(dir, newest.map_or(1, |g| g + 1))?,
        };
        Ok(SledDerived {
            dir: dir.to_path_buf(),
            current: RwLock::new(current),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Generation> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Generation {
    fn seal(&self, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: value, aad: key })
            .expect("encryption of a bounded message cannot fail");
        let mut out = Vec::with_capacity(1 + 12 + sealed.len());
        out.push(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// A stored value as it was put; empty when it does not open.
    fn open(&self, key: &[u8], stored: &[u8]) -> Vec<u8> {
        match stored.split_first() {
            Some((&PLAIN, rest)) => rest.to_vec(),
            Some((&SEALED, rest)) if rest.len() >= 12 => {
                let (nonce, sealed) = rest.split_at(12);
                let nonce: [u8; 12] = nonce.try_into().expect("12 bytes");
                self.cipher
                    .decrypt(&nonce.into(), Payload { msg: sealed, aad: key })
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    fn entry(&self, item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<DerivedEntry, StoreError> {
        let (k, v) = item?;
        let v = self.open(&k, &v);
        Ok((k.to_vec(), v))
    }
}

impl DerivedStore for SledDerived {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let g = self.read();
        Ok(g.db.get(key)?.map(|v| g.open(key, &v)))
    }

    fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<DerivedEntry>, StoreError> {
        let g = self.read();
        g.db.range(from..to).map(|item| g.entry(item)).collect()
    }

    fn last_in(&self, from: &[u8], to: &[u8]) -> Result<Option<DerivedEntry>, StoreError> {
        let g = self.read();
        g.db.range(from..to).next_back().map(|item| g.entry(item)).transpose()
    }

    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError> {
        // Held for reading while applying, so a clear cannot slip in between the check
        // and the write.
        let g = self.read();
        if batch.generation.is_some_and(|n| n != g.number) {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(Value::Plain(v)) => {
                    let mut stored = Vec::with_capacity(v.len() + 1);
                    stored.push(PLAIN);
                    stored.extend_from_slice(&v);
                    b.insert(k, stored)
                }
                Some(Value::Sealed(v)) => {
                    let stored = g.seal(&k, &v);
                    b.insert(k, stored)
                }
                None => b.remove(k),
            }
        }
        g.db.apply_batch(b).map_err(|e| {
            g.write_failed.store(true, std::sync::atomic::Ordering::Release);
            e.into()
        })
    }

    fn generation(&self) -> u64 {
        self.read().number
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let old = current.number;
        // The old key goes first (with the lock held, nobody reads or writes meanwhile);
        // only then is the next generation made.
        destroy_generation(&self.dir, old)?;
        *current = create_generation(&self.dir, old + 1)?;
        Ok(())
    }
}

/// Derived data in memory (nothing reaches a disk, so nothing is sealed).
#[derive(Debug, Default)]
pub(crate) struct MemoryDerived(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>, AtomicU64);

impl MemoryDerived {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DerivedStore for MemoryDerived {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map().get(key).cloned())
    }

    fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<DerivedEntry>, StoreError> {
        let m = self.map();
        Ok(m.range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn last_in(&self, from: &[u8], to: &[u8]) -> Result<Option<DerivedEntry>, StoreError> {
        let m = self.map();
        Ok(m.range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError> {
        let mut m = self.map();
        if batch.generation.is_some_and(|g| g != self.1.load(Ordering::Acquire)) {
            return Ok(());
        }
        for (k, v) in batch.ops {
            match v {
                Some(Value::Plain(v) | Value::Sealed(v)) => m.insert(k, v),
                None => m.remove(&k),
            };
        }
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.1.load(Ordering::Acquire)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut m = self.map();
        m.clear();
        self.1.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}
