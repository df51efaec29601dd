//! The keys file: one secret key per actor, kept apart from the log so it can really be
//! destroyed.
//!
//! `<data-dir>/keys` is a 16-byte header followed by 32-byte slots; slot *n* is the key of
//! the *n*-th actor to join (the slot is also kept in the actor's `a` index entry). A key
//! is destroyed by overwriting its slot with zeros in place and `fdatasync`ing: the
//! records sealed with it stay in sled's files, but nothing can open them any more. sled
//! rewrites its files as it likes, which is why the keys do not live there.
//!
//! Keys are written (and synced) before the records sealed with them, so a crash can leave
//! a key without records (harmless: the next actor to join takes the slot over), never
//! records without their key.

use crate::codec::{ActorKey, Keys};
use crate::error::StoreError;
use shiftlog_model::ActorId;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The keys file's name in the data directory.
pub(crate) const KEYS_FILE: &str = "keys";

const MAGIC: &[u8; 16] = b"shiftlog keys v1";
const SLOT: u64 = 32;

fn offset(slot: u32) -> u64 {
    MAGIC.len() as u64 + slot as u64 * SLOT
}

/// The keys file, with every key in memory.
#[derive(Debug)]
pub(crate) struct Vault {
    path: PathBuf,
    file: File,
    keys: RwLock<Vec<ActorKey>>,
}

impl Vault {
    /// Opens the keys file in `dir`, which must hold at least `actors` keys; creates it
    /// when the store is new (`actors == 0`).
    pub(crate) fn open(dir: &Path, actors: u64) -> Result<Self, StoreError> {
        let path = dir.join(KEYS_FILE);
        let io = |e| StoreError::io(&path, e);
        let file = match File::options().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && actors == 0 => {
                let f = super::new_private_file(&path).map_err(io)?;
                f.write_all_at(MAGIC, 0).map_err(io)?;
                f.sync_all().map_err(io)?;
                sync_dir(dir)?;
                f
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Corrupt(format!(
                    "the keys file {} is missing, but the store has {actors} actors: \
                     restore it from a backup (without it no personal data can be read)",
                    path.display()
                )))
            }
            Err(e) => return Err(io(e)),
        };
        let bytes = std::fs::read(&path).map_err(io)?;
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(StoreError::Corrupt(format!(
                "{} is not a shiftlog keys file",
                path.display()
            )));
        }
        // A torn last slot (a crash while adding keys) belongs to no committed actor.
        let keys: Vec<ActorKey> = bytes[MAGIC.len()..]
            .chunks_exact(SLOT as usize)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        if (keys.len() as u64) < actors {
            return Err(StoreError::Corrupt(format!(
                "the keys file {} holds {} keys, but the store has {actors} actors",
                path.display(),
                keys.len()
            )));
        }
        Ok(Vault {
            path,
            file,
            keys: RwLock::new(keys),
        })
    }

    /// The key in `slot`; `None` when destroyed (all zeros) or never made.
    pub(crate) fn key(&self, slot: u32) -> Option<ActorKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(slot as usize).copied().filter(|k| k != &[0; 32])
    }

    /// How many slots the file holds.
    pub(crate) fn len(&self) -> u64 {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Writes new keys from slot `first` on, durably, before anything is sealed with them.
    pub(crate) fn put(&self, first: u32, new: &[ActorKey]) -> Result<(), StoreError> {
        if new.is_empty() {
            return Ok(());
        }
        let io = |e| StoreError::io(&self.path, e);
        self.file
            .write_all_at(new.concat().as_slice(), offset(first))
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let end = first as usize + new.len();
        if keys.len() < end {
            keys.resize(end, [0; 32]);
        }
        keys[first as usize..end].copy_from_slice(new);
        Ok(())
    }

    /// Destroys the keys in `slots`: zeros on disk, synced, then in memory.
    pub(crate) fn destroy(&self, slots: &[u32]) -> Result<(), StoreError> {
        let io = |e| StoreError::io(&self.path, e);
        for &slot in slots {
            if (slot as u64) < self.len() {
                self.file.write_all_at(&[0; 32], offset(slot)).map_err(io)?;
            }
        }
        self.file.sync_data().map_err(io)?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        for &slot in slots {
            if let Some(k) = keys.get_mut(slot as usize) {
                *k = [0; 32];
            }
        }
        Ok(())
    }

    /// The whole file as it is now (for backups).
    pub(crate) fn snapshot(&self) -> Vec<ActorKey> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes a keys file holding `keys` into `dir` (restoring a backup).
    pub(crate) fn create_with(dir: &Path, keys: &[ActorKey]) -> Result<(), StoreError> {
        let path = dir.join(KEYS_FILE);
        let io = |e| StoreError::io(&path, e);
        let f = super::new_private_file(&path).map_err(io)?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&keys.concat());
        f.write_all_at(&bytes, 0).map_err(io)?;
        f.sync_all().map_err(io)?;
        sync_dir(dir)
    }
}

/// Readers open sealed data with the vault's keys; they never seal.
impl Keys for Vault {
    fn seal_key(&self, _: &ActorId) -> Option<(u32, ActorKey)> {
        None
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        self.key(slot)
    }
}

/// Makes a new file's directory entry durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}
