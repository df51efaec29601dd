//! The log in PostgreSQL: for organisations that need more than one machine, servers that
//! share one database, and a database their IT people already run and back up.
//!
//! The guarantees are the sled log's (see [`crate::EventLog`]); how they are kept here:
//! - **Dense positions in commit order.** Every append transaction locks the one row of
//!   `shiftlog_head` (`SELECT ... FOR UPDATE`) before it assigns positions, and holds it
//!   until it commits. Appends therefore commit one after another in position order, and a
//!   reader by position can never see position *n + 1* before *n*: the gap that sequence
//!   based stores leave when a later transaction commits first cannot occur.
//! - **Group commit.** Each [`PgLog`] has one writer task. Requests that queue while a
//!   transaction is in flight are planned together into the next one, so the head row's
//!   lock is taken once per group, not once per request.
//! - **One set of rules.** Requests are planned by the planner every log shares
//!   (`crate::plan`), against an index of what the log holds (ids, joins, registrations,
//!   versions) that the writer keeps in memory. Under the head lock it first reads what
//!   other servers committed since it last looked, so the index is current whatever server
//!   wrote.
//! - **Erasure.** Records are the store's record format, with personal data sealed under
//!   per-actor keys in `shiftlog_keys`. An `actor_redacted` sets the actor's key to NULL in
//!   the transaction that appends it; before the append is acknowledged, the keys table is
//!   rewritten (`VACUUM FULL`) so that no old row version holds the key, and derived data
//!   is cleared. Readers fetch the keys they need from the database on every read, so a
//!   redaction through one server is honoured by every server at once.
//! - **Followers.** Each log follows the head with `LISTEN shiftlog_head` (the append
//!   transaction notifies on commit), and polls as well, since notifications are not
//!   guaranteed (a dropped connection, a failover). Reads by position are the truth.
//!
//! Derived data (checkpoints, indexes) is kept in memory by each server: it is a cache, and
//! a server that sees another's redaction clears it.

mod maintain;
#[doc(hidden)]
pub mod throwaway;
mod tls;
mod writer;

use crate::codec::{ActorKey, Keys, NoKeys};
use crate::derived::MemoryDerived;
use crate::error::{AppendError, StoreError};
use crate::log::{system_clock, Clock, Detail, EventLog};
use crate::types::{AppendOutcome, AppendRequest, LogStats, Planned, Position, RecordedEvent, Stream, Version};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use shiftlog_model::{Event, EventId, PlaceId, Rejection};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tls::Address;
use tokio::sync::{mpsc, oneshot, watch};

/// The schema's migrations, in order; a database records which it has run in
/// `shiftlog_schema`. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_log.sql")),
    (2, include_str!("migrations/0002_tokens.sql")),
];

/// The advisory lock that serialises migrations between servers starting together.
const MIGRATION_LOCK: i64 = 0x5348_4946_544c_4f47; // "SHIFTLOG"

/// How often a follower asks for the head when no notification came.
const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// Rows read per query when a read asks for more.
const PAGE: i64 = 10_000;

/// How a [`PgLog`] connects and behaves.
#[derive(Clone)]
pub struct PgOptions {
    /// Where recorded times come from (the wall clock by default).
    pub clock: Option<Clock>,
    /// Connections in the pool for reads (the writer and the follower have their own).
    pub pool_size: usize,
    /// How often the head is polled when no notification arrives.
    pub poll: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            clock: None,
            pool_size: 8,
            poll: DEFAULT_POLL,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("pool_size", &self.pool_size)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// The event log in a PostgreSQL database (or one that speaks its protocol).
///
/// Several `PgLog`s, in one process or on many machines, may share a database: positions,
/// versions, ids and erasure hold across all of them.
pub struct PgLog {
    pool: Pool,
    writer: mpsc::Sender<writer::Job>,
    head: Arc<watch::Sender<Position>>,
    derived: Arc<MemoryDerived>,
    /// Where it is, without a password: for messages.
    target: String,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for PgLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLog")
            .field("target", &self.target)
            .field("head", &self.head())
            .finish()
    }
}

impl Drop for PgLog {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// PostgreSQL's errors, in the shared error's words.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend {
        backend: "PostgreSQL",
        source: Box::new(PgFailure(e)),
    }
}

/// A client error with its causes in its message: tokio-postgres says "error performing
/// TLS handshake" and leaves *why* (the certificate names another host) to its source,
/// which a library user printing the error would not see.
#[derive(Debug)]
struct PgFailure(tokio_postgres::Error);

impl std::fmt::Display for PgFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::error::Error;
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let text = c.to_string();
            // tokio-postgres repeats a database error's text in its own.
            if !said.contains(&text) {
                write!(f, ": {text}")?;
                said = text;
            }
            cause = c.source();
        }
        Ok(())
    }
}

impl std::error::Error for PgFailure {}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Backend {
            backend: "PostgreSQL",
            source: Box::new(other),
        },
    }
}

/// The key a stream is stored under: its place, or '' for the unplaced stream.
pub(crate) fn stream_key(stream: &Stream) -> &str {
    match stream {
        Stream::Place(p) => p.as_str(),
        Stream::Unplaced => "",
    }
}

/// A connection address without its password (and its `sslmode` unless the default).
fn describe(address: &Address) -> String {
    let mode = match address.mode {
        tls::Mode::Prefer => String::new(),
        other => format!("?sslmode={}", other.name()),
    };
    format!("{}{mode}", describe_config(&address.config))
}

fn describe_config(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            Host::Tcp(h) => format!("{h}:{p}"),
            Host::Unix(path) => format!("{}:{p}", path.display()),
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// An address as given, with any password replaced, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let parsed = tls::split_tls_params(url).ok().and_then(|(rest, _)| rest.parse().ok());
    match parsed {
        Some(c) => describe_config(&c),
        None => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
            _ => url.to_string(),
        },
    }
}

/// One connection (no pool) with its driver task, and the address without a password.
pub(crate) async fn connect_plain(
    url: &str,
) -> Result<(tokio_postgres::Client, String, tokio::task::JoinHandle<()>), StoreError> {
    let address = Address::parse(url)?;
    let target = describe(&address);
    let (client, connection) = address.connect().await.map_err(|e| StoreError::Backend {
        backend: "PostgreSQL",
        source: format!("cannot connect to {target}: {}", PgFailure(e)).into(),
    })?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("a PostgreSQL connection ended: {e}");
        }
    });
    Ok((client, target, driver))
}

impl PgLog {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`, or a libpq
    /// key-value string), creating or upgrading shiftlog's tables when needed.
    pub async fn connect(url: &str) -> Result<PgLog, StoreError> {
        PgLog::connect_with(url, PgOptions::default()).await
    }

    /// [`PgLog::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgLog, StoreError> {
        let address = Address::parse(url)?;
        let target = describe(&address);
        // The writer's own connection; it also runs the migrations.
        let (mut client, _, driver) = connect_plain(url).await?;
        migrate(&mut client).await?;
        let head_row = client
            .query_one("SELECT position FROM shiftlog_head", &[])
            .await
            .map_err(pg)?;
        let head = Position(head_row.get::<_, i64>(0) as u64);

        let manager = Manager::from_config(
            address.config.clone(),
            address.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Unsupported(format!("cannot make a connection pool: {e}")))?;
        let head = Arc::new(watch::Sender::new(head));
        let derived = Arc::new(MemoryDerived::default());
        let (tx, rx) = mpsc::channel(1024);
        let writer = writer::Writer::new(
            address.clone(),
            client,
            options.clock.clone().unwrap_or_else(system_clock),
            head.clone(),
            derived.clone(),
        );
        let writer_task = tokio::spawn(writer.run(rx, driver));
        let follower = tokio::spawn(follow(address, head.clone(), derived.clone(), options.poll));
        Ok(PgLog {
            pool,
            writer: tx,
            head,
            derived,
            target,
            tasks: vec![writer_task.abort_handle(), follower.abort_handle()],
        })
    }

    /// Where the log is (without a password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Stores a server access token's description (`record`, opaque here) under its id
    /// and SHA-256; the server that owns tokens gives them meaning.
    pub async fn token_insert(&self, id: &str, sha256: &str, record: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO shiftlog_tokens (id, sha256, record) VALUES ($1, $2, $3)",
                &[&id, &sha256, &record],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Every token's description, by id.
    pub async fn token_list(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .query("SELECT record FROM shiftlog_tokens ORDER BY id", &[])
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    /// Removes the token with this id; its description, if there was one.
    pub async fn token_remove(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("DELETE FROM shiftlog_tokens WHERE id = $1 RETURNING record", &[&id])
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The description of the token with this SHA-256, if any.
    pub async fn token_find(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT record FROM shiftlog_tokens WHERE sha256 = $1", &[&sha256])
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn submit(&self, job: writer::Work) -> Result<writer::Answer, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::Job { work: job, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Reads rows of `(position, record, slots)` into events, opening personal data when
    /// `detail` asks for it with the keys the database holds now.
    async fn decode_rows(
        &self,
        client: &tokio_postgres::Client,
        rows: Vec<tokio_postgres::Row>,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        decode_rows(client, rows, detail).await
    }

    async fn query_events(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(sql, params).await.map_err(pg)?;
        self.decode_rows(&client, rows, detail).await
    }
}

/// Rows of `(position, record, slots)` as events; personal data opened with the keys the
/// database holds now when `detail` asks for it.
pub(crate) async fn decode_rows(
    client: &tokio_postgres::Client,
    rows: Vec<tokio_postgres::Row>,
    detail: Detail,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let keys = match detail {
        Detail::Full => {
            let mut slots: Vec<i32> = rows
                .iter()
                .flat_map(|r| slots_of(r.get::<_, &[u8]>(2)))
                .map(|s| s as i32)
                .collect();
            slots.sort_unstable();
            slots.dedup();
            fetch_keys(client, &slots).await?
        }
        _ => FetchedKeys::default(),
    };
    let keys: &dyn Keys = if matches!(detail, Detail::Full) { &keys } else { &NoKeys };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let position = Position(row.get::<_, i64>(0) as u64);
        let rec = crate::codec::decode_at(position, row.get::<_, &[u8]>(1), keys)?;
        out.push(rec);
    }
    Ok(out)
}

/// The slots in a `slots` column.
fn slots_of(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("chunks of four")))
}

/// Keys read from the database for one read; destroyed keys are absent.
#[derive(Debug, Default)]
struct FetchedKeys(HashMap<u32, ActorKey>);

impl Keys for FetchedKeys {
    fn seal_key(&self, _: &shiftlog_model::ActorId) -> Option<(u32, ActorKey)> {
        None
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        self.0.get(&slot).copied()
    }
}

async fn fetch_keys(client: &tokio_postgres::Client, slots: &[i32]) -> Result<FetchedKeys, StoreError> {
    if slots.is_empty() {
        return Ok(FetchedKeys::default());
    }
    let rows = client
        .query(
            "SELECT slot, key FROM shiftlog_keys WHERE slot = ANY($1) AND key IS NOT NULL",
            &[&slots],
        )
        .await
        .map_err(pg)?;
    let mut keys = HashMap::new();
    for r in rows {
        let key: &[u8] = r.get(1);
        let key: ActorKey = key
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("the key in slot {} is not 32 bytes", r.get::<_, i32>(0))))?;
        keys.insert(r.get::<_, i32>(0) as u32, key);
    }
    Ok(FetchedKeys(keys))
}

/// Creates or upgrades shiftlog's tables, one server at a time.
pub(crate) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS shiftlog_schema (version INTEGER PRIMARY KEY)")
        .await
        .map_err(pg)?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM shiftlog_schema", &[])
        .await
        .map_err(pg)?
        .get(0);
    let current = current.unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > latest {
        return Err(StoreError::UnsupportedFormat {
            found: current as u32,
            supported: latest as u32,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO shiftlog_schema (version) VALUES ($1)", &[version])
            .await
            .map_err(pg)?;
        tracing::info!("PostgreSQL schema migrated to version {version}");
    }
    tx.commit().await.map_err(pg)
}

/// Follows the head: wakes on `NOTIFY shiftlog_head` and every `poll`, reads the head
/// row, and clears derived data when another server appended a redaction. Reconnects
/// after losing its connection.
async fn follow(address: Address, head: Arc<watch::Sender<Position>>, derived: Arc<MemoryDerived>, poll: Duration) {
    use futures_util::StreamExt;
    loop {
        let connected = address.connect().await;
        let (client, mut connection) = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("the head follower cannot connect to PostgreSQL: {e}");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let (wake, mut woken) = mpsc::unbounded_channel();
        let messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let driver = tokio::spawn(async move {
            futures_util::pin_mut!(messages);
            while let Some(m) = messages.next().await {
                match m {
                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                        let _ = wake.send(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("the head follower's connection failed: {e}");
                        break;
                    }
                }
            }
        });
        let result: Result<(), tokio_postgres::Error> = async {
            client.batch_execute("LISTEN shiftlog_head").await?;
            loop {
                let row = client.query_one("SELECT position FROM shiftlog_head", &[]).await?;
                let now = Position(row.get::<_, i64>(0) as u64);
                let known = *head.borrow();
                if now > known {
                    let redacted: bool = client
                        .query_one(
                            "SELECT EXISTS (SELECT 1 FROM shiftlog_events \
                             WHERE event_type = 'actor_redacted' AND position > $1 AND position <= $2)",
                            &[&(known.0 as i64), &(now.0 as i64)],
                        )
                        .await?
                        .get(0);
                    if redacted {
                        if let Err(e) = crate::DerivedStore::clear(&*derived) {
                            tracing::error!("clearing derived data after a redaction failed: {e}");
                        }
                    }
                    head.send_if_modified(|h| {
                        let moved = now > *h;
                        if moved {
                            *h = now;
                        }
                        moved
                    });
                }
                tokio::select! {
                    _ = woken.recv() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("the head follower lost PostgreSQL: {e}");
        }
        driver.abort();
        tokio::time::sleep(poll).await;
    }
}

#[async_trait]
impl EventLog for PgLog {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        match self.submit(writer::Work::Append(request)).await? {
            writer::Answer::Appended(out) => Ok(out),
            _ => unreachable!("the writer answers an append with an outcome"),
        }
    }

    async fn check(&self, events: Vec<Event>) -> Result<Vec<Rejection>, StoreError> {
        match self.submit(writer::Work::Check(events)).await {
            Ok(writer::Answer::Checked(r)) => Ok(r),
            Ok(_) => unreachable!("the writer answers a check with rejections"),
            Err(AppendError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Unsupported(e.to_string())),
        }
    }

    async fn dry_run(&self, request: AppendRequest) -> Result<Planned, AppendError> {
        match self.submit(writer::Work::DryRun(request)).await? {
            writer::Answer::Planned(p) => Ok(p),
            _ => unreachable!("the writer answers a dry run with a plan"),
        }
    }

    async fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_with(from, limit, Detail::Full).await
    }

    async fn read_with(&self, from: Position, limit: usize, detail: Detail) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut next = from.0.max(1) as i64;
        let mut left = limit.min(i64::MAX as usize) as i64;
        while left > 0 {
            let page = left.min(PAGE);
            let events = self
                .query_events(
                    "SELECT position, record, slots FROM shiftlog_events \
                     WHERE position >= $1 ORDER BY position LIMIT $2",
                    &[&next, &page],
                    detail,
                )
                .await?;
            let n = events.len() as i64;
            if let Some(last) = events.last() {
                next = last.position.0 as i64 + 1;
            }
            out.extend(events);
            left -= n;
            if n < page {
                break;
            }
        }
        Ok(out)
    }

    async fn read_stream(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_with(stream, from, limit, Detail::Full).await
    }

    async fn read_stream_with(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.query_events(
            "SELECT position, record, slots FROM shiftlog_events \
             WHERE stream = $1 AND position >= $2 ORDER BY position LIMIT $3",
            &[&stream_key(stream), &(from.0 as i64), &limit],
            detail,
        )
        .await
    }

    async fn read_places_with(
        &self,
        places: &BTreeSet<PlaceId>,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let names: Vec<&str> = places.iter().map(|p| p.as_str()).collect();
        let from = from.0.max(1) as i64;
        let to = from.saturating_add(limit.min(i64::MAX as usize) as i64);
        self.query_events(
            "SELECT position, record, slots FROM shiftlog_events \
             WHERE stream = ANY($1) AND position >= $2 AND position < $3 ORDER BY position",
            &[&names, &from, &to],
            detail,
        )
        .await
    }

    async fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        let mut events = self
            .query_events(
                "SELECT position, record, slots FROM shiftlog_events WHERE id = $1",
                &[&id.as_str()],
                Detail::Full,
            )
            .await?;
        Ok(events.pop())
    }

    fn head(&self) -> Position {
        *self.head.borrow()
    }

    fn watch_head(&self) -> watch::Receiver<Position> {
        self.head.subscribe()
    }

    async fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT version FROM shiftlog_streams WHERE stream = $1",
                &[&stream_key(stream)],
            )
            .await
            .map_err(pg)?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    async fn stats(&self) -> Result<LogStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT position FROM shiftlog_head), \
                        (SELECT count(*) FROM shiftlog_places), \
                        (SELECT count(*) FROM shiftlog_actors), \
                        (SELECT sum(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c \
                         WHERE c.relname LIKE 'shiftlog\\_%' AND c.relkind = 'r')",
                &[],
            )
            .await
            .map_err(pg)?;
        let n = row.get::<_, i64>(0) as u64;
        Ok(LogStats {
            events: n,
            places: row.get::<_, i64>(1) as u64,
            actors: row.get::<_, i64>(2) as u64,
            first_position: (n > 0).then_some(1),
            last_position: (n > 0).then_some(n),
            size_on_disk: row.get::<_, Option<i64>>(3).unwrap_or(0) as u64,
        })
    }

    async fn places(&self) -> Result<Vec<PlaceId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT place FROM shiftlog_places ORDER BY place", &[])
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let s: &str = r.get(0);
                s.parse()
                    .map_err(|_| StoreError::Corrupt(format!("`{s}` in shiftlog_places is not a place id")))
            })
            .collect()
    }

    async fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>, StoreError> {
        let wanted: Vec<i64> = positions.iter().map(|p| p.0 as i64).collect();
        let events = self
            .query_events(
                "SELECT position, record, slots FROM shiftlog_events \
                 WHERE position = ANY($1) ORDER BY position",
                &[&wanted],
                Detail::Full,
            )
            .await?;
        let by_position: HashMap<Position, RecordedEvent> = events.into_iter().map(|e| (e.position, e)).collect();
        positions
            .iter()
            .map(|p| {
                by_position
                    .get(p)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt(format!("position {p} is not in the log")))
            })
            .collect()
    }

    fn derived(&self) -> Arc<dyn crate::DerivedStore> {
        self.derived.clone()
    }
}
