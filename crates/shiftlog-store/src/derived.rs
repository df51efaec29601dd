//! Room beside the log for data derived from it (projection checkpoints and indexes).
//!
//! Derived data is never part of the log's guarantees: it is not flushed on its own, may be
//! lost in a crash or cleared at any time, and must always be rebuildable from the log.
//! What it does guarantee is that a batch is applied whole or not at all.

use crate::error::StoreError;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

/// Puts and removes applied together.
#[derive(Debug, Default, Clone)]
pub struct DerivedBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl DerivedBatch {
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
    /// Applies a batch atomically.
    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError>;
}

/// Derived data in a sled tree of the log's database.
#[derive(Debug, Clone)]
pub(crate) struct SledDerived(pub(crate) sled::Tree);

impl DerivedStore for SledDerived {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key)?.map(|v| v.to_vec()))
    }

    fn range(&self, from: &[u8], to: &[u8]) -> Result<Vec<DerivedEntry>, StoreError> {
        self.0
            .range(from..to)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(StoreError::from))
            .collect()
    }

    fn last_in(&self, from: &[u8], to: &[u8]) -> Result<Option<DerivedEntry>, StoreError> {
        Ok(self
            .0
            .range(from..to)
            .next_back()
            .transpose()?
            .map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn apply(&self, batch: DerivedBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        Ok(self.0.apply_batch(b)?)
    }
}

/// Derived data in memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryDerived(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

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
        for (k, v) in batch.ops {
            match v {
                Some(v) => m.insert(k, v),
                None => m.remove(&k),
            };
        }
        Ok(())
    }
}
