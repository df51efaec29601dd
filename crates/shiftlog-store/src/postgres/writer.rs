//! The one writer task of a [`super::PgLog`]: group commit under the head row's lock.

use super::tls::Address;
use super::{decode_rows, pg, stream_key};
use crate::codec::{new_key, ActorKey, Keys, NoKeys};
use crate::derived::MemoryDerived;
use crate::error::{AppendError, StoreError};
use crate::log::{Clock, Detail};
use crate::plan::{plan_request, Committed, Index, Overlay};
use crate::types::{AppendOutcome, AppendRequest, Planned, Position, RecordedEvent, Stream, Version};
use futures_util::future::{join_all, try_join_all};
use shiftlog_model::{ActorId, Event, EventBody, EventId, PlaceId, Rejection, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, Statement};

/// What the last group says about the next: how long to wait for requests before
/// starting it.
///
/// With many clients each waiting for its answer before sending again, the clients one
/// group answers send again while the next group (of those that queued meanwhile) is
/// being committed, and the groups settle into two half-sized cohorts taking turns: half
/// the commits' worth of events each. Waiting a fraction of a commit for the clients just
/// answered merges the cohorts. The wait is only for as many requests as the last group
/// answered plus those queued when it ended, and never longer than half the last commit
/// (at most [`MAX_GATHER`]): one client alone never waits, since the one request it sends
/// is all that is expected.
#[derive(Clone, Copy, Default)]
struct Gather {
    /// Requests the last group answered.
    answered: usize,
    /// Jobs queued when it ended.
    carried: usize,
    /// How long it took.
    took: std::time::Duration,
}

impl Gather {
    fn wait(&self) -> std::time::Duration {
        (self.took / 2).min(MAX_GATHER)
    }
}

/// The longest a group waits for requests expected to come.
const MAX_GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// At most this many requests share a transaction.
const MAX_GROUP_REQUESTS: usize = 256;
/// A group stops taking requests once it holds this many events.
const MAX_GROUP_EVENTS: usize = 20_000;
/// Events read per query when catching up with other servers.
const CATCH_UP_PAGE: i64 = 20_000;

/// A group of at most this many events may skip the lock's round trip when this writer
/// wrote last (see [`Writer::try_alone`]); bigger groups are planned under the lock, where
/// the round trip is a small part of their time and a wasted plan a big one.
const MAX_ALONE_EVENTS: usize = 1024;

/// The writer's statements, prepared once per connection: a group then costs one or two
/// round trips to the database when nothing else must be read (the lock, unless this
/// writer wrote last; the writes pipelined with the commit), not a parse and an execution
/// per statement.
#[derive(Clone)]
struct Statements {
    head: Statement,
    lock_head: Statement,
    catch_up: Statement,
    prefetch: Statement,
    keys: Statement,
    next_slot: Statement,
    insert_keys: Statement,
    destroy_keys: Statement,
    insert_events: Statement,
    versions: Statement,
    places: Statement,
    actors: Statement,
    move_head: Statement,
    move_head_from: Statement,
    notify: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
        let sql = [
            "SELECT position, recorded_unix, recorded_nanos FROM shiftlog_head",
            "SELECT position, recorded_unix, recorded_nanos FROM shiftlog_head FOR UPDATE",
            "SELECT position, record, slots FROM shiftlog_events \
             WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
            "SELECT position, record, slots FROM shiftlog_events WHERE id = ANY($1)",
            "SELECT actor, slot, key FROM shiftlog_keys WHERE actor = ANY($1)",
            "SELECT COALESCE(max(slot) + 1, 0) FROM shiftlog_keys",
            "INSERT INTO shiftlog_keys (slot, actor, key) \
             SELECT * FROM UNNEST($1::INTEGER[], $2::TEXT[], $3::BYTEA[])",
            "UPDATE shiftlog_keys SET key = NULL WHERE actor = ANY($1)",
            "INSERT INTO shiftlog_events (position, id, stream, event_type, slots, record) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[])",
            "INSERT INTO shiftlog_streams (stream, version) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[]) \
             ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version",
            "INSERT INTO shiftlog_places (place) SELECT * FROM UNNEST($1::TEXT[]) ON CONFLICT DO NOTHING",
            "INSERT INTO shiftlog_actors (actor) SELECT * FROM UNNEST($1::TEXT[]) ON CONFLICT DO NOTHING",
            "UPDATE shiftlog_head SET position = $1, recorded_unix = $2, recorded_nanos = $3",
            // Takes the lock and moves the head only if it is where this writer left it:
            // otherwise `one` becomes false, which the table's CHECK (one) refuses, and the
            // whole transaction aborts (see `HEAD_MOVED`). A CHECK, not a function, so that
            // it needs no migration and runs on anything that speaks PostgreSQL's SQL.
            "UPDATE shiftlog_head SET one = (position = $1), position = $2, recorded_unix = $3, recorded_nanos = $4",
            "SELECT pg_notify('shiftlog_head', $1)",
        ];
        // Prepared together: one round trip.
        let mut st = try_join_all(sql.iter().map(|q| client.prepare(q))).await?.into_iter();
        let mut next = || st.next().expect("one statement per query");
        Ok(Statements {
            head: next(),
            lock_head: next(),
            catch_up: next(),
            prefetch: next(),
            keys: next(),
            next_slot: next(),
            insert_keys: next(),
            destroy_keys: next(),
            insert_events: next(),
            versions: next(),
            places: next(),
            actors: next(),
            move_head: next(),
            move_head_from: next(),
            notify: next(),
        })
    }
}

pub(super) enum Work {
    Append(AppendRequest),
    Check(Vec<Event>),
    DryRun(AppendRequest),
}

pub(super) enum Answer {
    Appended(AppendOutcome),
    Checked(Vec<Rejection>),
    Planned(Planned),
}

pub(super) struct Job {
    pub(super) work: Work,
    pub(super) reply: oneshot::Sender<Result<Answer, AppendError>>,
}

pub(super) struct Writer {
    address: Address,
    client: Option<Client>,
    /// Prepared on `client`; `None` until then (and after a reconnection).
    statements: Option<Statements>,
    gather: Gather,
    /// The actors whose keys the current group's first round trip asked for (those found
    /// are in `keys`), and the next free slot then.
    read_keys: Option<(HashSet<ActorId>, i32)>,
    index: Index,
    /// Actors' key slots and keys (`None`: destroyed), as far as this writer has needed them.
    keys: HashMap<ActorId, (u32, Option<ActorKey>)>,
    clock: Clock,
    head: Arc<watch::Sender<Position>>,
    derived: Arc<MemoryDerived>,
    /// When small groups plan without the lock.
    alone: Alone,
    /// The recorded time of the head as this writer last saw or wrote it.
    recorded: Option<Timestamp>,
}

/// Whether a small group may plan without the lock, from what the last groups found.
///
/// One server on a database always finds the head where it left it, and skips the lock's
/// round trip for every small group. Servers that take turns would waste a transaction
/// each time the other has written; so after each refusal this writer waits for twice as
/// many groups in a row under the lock that found no other server's events (up to
/// [`MAX_QUIET_GROUPS`]) before trying again.
#[derive(Clone, Copy)]
struct Alone {
    /// Groups in a row, under the lock, that found no other server's events.
    quiet: u32,
    /// How many it takes.
    needed: u32,
}

impl Default for Alone {
    fn default() -> Self {
        Alone { quiet: 0, needed: 1 }
    }
}

const MAX_QUIET_GROUPS: u32 = 64;

impl Alone {
    fn now(&self) -> bool {
        self.quiet >= self.needed
    }
    /// A group planned under the lock found the head where this writer had left it, or not.
    fn locked(&mut self, quiet: bool) {
        self.quiet = if quiet { self.quiet.saturating_add(1) } else { 0 };
    }
    /// A group planned without the lock was refused: another server had written.
    fn refused(&mut self) {
        self.quiet = 0;
        self.needed = (self.needed * 2).min(MAX_QUIET_GROUPS);
    }
}

/// The constraint that refuses a group planned without the lock when another server has
/// written since (`move_head_from`): the table's `CHECK (one)`, under PostgreSQL's name.
const HEAD_MOVED: &str = "shiftlog_head_one_check";

/// The committed log as the planner sees it here: the index, and the events that the
/// requests name, read before planning.
struct Prefetched<'a> {
    index: &'a Index,
    events: HashMap<EventId, RecordedEvent>,
}

impl Committed for Prefetched<'_> {
    fn head(&self) -> u64 {
        self.index.head
    }
    fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        Ok(self.index.version(stream))
    }
    fn lookup_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        match (self.events.get(id), self.index.ids.contains_key(id)) {
            (Some(e), _) => Ok(Some(e.clone())),
            (None, false) => Ok(None),
            // Every id a request names is read before planning; this is a bug if reached.
            (None, true) => Err(StoreError::Corrupt(format!(
                "event `{id}` is in the log but was not read before planning"
            ))),
        }
    }
    fn id_taken(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.index.ids.contains_key(id))
    }
    fn registrations(&self, place: &PlaceId) -> Result<Vec<Position>, StoreError> {
        Ok(self.index.registrations(place))
    }
    fn joins(&self, place: &PlaceId, actor: &ActorId) -> Result<Vec<(Timestamp, Position)>, StoreError> {
        Ok(self.index.joins(place, actor))
    }
    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError> {
        Ok(self.index.actor_known(actor))
    }
    fn place_known(&self, place: &PlaceId) -> Result<bool, StoreError> {
        Ok(self.index.place_known(place))
    }
}

/// Seals with the writer's keys.
struct Sealing<'a> {
    keys: &'a HashMap<ActorId, (u32, Option<ActorKey>)>,
}

impl Keys for Sealing<'_> {
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)> {
        let (slot, key) = self.keys.get(actor)?;
        Some((*slot, (*key)?))
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        self.keys.values().find(|(s, _)| *s == slot).and_then(|(_, k)| *k)
    }
}

/// The ids a request's planning will look up: its events' own, and their targets.
fn named_ids<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        if let Some(id) = &e.id {
            out.push(id.as_str().to_string());
        }
        if let EventBody::EventRetracted { target, .. } = &e.body {
            out.push(target.as_str().to_string());
        }
    }
    out
}

impl Writer {
    pub(super) fn new(
        address: Address,
        client: Client,
        clock: Clock,
        head: Arc<watch::Sender<Position>>,
        derived: Arc<MemoryDerived>,
    ) -> Writer {
        Writer {
            address,
            client: Some(client),
            statements: None,
            gather: Gather::default(),
            read_keys: None,
            index: Index::default(),
            keys: HashMap::new(),
            clock,
            head,
            derived,
            alone: Alone::default(),
            recorded: None,
        }
    }

    pub(super) async fn run(mut self, mut jobs: mpsc::Receiver<Job>, driver: tokio::task::JoinHandle<()>) {
        let mut driver = Some(driver);
        while let Some(first) = jobs.recv().await {
            // A lost connection is made again for the next job; the index is rebuilt from
            // the database as needed (what was committed is read back under the lock).
            if self.client.as_ref().is_none_or(|c| c.is_closed()) {
                if let Some(d) = driver.take() {
                    d.abort();
                }
                match self.address.connect().await {
                    Ok((client, connection)) => {
                        driver = Some(tokio::spawn(async move {
                            if let Err(e) = connection.await {
                                tracing::warn!("the PostgreSQL writer's connection ended: {e}");
                            }
                        }));
                        self.client = Some(client);
                        self.statements = None;
                    }
                    Err(e) => {
                        let _ = first.reply.send(Err(super::pg(e).into()));
                        continue;
                    }
                }
            }
            if self.statements.is_none() {
                let client = self.client.as_ref().expect("connected above");
                match Statements::prepare(client).await {
                    Ok(st) => self.statements = Some(st),
                    Err(e) => {
                        let _ = first.reply.send(Err(super::pg(e).into()));
                        continue;
                    }
                }
            }
            match first.work {
                Work::Append(request) => {
                    let mut group = vec![(request, first.reply)];
                    let mut events = group[0].0.events.len();
                    let mut others = Vec::new();
                    // What is queued now; then, while the clients the last group answered
                    // are likely to be on their way back, a short wait for them (below).
                    let expected = (self.gather.carried + self.gather.answered).min(MAX_GROUP_REQUESTS);
                    let deadline = tokio::time::Instant::now() + self.gather.wait();
                    while group.len() < MAX_GROUP_REQUESTS && events < MAX_GROUP_EVENTS {
                        let next = match jobs.try_recv() {
                            Ok(job) => Some(job),
                            Err(_) if group.len() < expected => {
                                tokio::time::timeout_at(deadline, jobs.recv()).await.ok().flatten()
                            }
                            Err(_) => None,
                        };
                        match next {
                            Some(Job {
                                work: Work::Append(r),
                                reply,
                            }) => {
                                events += r.events.len();
                                group.push((r, reply));
                            }
                            Some(other) => {
                                others.push(other);
                                break;
                            }
                            None => break,
                        }
                    }
                    let requests = group.len();
                    let started = std::time::Instant::now();
                    self.append_group(group).await;
                    self.gather = Gather {
                        answered: requests,
                        carried: jobs.len(),
                        took: started.elapsed(),
                    };
                    for job in others {
                        self.answer(job).await;
                    }
                }
                _ => self.answer(first).await,
            }
        }
        if let Some(d) = driver {
            d.abort();
        }
    }

    /// Answers a check or a dry run against the log as committed now.
    async fn answer(&mut self, job: Job) {
        let result = async {
            let client = self.client.take().ok_or(StoreError::Closed)?;
            let result = self.plan_alone(&client, job.work).await;
            self.client = Some(client);
            result
        }
        .await;
        let _ = job.reply.send(result);
    }

    async fn plan_alone(&mut self, client: &Client, work: Work) -> Result<Answer, AppendError> {
        let st = self.statements.clone().ok_or(StoreError::Closed)?;
        let row = client.query_one(&st.head, &[]).await.map_err(pg)?;
        let head = row.get::<_, i64>(0) as u64;
        self.catch_up(client, &st, head).await?;
        let now = self.now(&row);
        let named = match &work {
            Work::Check(events) => named_ids(events.iter()),
            Work::DryRun(r) | Work::Append(r) => named_ids(r.events.iter()),
        };
        let events = self.prefetch(client, &st, named).await?;
        let committed = Prefetched {
            index: &self.index,
            events,
        };
        match work {
            Work::Check(events) => Ok(Answer::Checked(crate::plan::check(&committed, events, now)?)),
            Work::DryRun(r) | Work::Append(r) => Ok(Answer::Planned(crate::plan::dry_run(&committed, r, now)?)),
        }
    }

    /// The time to record: the clock, or the last recorded time if the clock is behind it
    /// (recorded times never decrease, whatever server's clock wrote last).
    fn now(&mut self, head_row: &tokio_postgres::Row) -> Timestamp {
        self.recorded = Timestamp::from_unix(head_row.get::<_, i64>(1), head_row.get::<_, i32>(2) as u32);
        self.now_after_recorded()
    }

    /// The clock, or the head's recorded time as this writer last saw or wrote it.
    fn now_after_recorded(&self) -> Timestamp {
        let now = (self.clock)();
        match self.recorded {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    /// Reads what was committed after the index's head up to `head` into the index.
    async fn catch_up(&mut self, client: &Client, st: &Statements, head: u64) -> Result<(), StoreError> {
        if head < self.index.head {
            // The database lost commits this writer saw (an asynchronous standby promoted,
            // a restore): start again from what it holds.
            tracing::error!(
                "the database's head ({head}) is behind what this server saw committed ({}): rebuilding its index",
                self.index.head
            );
            self.index = Index::default();
            self.keys.clear();
            crate::DerivedStore::clear(&*self.derived)?;
        }
        while self.index.head < head {
            let rows = client
                .query(
                    &st.catch_up,
                    &[&(self.index.head as i64), &(head as i64), &CATCH_UP_PAGE],
                )
                .await
                .map_err(pg)?;
            if rows.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "the head is {head}, but no event follows position {}",
                    self.index.head
                )));
            }
            let mut events = Vec::with_capacity(rows.len());
            for row in rows {
                let position = Position(row.get::<_, i64>(0) as u64);
                events.push(crate::codec::decode_at(position, row.get::<_, &[u8]>(1), &NoKeys)?);
            }
            for e in &events {
                if let EventBody::ActorRedacted { actor, .. } = &e.event.body {
                    // Another server redacted: this writer's copy of the key must go too.
                    if let Some(k) = self.keys.get_mut(actor) {
                        k.1 = None;
                    }
                }
            }
            self.index.replay(&events)?;
        }
        Ok(())
    }

    /// The committed events with these ids, with their personal data (a retried event is
    /// compared with what is stored whole).
    async fn prefetch(
        &self,
        client: &Client,
        st: &Statements,
        ids: Vec<String>,
    ) -> Result<HashMap<EventId, RecordedEvent>, StoreError> {
        let wanted: Vec<String> = ids
            .into_iter()
            .filter(|id| id.parse::<EventId>().is_ok_and(|id| self.index.ids.contains_key(&id)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = client.query(&st.prefetch, &[&wanted]).await.map_err(pg)?;
        let events = decode_rows(client, rows, Detail::Full).await?;
        Ok(events.into_iter().map(|e| (e.id().clone(), e)).collect())
    }

    async fn append_group(&mut self, group: Vec<(AppendRequest, oneshot::Sender<Result<Answer, AppendError>>)>) {
        let (requests, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let Some(mut client) = self.client.take() else {
            for r in replies {
                let _ = r.send(Err(StoreError::Closed.into()));
            }
            return;
        };
        let result = self.try_group(&mut client, requests).await;
        self.client = Some(client);
        match result {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer.map(Answer::Appended));
                }
            }
            Err(e) => {
                // Keys this writer made for the failed transaction are not in the
                // database: forget them all, and read them back as needed.
                self.keys.clear();
                tracing::warn!("a PostgreSQL append failed: {e}");
                let message = e.to_string();
                for reply in replies {
                    let error = match &e {
                        GroupError::Unconfirmed(_) => StoreError::Unconfirmed(message.clone()),
                        GroupError::Failed(_) | GroupError::HeadMoved => StoreError::WriteFailed(message.clone()),
                    };
                    let _ = reply.send(Err(error.into()));
                }
            }
        }
    }

    async fn try_group(
        &mut self,
        client: &mut Client,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, AppendError>>, GroupError> {
        let st = self.statements.clone().ok_or(GroupError::Failed(StoreError::Closed))?;
        let requests = match self.try_alone(client, &st, requests).await {
            Ok(done) => return done,
            Err(requests) => requests,
        };
        let (answers, group, now) = match self.plan_group(client, &st, requests).await {
            Ok(planned) => planned,
            Err(Planning::Nothing(answers)) => {
                // Nothing to write (all rejected, or all already present).
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| GroupError::Failed(pg(e)))?;
                return Ok(answers);
            }
            Err(Planning::Failed(e)) => {
                // The transaction may be open (and aborted); the connection may be gone.
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(GroupError::Failed(e));
            }
        };
        let redacted = self.write_and_commit(client, &st, &group, now, None).await?;
        self.committed(client, group, now, redacted).await;
        Ok(answers)
    }

    /// Plans and writes a small group without the lock's round trip when this writer wrote
    /// last (no other server had written when it last took the lock): planned against its
    /// own index, and committed only if the head is still where that index ends, which the
    /// transaction's first statement checks as it takes the lock (`move_head_from`). If
    /// another server has written meanwhile, the transaction aborts with nothing written;
    /// the requests come back, to be planned again under the lock. Every answer is
    /// checked with the commit: a group that commits was planned against the log as it
    /// was when it committed.
    ///
    /// Groups that must read first (keys of actors this writer has not seen, events a
    /// request names), big groups, and groups with nothing to write go under the lock.
    #[allow(clippy::type_complexity)]
    async fn try_alone(
        &mut self,
        client: &Client,
        st: &Statements,
        requests: Vec<AppendRequest>,
    ) -> Result<Result<Vec<Result<AppendOutcome, AppendError>>, GroupError>, Vec<AppendRequest>> {
        let events = || requests.iter().flat_map(|r| r.events.iter());
        let eligible = self.alone.now()
            && events().count() <= MAX_ALONE_EVENTS
            && events()
                .flat_map(|e| e.data_subjects())
                .all(|a| self.keys.contains_key(a))
            && named_ids(events())
                .iter()
                .all(|id| id.parse::<EventId>().is_ok_and(|id| !self.index.ids.contains_key(&id)));
        if !eligible {
            return Err(requests);
        }
        let from = self.index.head;
        let now = self.now_after_recorded();
        let committed = Prefetched {
            index: &self.index,
            events: HashMap::new(),
        };
        let mut group = Overlay::starting_at(from + 1);
        let answers: Vec<_> = requests
            .iter()
            .cloned()
            .map(|r| plan_request(&committed, &mut group, r, now))
            .collect();
        if group.is_empty() {
            // Rejections and answers from the log are only sure under the lock.
            return Err(requests);
        }
        match self.write_and_commit(client, st, &group, now, Some(from)).await {
            Ok(redacted) => {
                self.committed(client, group, now, redacted).await;
                Ok(Ok(answers))
            }
            Err(GroupError::HeadMoved) => {
                tracing::debug!("another server appended since position {from}: planning under the lock");
                self.alone.refused();
                // A redaction in the group destroyed keys in this writer's copy.
                self.keys.clear();
                Err(requests)
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// After a commit: the index, the head, and for a redaction the erasure duty, before
    /// any of it is acknowledged.
    async fn committed(&mut self, client: &Client, mut group: Overlay, now: Timestamp, redacted: Vec<ActorId>) {
        self.recorded = Some(now);
        let last = Position(group.next - 1);
        self.index.apply(&mut group);
        if !redacted.is_empty() {
            let vacuum = client.batch_execute("VACUUM FULL shiftlog_keys").await;
            if let Err(e) = vacuum {
                // The keys are NULL in the table; only their old row versions may remain
                // in its files until the next rewrite.
                tracing::error!(
                    "the redaction is committed and its keys are deleted, but rewriting the keys table \
                     failed (run VACUUM FULL shiftlog_keys): {e}"
                );
            }
            if let Err(e) = crate::DerivedStore::clear(&*self.derived) {
                tracing::error!("clearing derived data after a redaction failed: {e}");
            }
        }
        self.head.send_if_modified(|h| {
            let moved = last > *h;
            if moved {
                *h = last;
            }
            moved
        });
    }

    /// Opens the transaction, takes the head row, catches up, reads what the requests name
    /// and plans them.
    #[allow(clippy::type_complexity)]
    async fn plan_group(
        &mut self,
        client: &Client,
        st: &Statements,
        requests: Vec<AppendRequest>,
    ) -> Result<(Vec<Result<AppendOutcome, AppendError>>, Overlay, Timestamp), Planning> {
        // BEGIN, the lock, and the keys of data subjects this writer does not hold yet
        // (with the next free slot), in one round trip: run after the lock, they see what
        // every server committed.
        let mut unknown: Vec<&str> = requests
            .iter()
            .flat_map(|r| r.events.iter())
            .flat_map(|e| e.data_subjects())
            .filter(|a| !self.keys.contains_key(*a))
            .map(|a| a.as_str())
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&unknown];
        let (begun, row, keys) = if unknown.is_empty() {
            let (begun, row) =
                tokio::join!(biased; client.batch_execute("BEGIN"), client.query_one(&st.lock_head, &[]));
            (begun, row, None)
        } else {
            let (begun, row, rows, next) = tokio::join!(biased;
                client.batch_execute("BEGIN"),
                client.query_one(&st.lock_head, &[]),
                client.query(&st.keys, &params),
                client.query_one(&st.next_slot, &[])
            );
            (begun, row, Some((rows, next)))
        };
        begun.map_err(|e| Planning::Failed(pg(e)))?;
        let row = row.map_err(|e| Planning::Failed(pg(e)))?;
        let head = row.get::<_, i64>(0) as u64;
        // Whether anybody else wrote since this writer's last group.
        self.alone.locked(head == self.index.head);
        self.catch_up(client, st, head).await.map_err(Planning::Failed)?;
        self.read_keys = None;
        if let Some((rows, next)) = keys {
            let next: i32 = next.map_err(|e| Planning::Failed(pg(e)))?.get(0);
            self.remember_keys(rows.map_err(|e| Planning::Failed(pg(e)))?)
                .map_err(Planning::Failed)?;
            let asked = unknown.iter().filter_map(|a| a.parse().ok()).collect();
            self.read_keys = Some((asked, next));
        }
        let now = self.now(&row);
        let events = self
            .prefetch(client, st, named_ids(requests.iter().flat_map(|r| r.events.iter())))
            .await
            .map_err(Planning::Failed)?;
        let committed = Prefetched {
            index: &self.index,
            events,
        };
        let mut group = Overlay::starting_at(head + 1);
        let answers: Vec<_> = requests
            .into_iter()
            .map(|r| plan_request(&committed, &mut group, r, now))
            .collect();
        if group.is_empty() {
            return Err(Planning::Nothing(answers));
        }
        Ok((answers, group, now))
    }

    /// Keeps the keys read from `shiftlog_keys` rows (actor, slot, key).
    fn remember_keys(&mut self, rows: Vec<tokio_postgres::Row>) -> Result<(), StoreError> {
        for r in rows {
            let actor: ActorId = r
                .get::<_, &str>(0)
                .parse()
                .map_err(|_| StoreError::Corrupt("an actor id in shiftlog_keys is not valid".into()))?;
            let key = r
                .get::<_, Option<&[u8]>>(2)
                .map(ActorKey::try_from)
                .transpose()
                .map_err(|_| StoreError::Corrupt(format!("the key of `{actor}` is not 32 bytes")))?;
            self.keys.insert(actor, (r.get::<_, i32>(1) as u32, key));
        }
        Ok(())
    }

    /// Reads (or makes) the keys of every data subject in the group; a redaction's are
    /// destroyed in this writer's copy at once, so nothing in the group is sealed under
    /// them. Returns the new keys' rows and the redacted actors.
    async fn resolve_keys(
        &mut self,
        client: &Client,
        st: &Statements,
        group: &Overlay,
    ) -> Result<(NewKeys, Vec<ActorId>), StoreError> {
        let mut subjects: Vec<ActorId> = Vec::new();
        let mut redacted: Vec<ActorId> = Vec::new();
        for e in &group.events {
            for a in e.event.data_subjects() {
                if !self.keys.contains_key(a) {
                    subjects.push(a.clone());
                }
            }
            if let EventBody::ActorRedacted { actor, .. } = &e.event.body {
                redacted.push(actor.clone());
            }
        }
        subjects.sort();
        subjects.dedup();
        let mut new_keys = NewKeys::default();
        if !subjects.is_empty() {
            // Read with the lock when the group was planned (the head lock keeps other
            // servers from adding keys since); read now only if that missed some.
            let next = match self.read_keys.take() {
                Some((asked, next)) if subjects.iter().all(|a| asked.contains(a)) => next,
                _ => {
                    let names: Vec<&str> = subjects.iter().map(|a| a.as_str()).collect();
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&names];
                    let (rows, next) = tokio::join!(biased;
                        client.query(&st.keys, &params),
                        client.query_one(&st.next_slot, &[])
                    );
                    self.remember_keys(rows.map_err(pg)?)?;
                    next.map_err(pg)?.get(0)
                }
            };
            // Slots in the order actors first join, as every backend gives them: a
            // record's slots then mean the same in every store, and a backup moves
            // between backends as it is (see `crate::archive`).
            let mut first_join: HashMap<&ActorId, u64> = HashMap::new();
            for e in &group.events {
                if let EventBody::ActorJoined { actor, .. } = &e.event.body {
                    first_join.entry(actor).or_insert(e.position.0);
                }
            }
            let mut new: Vec<&ActorId> = subjects.iter().filter(|a| !self.keys.contains_key(*a)).collect();
            new.sort_by_key(|a| first_join.get(a).copied().unwrap_or(u64::MAX));
            for (i, a) in new.into_iter().enumerate() {
                let slot = next + i as i32;
                let key = new_key();
                self.keys.insert(a.clone(), (slot as u32, Some(key)));
                new_keys.slots.push(slot);
                new_keys.actors.push(a.as_str().to_string());
                new_keys.keys.push(key.to_vec());
            }
        }
        for a in &redacted {
            if let Some(k) = self.keys.get_mut(a) {
                k.1 = None;
            }
        }
        Ok((new_keys, redacted))
    }

    /// Writes a planned group in the open transaction (keys, events, versions, places,
    /// actors, the head, the notification) and commits, all pipelined: one round trip.
    /// With `from` (a group planned without the lock), the transaction is opened here
    /// and takes the lock first, and is refused ([`GroupError::HeadMoved`]) unless the
    /// head is at `from`. Returns the actors it redacts.
    async fn write_and_commit(
        &mut self,
        client: &Client,
        st: &Statements,
        group: &Overlay,
        now: Timestamp,
        from: Option<u64>,
    ) -> Result<Vec<ActorId>, GroupError> {
        let (new_keys, redacted) = match self.resolve_keys(client, st, group).await {
            Ok(k) => k,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(GroupError::Failed(e));
            }
        };
        let redacted_names: Vec<&str> = redacted.iter().map(|a| a.as_str()).collect();

        // Events.
        let n = group.events.len();
        let mut positions = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut streams = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut slots = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        let sealing = Sealing { keys: &self.keys };
        for e in &group.events {
            let record = crate::codec::encode(e, &sealing);
            // Read back from the record itself: a record whose subjects include one
            // redacted in this group holds no sealed data at all, so no slots.
            let used = match crate::codec::sealed_slots(&record) {
                Ok(used) => used,
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(GroupError::Failed(StoreError::Unsupported(e.to_string())));
                }
            };
            slots.push(used.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>());
            records.push(record);
            positions.push(e.position.0 as i64);
            ids.push(e.id().as_str());
            streams.push(stream_key(&e.stream));
            types.push(e.event.event_type().as_str());
        }
        let (names, versions): (Vec<&str>, Vec<i64>) =
            group.versions.iter().map(|(s, v)| (stream_key(s), *v as i64)).unzip();
        let places: Vec<&str> = group.new_places.iter().map(|(p, _)| p.as_str()).collect();
        let actors: Vec<&str> = group.new_actors.iter().map(|(a, _)| a.as_str()).collect();
        let last = (group.next - 1) as i64;
        let last_text = last.to_string();
        let nanos = now.subsec_nanos() as i32;
        let unix = now.unix_seconds();
        let from = from.map(|f| f as i64);

        // In the order they must run: the lock (when not taken yet), keys before the
        // records sealed under them (and a redaction's key destroyed), then the rest; the
        // commit last.
        type Params<'a> = Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>;
        let mut writes: Vec<(&Statement, Params)> = Vec::new();
        if let Some(from) = &from {
            writes.push((&st.move_head_from, vec![from, &last, &unix, &nanos]));
        }
        if !new_keys.slots.is_empty() {
            writes.push((&st.insert_keys, vec![&new_keys.slots, &new_keys.actors, &new_keys.keys]));
        }
        if !redacted_names.is_empty() {
            writes.push((&st.destroy_keys, vec![&redacted_names]));
        }
        writes.push((
            &st.insert_events,
            vec![&positions, &ids, &streams, &types, &slots, &records],
        ));
        writes.push((&st.versions, vec![&names, &versions]));
        if !places.is_empty() {
            writes.push((&st.places, vec![&places]));
        }
        if !actors.is_empty() {
            writes.push((&st.actors, vec![&actors]));
        }
        if from.is_none() {
            writes.push((&st.move_head, vec![&last, &unix, &nanos]));
        }
        // A wake-up for every other server's follower (sent on commit).
        writes.push((&st.notify, vec![&last_text]));

        let begin = async {
            match from {
                Some(_) => client.batch_execute("BEGIN").await,
                None => Ok(()),
            }
        };
        let (begun, written, committed) = tokio::join!(biased;
            begin,
            join_all(writes.iter().map(|(statement, params)| client.execute(*statement, params))),
            client.batch_execute("COMMIT")
        );
        let head_moved = written.iter().any(|w| {
            w.as_ref()
                .err()
                .and_then(|e| e.as_db_error())
                .is_some_and(|e| e.constraint() == Some(HEAD_MOVED))
        });
        if head_moved {
            // The first statement was refused: the transaction aborted, and the COMMIT
            // behind it ended it with a rollback.
            return Err(GroupError::HeadMoved);
        }
        let written = begun.and(written.into_iter().collect::<Result<Vec<u64>, _>>());
        match (written, committed) {
            (Ok(_), Ok(())) => Ok(redacted),
            // The database refused a statement: the transaction was aborted, and the
            // COMMIT sent behind it ended it with a rollback. Nothing is in the log.
            (Err(e), _) if e.as_db_error().is_some() => Err(GroupError::Failed(pg(e))),
            // The connection failed with the COMMIT sent, or the COMMIT's answer is an
            // error: it may or may not be in the log.
            (Err(e), _) | (Ok(_), Err(e)) => Err(GroupError::Unconfirmed(pg(e))),
        }
    }
}

/// Keys made for a group, as the rows to insert.
#[derive(Default)]
struct NewKeys {
    slots: Vec<i32>,
    actors: Vec<String>,
    keys: Vec<Vec<u8>>,
}

/// Why a group is not written.
enum Planning {
    /// Every request was answered without writing (rejected, or already in the log).
    Nothing(Vec<Result<AppendOutcome, AppendError>>),
    /// Reading or planning failed.
    Failed(StoreError),
}

/// Why a group was not appended.
#[derive(Debug, thiserror::Error)]
enum GroupError {
    /// It failed before it committed: nothing of it is in the log.
    #[error("{0}")]
    Failed(StoreError),
    /// The commit was sent, but its answer was lost: it may or may not be in the log.
    #[error("{0}")]
    Unconfirmed(StoreError),
    /// Planned without the lock, and another server had appended: nothing was written.
    #[error("another server appended while the group was planned")]
    HeadMoved,
}
