//! The durable log, in sled.
//!
//! One writer thread owns every write. Appends queue up while it is busy; it takes all
//! that are waiting (a group), plans them one by one, writes the group, flushes once and
//! then answers every caller: concurrent appenders share one flush (group commit).
//!
//! A group is written in sub-batches of [`SUB_BATCH`] events, each an atomic sled batch;
//! only the last one moves the committed head (`mhead`) and the stream index. Readers
//! never look past the committed head, and opening the store deletes anything written
//! past it (a group cut short by a crash): so a group is all there or not at all.

#[doc(hidden)]
pub mod fault;
mod keys;
mod maintain;
mod pages;
mod private;
mod vault;
mod writer;

pub(crate) use private::{make_private, new_private_file, private_dir, private_file};
pub(crate) use vault::sync_dir;

use crate::codec;
use crate::error::{AppendError, StoreError};
use crate::log::{system_clock, Clock, Detail, EventLog};
use crate::types::{AppendOutcome, AppendRequest, LogStats, Position, RecordedEvent, Stream, Version};
use async_trait::async_trait;
use shiftlog_model::{Event, EventId, PlaceId, Rejection};
use vault::Vault;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use tokio::sync::oneshot;

/// The newest store format this build reads and the one it writes.
pub const STORE_FORMAT: u32 = 2;

/// The sled directory inside a data directory.
const SLED_DIR: &str = "log";

/// The directory of derived data (its own sled database) inside a data directory.
const DERIVED_DIR: &str = "derived";

/// sled's page cache. Its default (1 GiB) made bulk appends spend a quarter of their
/// time faulting in fresh memory; reads of recent events stay cached at this size.
const CACHE_BYTES: u64 = 64 << 20;

/// How far an acknowledged append is guaranteed to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives a crash of the process, of the operating system or of the machine:
    /// sled's flush, then `fdatasync` of its data file (sled's own flush uses
    /// `sync_file_range`, which neither reaches the drive's cache nor records the file's
    /// new length). The default.
    #[default]
    Full,
    /// Survives a crash of the process: sled's flush only. The events are with the
    /// operating system, which may still lose them in a power cut. Faster for many small
    /// appends (see docs/performance.md).
    Process,
}

/// Options for [`SledLog::open_with`].
#[derive(Clone)]
pub struct SledOptions {
    clock: Clock,
    durability: Durability,
    redaction_hook: Option<fault::RedactionHook>,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            clock: system_clock(),
            durability: Durability::default(),
            redaction_hook: None,
        }
    }
}

impl std::fmt::Debug for SledOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledOptions")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl SledOptions {
    /// Takes recorded times from `clock` instead of the wall clock (for tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how far acknowledged appends survive.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Calls `hook` at each step of a redaction, on the writer's thread (for the tests
    /// that cancel or kill a redaction at every step); not part of the supported API.
    #[doc(hidden)]
    pub fn on_redaction_step(mut self, hook: fault::RedactionHook) -> Self {
        self.redaction_hook = Some(hook);
        self
    }
}

/// What readers and the writer share: the committed state.
#[derive(Debug)]
struct Shared {
    head: AtomicU64,
    /// Told after `head` moves, for subscribers.
    head_watch: tokio::sync::watch::Sender<Position>,
    places: AtomicU64,
    actors: AtomicU64,
    versions: RwLock<HashMap<Stream, Version>>,
}

enum Request {
    Append(AppendRequest, oneshot::Sender<Result<AppendOutcome, AppendError>>),
    Check(Vec<Event>, oneshot::Sender<Result<Vec<Rejection>, StoreError>>),
    DryRun(
        AppendRequest,
        oneshot::Sender<Result<crate::types::Planned, AppendError>>,
    ),
}

/// The durable event log, in a data directory.
///
/// When [`EventLog::append`] returns `Ok`, the events are on disk: sled has flushed them
/// and the data file has been `fdatasync`ed, so they survive a crash of the process or
/// of the machine. Opening a store replays nothing: it reads a few metadata keys.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use shiftlog_store::{AppendRequest, EventLog, SledLog};
/// let dir = tempfile::tempdir().unwrap();
/// let log = SledLog::open(dir.path()).unwrap();
/// let e = serde_json::from_str(r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"x","name":"X"}"#).unwrap();
/// log.append(AppendRequest::new(vec![e])).await.unwrap();
/// drop(log);
/// let log = SledLog::open(dir.path()).unwrap();
/// assert_eq!(log.head().0, 1);
/// # });
/// ```
pub struct SledLog {
    path: PathBuf,
    db: sled::Db,
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    derived: Arc<crate::derived::SledDerived>,
    vault: Arc<Vault>,
    /// Held for as long as the log is open; declared last so it is released last.
    _lock: std::fs::File,
}

impl std::fmt::Debug for SledLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledLog")
            .field("path", &self.path)
            .field("head", &self.head())
            .finish()
    }
}

impl SledLog {
    /// Opens (creating if needed) the log in data directory `dir`, with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, SledOptions::default())
    }

    /// Opens (creating if needed) the log in data directory `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: SledOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        Self::open_in(dir.clone(), options).map_err(|e| e.in_data_dir(&dir))
    }

    fn open_in(dir: PathBuf, options: SledOptions) -> Result<Self, StoreError> {
        private_dir(&dir)?;
        let lock = take_lock(&dir)?;
        let sled_dir = dir.join(SLED_DIR);
        let db = open_sled(&sled_dir).map_err(|e| match e {
            sled::Error::Io(io) => StoreError::io(&sled_dir, io),
            other => other.into(),
        })?;
        // The whole directory: sled makes its files with the umask's modes, and a store made
        // by an older build was world-readable.
        make_private(&dir)?;
        // Before the writer: finishing a redaction cut short by a crash clears it.
        let derived = Arc::new(crate::derived::SledDerived::open(&dir.join(DERIVED_DIR))?);
        let shared = Arc::new(Shared {
            head: AtomicU64::new(0),
            head_watch: tokio::sync::watch::Sender::new(Position(0)),
            places: AtomicU64::new(0),
            actors: AtomicU64::new(0),
            versions: Default::default(),
        });
        let (writer, vault) = writer::Writer::open(
            db.clone(),
            &dir,
            &sled_dir,
            shared.clone(),
            writer::WriterOptions {
                clock: options.clock,
                durability: options.durability,
                derived: derived.clone(),
                redaction_hook: options.redaction_hook,
            },
        )?;
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("shiftlog-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::io(&dir, e))?;
        tracing::debug!(path = %dir.display(), head = shared.head.load(Ordering::Acquire), "opened log");
        Ok(SledLog {
            path: dir,
            db,
            shared,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            derived,
            vault,
            _lock: lock,
        })
    }

    /// Whether `dir` holds a store (without opening or creating anything).
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(SLED_DIR).is_dir()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, r: Request) -> Result<(), StoreError> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref()
            .ok_or(StoreError::Closed)?
            .send(r)
            .map_err(|_| StoreError::Closed)
    }

    fn reader(&self) -> Reader {
        Reader {
            tree: (*self.db).clone(),
            head: self.shared.head.load(Ordering::Acquire),
            vault: self.vault.clone(),
            detail: Detail::Full,
        }
    }

    /// Stops the writer after it has answered every queued append, and waits for it.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl Drop for SledLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The file whose exclusive lock says "this data directory is open".
const LOCK_FILE: &str = "LOCK";

/// Takes the data directory's lock, or reports who has it.
fn take_lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = private_file(&path).map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
    }
}

/// Removes the snapshot files sled left unfinished (`snap.<lsn>.generating`).
///
/// sled 0.34 writes a snapshot to such a file and renames it when complete, but when it
/// opens it takes the newest `snap.` file, unfinished ones included: one left behind by a
/// write that failed (a full disk) makes every later open fail with "Read corrupted data".
/// An unfinished snapshot holds nothing the log does not (sled rebuilds snapshots from its
/// log), so removing it is always safe; the caller must hold the data directory's lock.
pub(crate) fn remove_unfinished_snapshots(sled_dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(sled_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %name, dir = %sled_dir.display(), "removing an unfinished sled snapshot");
            std::fs::remove_file(sled_dir.join(&*name))?;
        }
    }
    Ok(())
}

/// Opens sled. We hold the directory's lock, so if sled finds its own files locked it is
/// by this process: sled's I/O threads can outlive a closed log by a moment. Wait for them.
fn open_sled(sled_dir: &Path) -> sled::Result<sled::Db> {
    remove_unfinished_snapshots(sled_dir)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let config = sled::Config::new()
            .path(sled_dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock")
}

/// Runs a read off the async executor's threads.
async fn blocking<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Reads bounded by the committed head seen when the read began.
struct Reader {
    tree: sled::Tree,
    head: u64,
    vault: Arc<Vault>,
    detail: Detail,
}

impl Reader {
    fn with(self, detail: Detail) -> Reader {
        Reader { detail, ..self }
    }

    /// The keys records are opened with: none when personal data is not wanted, so that
    /// sealed data is not even decrypted.
    fn keys(&self) -> &dyn codec::Keys {
        match self.detail {
            Detail::Full => &*self.vault,
            Detail::WithoutPersonalData => &codec::NoKeys,
        }
    }

    fn missing(position: u64) -> StoreError {
        StoreError::Corrupt(format!("position {position} is missing from the log"))
    }

    fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_kept(from, limit, None)
    }

    /// The records among `limit` positions from `from`; with `places`, only those of these
    /// places (the others are checked, not decoded).
    fn read_kept(
        &self,
        from: Position,
        limit: usize,
        places: Option<&BTreeSet<PlaceId>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        use rayon::prelude::*;
        let from = from.0.max(1);
        if from > self.head || limit == 0 {
            return Ok(Vec::new());
        }
        let last = from + limit.min((self.head - from + 1) as usize) as u64 - 1;
        // Pages are fetched in order, then decoded on every core when there are several:
        // decoding is most of the cost of a long read.
        let places: Option<std::collections::HashSet<&str>> = places.map(|ps| ps.iter().map(PlaceId::as_str).collect());
        let (first_page, last_page) = (pages::page_of(from), pages::page_of(last));
        let mut fetched = Vec::with_capacity((last_page - first_page + 1) as usize);
        for item in self.tree.range(pages::key(first_page)..=pages::key(last_page)) {
            let (k, v) = item?;
            let page = pages::page_number(&k).ok_or_else(|| StoreError::Corrupt("malformed page key".into()))?;
            let expected = first_page + fetched.len() as u64;
            if page != expected {
                return Err(Self::missing(pages::first_position(expected).max(from)));
            }
            fetched.push((page, v));
        }
        if fetched.len() as u64 != last_page - first_page + 1 {
            return Err(Self::missing(
                pages::first_position(first_page + fetched.len() as u64).max(from),
            ));
        }
        // Each page's records in range, and how many positions of the range it held.
        let decode = |(page, bytes): &(u64, sled::IVec)| -> Result<(Vec<RecordedEvent>, u64), StoreError> {
            let mut out = Vec::new();
            let mut held = 0;
            for (p, rec) in pages::split(*page, bytes)? {
                if !(from..=last).contains(&p) {
                    continue;
                }
                held += 1;
                if let Some(places) = &places {
                    let place = codec::place_of(rec).map_err(|e| StoreError::Damaged {
                        position: Position(p),
                        reason: e.to_string(),
                    })?;
                    if !place.is_some_and(|x| places.contains(x)) {
                        continue;
                    }
                }
                out.push(codec::decode_at(Position(p), rec, self.keys())?);
            }
            Ok((out, held))
        };
        let decoded: Vec<(Vec<RecordedEvent>, u64)> = if fetched.len() >= 8 {
            fetched.par_iter().map(decode).collect::<Result<_, _>>()?
        } else {
            fetched.iter().map(decode).collect::<Result<_, _>>()?
        };
        // Pages hold consecutive positions from their first: a page that holds fewer of the
        // range than it should is missing records.
        let mut expected = from;
        for ((page, _), (_, held)) in fetched.iter().zip(&decoded) {
            let end = (pages::first_position(page + 1) - 1).min(last);
            if expected + held != end + 1 {
                return Err(Self::missing(expected + held));
            }
            expected = end + 1;
        }
        let mut out = Vec::with_capacity(decoded.iter().map(|(page, _)| page.len()).sum());
        for (page, _) in decoded {
            out.extend(page);
        }
        Ok(out)
    }

    fn read_stream(&self, stream: &Stream, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut page: Option<(u64, sled::IVec)> = None;
        for item in self.tree.scan_prefix(keys::chunk_prefix(stream)) {
            let (_, v) = item?;
            let ps =
                keys::decode_positions(&v).ok_or_else(|| keys::damaged(format!("the stream index of {stream}")))?;
            for p in ps {
                if p > self.head {
                    return Ok(out);
                }
                if p < from.0 {
                    continue;
                }
                out.push(self.record_via(&mut page, p)?);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        let mut page: Option<(u64, sled::IVec)> = None;
        for &Position(p) in positions {
            if p == 0 || p > self.head {
                return Err(Self::missing(p));
            }
            out.push(self.record_via(&mut page, p)?);
        }
        Ok(out)
    }

    /// The record at `p`, through a one-page cache: consecutive reads often share a page.
    fn record_via(&self, page: &mut Option<(u64, sled::IVec)>, p: u64) -> Result<RecordedEvent, StoreError> {
        let n = pages::page_of(p);
        if page.as_ref().map(|(m, _)| *m) != Some(n) {
            *page = Some((n, self.tree.get(pages::key(n))?.ok_or_else(|| Self::missing(p))?));
        }
        let (_, bytes) = page.as_ref().expect("just set");
        let (_, rec) = pages::split(n, bytes)?
            .into_iter()
            .find(|(q, _)| *q == p)
            .ok_or_else(|| Self::missing(p))?;
        codec::decode_at(Position(p), rec, self.keys())
    }

    fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        match self.tree.get(keys::id(id))? {
            None => Ok(None),
            Some(v) => {
                let p = keys::u64_value(&v).ok_or_else(|| keys::damaged(format!("the id entry of `{id}`")))?;
                if p > self.head {
                    return Ok(None);
                }
                pages::record(&self.tree, p, self.keys()).map(Some)
            }
        }
    }
}

#[async_trait]
impl EventLog for SledLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        // Everything a redaction erases (derived data, then the actors' keys) is done by
        // the writer before it answers, so a caller that goes away (a dropped future, a
        // closed connection) cannot cut it short.
        let (tx, rx) = oneshot::channel();
        self.send(Request::Append(request, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn check(&self, events: Vec<Event>) -> Result<Vec<Rejection>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Check(events, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn dry_run(&self, request: AppendRequest) -> Result<crate::types::Planned, AppendError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::DryRun(request, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader();
        blocking(move || r.read(from, limit)).await
    }

    async fn read_stream(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader();
        let stream = stream.clone();
        blocking(move || r.read_stream(&stream, from, limit)).await
    }

    async fn read_with(&self, from: Position, limit: usize, detail: Detail) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader().with(detail);
        blocking(move || r.read(from, limit)).await
    }

    async fn read_places_with(
        &self,
        places: &BTreeSet<PlaceId>,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader().with(detail);
        blocking(|| r.read_kept(from, limit, Some(places))).await
    }

    async fn read_stream_with(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader().with(detail);
        let stream = stream.clone();
        blocking(move || r.read_stream(&stream, from, limit)).await
    }

    async fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        self.reader().event(id)
    }

    fn head(&self) -> Position {
        Position(self.shared.head.load(Ordering::Acquire))
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<Position> {
        self.shared.head_watch.subscribe()
    }

    async fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        let versions = self.shared.versions.read().unwrap_or_else(|e| e.into_inner());
        Ok(versions.get(stream).copied().unwrap_or(0))
    }

    async fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>, StoreError> {
        let r = self.reader();
        let positions = positions.to_vec();
        blocking(move || r.read_at(&positions)).await
    }

    fn derived(&self) -> Arc<dyn crate::DerivedStore> {
        self.derived.clone()
    }

    async fn places(&self) -> Result<Vec<PlaceId>, StoreError> {
        let r = self.reader();
        blocking(move || {
            let mut out = Vec::new();
            for item in r.tree.scan_prefix([keys::PLACE]) {
                let (k, v) = item?;
                // Only places registered by committed events.
                if keys::u64_value(&v).is_some_and(|p| p <= r.head) {
                    out.push(keys::parse_place(&k).ok_or_else(|| keys::damaged("a place entry"))?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn stats(&self) -> Result<LogStats, StoreError> {
        let head = self.shared.head.load(Ordering::Acquire);
        let db = self.db.clone();
        let size = blocking(move || Ok(db.size_on_disk()?)).await?;
        Ok(LogStats {
            events: head,
            places: self.shared.places.load(Ordering::Acquire),
            actors: self.shared.actors.load(Ordering::Acquire),
            first_position: (head > 0).then_some(1),
            last_position: (head > 0).then_some(head),
            size_on_disk: size,
        })
    }
}

/// sled's errors, in the shared error's words (an I/O error stays one, so that a full disk
/// or a read-only file system is still named as such).
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        let source: Box<dyn std::error::Error + Send + Sync> = match e {
            sled::Error::Io(io) => Box::new(io),
            other => Box::new(other),
        };
        StoreError::Backend {
            backend: "sled",
            source,
        }
    }
}

/// Backups and checks of a data directory ([`crate::Maintain`]), off the async threads.
#[derive(Debug)]
pub struct SledMaintenance(std::sync::Arc<SledLog>);

impl SledMaintenance {
    /// What looks after `log`.
    pub fn new(log: std::sync::Arc<SledLog>) -> SledMaintenance {
        SledMaintenance(log)
    }
}

#[async_trait]
impl crate::store::Maintain for SledMaintenance {
    async fn backup(&self, out: &std::path::Path) -> Result<crate::BackupSummary, StoreError> {
        let (log, out) = (self.0.clone(), out.to_path_buf());
        tokio::task::spawn_blocking(move || log.backup(&out))
            .await
            .map_err(|e| StoreError::Unsupported(format!("the backup task failed: {e}")))?
    }
    async fn verify(&self) -> Result<Vec<crate::Problem>, StoreError> {
        let log = self.0.clone();
        tokio::task::spawn_blocking(move || log.verify())
            .await
            .map_err(|e| StoreError::Unsupported(format!("the verify task failed: {e}")))?
    }
}
