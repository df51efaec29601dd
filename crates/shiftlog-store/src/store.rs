//! Where a store is and what looks after it, whatever the backend: the CLI and the engine
//! open a [`StoreLocation`] and get a [`Store`], and never name a backend.

use crate::archive::BackupSummary;
use crate::error::StoreError;
use crate::log::EventLog;
use crate::postgres::PgLog;
use crate::sled_log::SledLog;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One thing a check ([`Maintain::verify`]) found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What it concerns: `record 17`, `index i`, `keys file`, `shiftlog_streams`, ...
    pub what: String,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

/// Looking after an open store: what every backend offers besides its log.
#[async_trait]
pub trait Maintain: Send + Sync + std::fmt::Debug {
    /// Writes a consistent copy of the store at its head to `out`, in the backup format
    /// every backend reads (see [`StoreLocation::restore`]), while appends go on.
    async fn backup(&self, out: &Path) -> Result<BackupSummary, StoreError>;
    /// Checks every record, the positions, the backend's indexes and the keys against the
    /// records; empty means all is well.
    async fn verify(&self) -> Result<Vec<Problem>, StoreError>;
}

/// An open store: its log and what looks after it.
#[derive(Debug, Clone)]
pub struct Store {
    /// The log.
    pub log: Arc<dyn EventLog>,
    /// Backups and checks.
    pub maintenance: Arc<dyn Maintain>,
}

/// Where a store is: a data directory (the embedded default), or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A data directory holding a sled store.
    Directory(PathBuf),
    /// A PostgreSQL database (`postgres://USER[:PASSWORD]@HOST:PORT/DB`).
    Postgres(String),
}

impl StoreLocation {
    /// `postgres://...` or `postgresql://...` is a database; anything else a directory.
    pub fn parse(s: &str) -> StoreLocation {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreLocation::Postgres(s.to_string())
        } else {
            StoreLocation::Directory(PathBuf::from(s))
        }
    }

    /// For people: the directory, or the database's address without its password.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Directory(d) => d.display().to_string(),
            StoreLocation::Postgres(url) => crate::postgres::redact_url(url),
        }
    }

    /// Whether a store is there. A database counts as there: its tables are made on
    /// first connection, and a store with no events reads as empty.
    pub fn exists(&self) -> bool {
        match self {
            StoreLocation::Directory(d) => SledLog::exists(d),
            StoreLocation::Postgres(_) => true,
        }
    }

    /// Opens the store, creating it when there is none.
    pub async fn open(&self) -> Result<Store, StoreError> {
        match self {
            StoreLocation::Directory(d) => {
                let log = Arc::new(SledLog::open(d)?);
                Ok(Store {
                    log: log.clone(),
                    maintenance: Arc::new(crate::sled_log::SledMaintenance::new(log)),
                })
            }
            StoreLocation::Postgres(url) => {
                let log = Arc::new(PgLog::connect(url).await?);
                Ok(Store {
                    log: log.clone(),
                    maintenance: log,
                })
            }
        }
    }

    /// Restores a backup (from any backend) here: a directory must not exist or be empty,
    /// a database must hold no events. The result is checked before this returns.
    pub async fn restore(&self, backup: &Path) -> Result<BackupSummary, StoreError> {
        match self {
            StoreLocation::Directory(d) => {
                let (backup, d) = (backup.to_path_buf(), d.clone());
                tokio::task::spawn_blocking(move || SledLog::restore(&backup, &d))
                    .await
                    .map_err(|e| StoreError::Unsupported(format!("the restore task failed: {e}")))?
            }
            StoreLocation::Postgres(url) => PgLog::restore(backup, url).await,
        }
    }

    /// Rebuilds the store's indexes from its records and clears derived data. A data
    /// directory must not be open elsewhere; a database may be in use. Returns the head.
    pub async fn repair_indexes(&self) -> Result<u64, StoreError> {
        match self {
            StoreLocation::Directory(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || SledLog::repair_indexes(&d))
                    .await
                    .map_err(|e| StoreError::Unsupported(format!("the repair task failed: {e}")))?
            }
            StoreLocation::Postgres(url) => PgLog::connect(url).await?.repair_indexes().await,
        }
    }
}

#[async_trait]
impl Maintain for PgLog {
    async fn backup(&self, out: &Path) -> Result<BackupSummary, StoreError> {
        PgLog::backup(self, out).await
    }
    async fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        PgLog::verify(self).await
    }
}
