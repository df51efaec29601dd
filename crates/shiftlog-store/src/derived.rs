//! Room beside the log for data derived from it (projection checkpoints and indexes).
//!
//! Derived data is never part of the log's guarantees: it is not flushed on its own, may be
//! lost in a crash or cleared at any time, and must always be rebuildable from the log.
//! What it does guarantee is that a batch is applied whole or not at all.
//!
//! It is cleared whenever an actor is redacted (derived data may hold personal data in
//! the clear), which starts a new *generation*. A batch made from what was read in an
//! earlier generation is dropped, so nothing read before a redaction is written after it.

use crate::error::StoreError;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// Puts and removes applied together.
#[derive(Debug, Default, Clone)]
pub struct DerivedBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    generation: Option<u64>,
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

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key and its value.
pub type DerivedEntry = (Vec<u8>, Vec<u8>);

/// A key-value space for derived data, ordered by key.
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
    /// Removes everything, leaving no trace in the data directory, and starts a new generation.
    fn clear(&self) -> Result<(), StoreError>;
}

/// Derived data in its own sled database, `<data-dir>/derived/<generation>/`: clearing it
/// deletes the whole database, so nothing it held survives in sled's files.
#[derive(Debug)]
pub(crate) struct SledDerived {
    dir: PathBuf,
    current: RwLock<(u64, sled::Db)>,
}

fn open_generation(dir: &Path, generation: u64) -> Result<sled::Db, StoreError> {
    let path = dir.join(generation.to_string());
    crate::sled_log::remove_unfinished_snapshots(&path).map_err(|e| StoreError::io(&path, e))?;
    sled::Config::new()
        .path(&path)
        .cache_capacity(32 << 20)
        .flush_every_ms(Some(2_000))
        .open()
        .map_err(|e| match e {
            sled::Error::Io(io) => StoreError::io(&path, io),
            other => StoreError::Sled(other),
        })
}

impl SledDerived {
    /// Opens the newest generation under `dir` (creating the first), removing older ones.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut generations: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .filter_map(|d| d.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        generations.sort_unstable();
        let generation = generations.last().copied().unwrap_or(1);
        for old in generations.iter().filter(|&&g| g != generation) {
            let _ = std::fs::remove_dir_all(dir.join(old.to_string()));
        }
        let db = open_generation(dir, generation)?;
        Ok(SledDerived {
            dir: dir.to_path_buf(),
            current: RwLock::new((generation, db)),
        })
    }

    fn db(&self) -> (u64, sled::Db) {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl DerivedStore for SledDerived {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db().1.get(key)?.map(|v| v.to_vec()))
    }

    fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<DerivedEntry>, StoreError> {
        self.db()
            .1
            .range(from..to)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(StoreError::from))
            .collect()
    }

    fn last_in(&self, from: &[u8], to: &[u8]) -> Result<Option<DerivedEntry>, StoreError> {
        Ok(self
            .db()
            .1
            .range(from..to)
            .next_back()
            .transpose()?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError> {
        // Held for reading while applying, so a clear cannot slip in between the check
        // and the write.
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        if batch.generation.is_some_and(|g| g != current.0) {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        Ok(current.1.apply_batch(b)?)
    }

    fn generation(&self) -> u64 {
        self.current.read().unwrap_or_else(|e| e.into_inner()).0
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = current.0 + 1;
        let db = open_generation(&self.dir, next)?;
        let (old, old_db) = std::mem::replace(&mut *current, (next, db));
        drop(old_db);
        let path = self.dir.join(old.to_string());
        std::fs::remove_dir_all(&path).map_err(|e| StoreError::io(&path, e))?;
        Ok(())
    }
}

/// Derived data in memory.
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
                Some(v) => m.insert(k, v),
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
