//! Errors, one enum per operation family, all wrapping [`StoreError`] for storage trouble.

use crate::types::{Position, Stream, Version};
use shiftlog_model::Rejection;
use std::path::PathBuf;

/// Storage trouble: the disk, the data directory, a damaged record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory is already open: by another process (a running `shiftlog
    /// serve`, another command), or by this one, which opened it earlier and has not
    /// closed it (the lock is per open, not per process).
    #[error(
        "the data directory {path} is already open, by another process (a running `shiftlog serve`, another command) or earlier in this one; close it first"
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// An I/O error from the operating system.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data directory is on a read-only file system. The store writes to its
    /// directory even to answer queries (the lock, checkpoints), so it cannot open there.
    #[error(
        "the data directory {path} is on a read-only file system, and shiftlog writes to its data directory even to \
         answer queries (a lock, checkpoints): copy it somewhere writable, or restore a backup there"
    )]
    ReadOnly {
        /// The data directory.
        path: PathBuf,
    },
    /// The device holding the data directory is full. Nothing of the append that hit it
    /// is in the log. Opening a store needs a little room too (sled writes as it opens),
    /// so on a full disk queries get this error as well.
    #[error("no space left on the device holding {path}: free some space, then try again")]
    DiskFull {
        /// The data directory (or the file being written).
        path: PathBuf,
    },
    /// An error from the database that holds the log (sled, PostgreSQL), in its own words.
    /// Each backend turns its errors into this at its module's edge, so that no backend's
    /// types reach this enum.
    #[error("{backend} error: {source}")]
    Backend {
        /// Which database: "sled", "PostgreSQL".
        backend: &'static str,
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored record failed its checksum or could not be decoded.
    #[error("damaged record at position {position}: {reason}")]
    Damaged {
        /// The record's position.
        position: Position,
        /// What is wrong with it.
        reason: String,
    },
    /// Some other stored structure (an index entry, the metadata) is damaged.
    #[error("damaged store: {0}")]
    Corrupt(String),
    /// The store was written by a newer shiftlog with a format this one does not know.
    #[error("the store uses format version {found}, but this shiftlog reads up to {supported}: upgrade shiftlog")]
    UnsupportedFormat {
        /// The store's format version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// This write failed part-way; none of it is in the log (the store refuses further
    /// writes until reopened, and reopening drops the unfinished part).
    #[error("the write failed, and nothing of it is in the log: {0}")]
    WriteFailed(String),
    /// An earlier write failed part-way; the store refuses writes until it is reopened
    /// (reopening cleans up the unfinished batch).
    #[error("an earlier write failed ({0}); reopen the store to recover")]
    Poisoned(String),
    /// The database was asked to commit, but its answer was lost (the connection or the
    /// server went away): the batch may or may not be in the log. Retrying it is safe for
    /// events with ids (the log keeps one of each); read the log to see about the others.
    #[error("the database did not confirm the commit, so the batch may or may not be in the log ({0}); retry it: events with ids are not written twice")]
    Unconfirmed(String),
    /// The log has been closed.
    #[error("the log is closed")]
    Closed,
    /// The operation needs something this log does not have.
    #[error("{0}")]
    Unsupported(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// The operating system's error underneath, if there is one.
    fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StoreError::Io { source, .. } => Some(source.kind()),
            StoreError::Backend { source, .. } => source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            _ => None,
        }
    }

    /// Names the two disk conditions people can fix themselves (a read-only file system,
    /// a full disk) for the data directory `dir`; other errors are returned as they are.
    pub(crate) fn in_data_dir(self, dir: &std::path::Path) -> Self {
        match self.io_kind() {
            Some(std::io::ErrorKind::ReadOnlyFilesystem) => StoreError::ReadOnly { path: dir.into() },
            Some(std::io::ErrorKind::StorageFull) => StoreError::DiskFull { path: dir.into() },
            _ => self,
        }
    }
}

/// Why an append wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// Some events break the format's rules; each is listed with its location: its index
    /// in the batch, or its line when the input was ingested with line numbers.
    #[error("{} of the batch's events were rejected; nothing was written (first: {})", .0.len(), .0[0])]
    Rejected(Vec<Rejection>),
    /// Another writer appended to the stream first.
    #[error("version conflict on {stream}: expected version {expected}, but it is at {actual}; nothing was written")]
    VersionConflict {
        /// The stream.
        stream: Stream,
        /// The version the caller expected.
        expected: Version,
        /// The stream's actual version.
        actual: Version,
    },
    /// Some events would write to places the request may not write to
    /// ([`crate::AppendRequest::places`]); each is listed with its location. Nothing was
    /// written.
    #[error("{} of the batch's events may not be written by this writer; nothing was written (first: {})", .0.len(), .0[0])]
    Forbidden(Vec<Rejection>),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}
