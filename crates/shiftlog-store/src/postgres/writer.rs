//! The one writer task of a [`super::PgLog`]: group commit under the head row's lock.

use super::tls::Address;
use super::{decode_rows, pg, stream_key};
use crate::codec::{new_key, ActorKey, Keys, NoKeys};
use crate::derived::MemoryDerived;
use crate::error::{AppendError, StoreError};
use crate::log::{Clock, Detail};
use crate::plan::{plan_request, Committed, Index, Overlay};
use crate::types::{AppendOutcome, AppendRequest, Planned, Position, RecordedEvent, Stream, Version};
use shiftlog_model::{ActorId, Event, EventBody, EventId, PlaceId, Rejection, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, GenericClient};

/// At most this many requests share a transaction.
const MAX_GROUP_REQUESTS: usize = 256;
/// A group stops taking requests once it holds this many events.
const MAX_GROUP_EVENTS: usize = 20_000;
/// Events read per query when catching up with other servers.
const CATCH_UP_PAGE: i64 = 20_000;

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
    index: Index,
    /// Actors' key slots and keys (`None`: destroyed), as far as this writer has needed them.
    keys: HashMap<ActorId, (u32, Option<ActorKey>)>,
    clock: Clock,
    head: Arc<watch::Sender<Position>>,
    derived: Arc<MemoryDerived>,
}

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
            index: Index::default(),
            keys: HashMap::new(),
            clock,
            head,
            derived,
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
                    }
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
                    while group.len() < MAX_GROUP_REQUESTS && events < MAX_GROUP_EVENTS {
                        match jobs.try_recv() {
                            Ok(Job {
                                work: Work::Append(r),
                                reply,
                            }) => {
                                events += r.events.len();
                                group.push((r, reply));
                            }
                            Ok(other) => {
                                others.push(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.append_group(group).await;
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
        let row = client
            .query_one("SELECT position, recorded_unix, recorded_nanos FROM shiftlog_head", &[])
            .await
            .map_err(pg)?;
        let head = row.get::<_, i64>(0) as u64;
        self.catch_up(client, head).await?;
        let now = self.now(&row);
        let named = match &work {
            Work::Check(events) => named_ids(events.iter()),
            Work::DryRun(r) | Work::Append(r) => named_ids(r.events.iter()),
        };
        let events = self.prefetch(client, named).await?;
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
    fn now(&self, head_row: &tokio_postgres::Row) -> Timestamp {
        let now = (self.clock)();
        let last = Timestamp::from_unix(head_row.get::<_, i64>(1), head_row.get::<_, i32>(2) as u32);
        match last {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    /// Reads what was committed after the index's head up to `head` into the index.
    async fn catch_up(&mut self, client: &impl GenericClient, head: u64) -> Result<(), StoreError> {
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
                    "SELECT position, record, slots FROM shiftlog_events \
                     WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
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
        client: &impl GenericClient,
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
        let rows = client
            .query(
                "SELECT position, record, slots FROM shiftlog_events WHERE id = ANY($1)",
                &[&wanted],
            )
            .await
            .map_err(pg)?;
        let events = decode_rows(client.client(), rows, Detail::Full).await?;
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
                        GroupError::Failed(_) => StoreError::WriteFailed(message.clone()),
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
        let tx = client.transaction().await.map_err(|e| GroupError::Failed(pg(e)))?;
        let row = tx
            .query_one(
                "SELECT position, recorded_unix, recorded_nanos FROM shiftlog_head FOR UPDATE",
                &[],
            )
            .await
            .map_err(|e| GroupError::Failed(pg(e)))?;
        let head = row.get::<_, i64>(0) as u64;
        self.catch_up(&tx, head).await.map_err(GroupError::Failed)?;
        let now = self.now(&row);
        let events = self
            .prefetch(&tx, named_ids(requests.iter().flat_map(|r| r.events.iter())))
            .await
            .map_err(GroupError::Failed)?;
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
            // Nothing to write (all rejected, or all already present): no transaction.
            tx.rollback().await.map_err(|e| GroupError::Failed(pg(e)))?;
            return Ok(answers);
        }
        let redacted = self.write(&tx, &group, now).await.map_err(GroupError::Failed)?;
        tx.commit().await.map_err(|e| GroupError::Unconfirmed(pg(e)))?;

        // Committed: the index, the head, and for a redaction the erasure duty, before any
        // of it is acknowledged.
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
        Ok(answers)
    }

    /// Writes a planned group in the open transaction: keys, events, versions, places,
    /// actors, the head, and the notification. Returns the actors it redacts.
    async fn write(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        group: &Overlay,
        now: Timestamp,
    ) -> Result<Vec<ActorId>, StoreError> {
        // Keys: every data subject's, read or made; a redaction's destroyed first, so
        // nothing in this group is sealed under it.
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
        if !subjects.is_empty() {
            let names: Vec<&str> = subjects.iter().map(|a| a.as_str()).collect();
            let rows = tx
                .query(
                    "SELECT actor, slot, key FROM shiftlog_keys WHERE actor = ANY($1)",
                    &[&names],
                )
                .await
                .map_err(pg)?;
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
            if !new.is_empty() {
                let next: i32 = tx
                    .query_one("SELECT COALESCE(max(slot) + 1, 0) FROM shiftlog_keys", &[])
                    .await
                    .map_err(pg)?
                    .get(0);
                let mut slots = Vec::new();
                let mut actors = Vec::new();
                let mut keys = Vec::new();
                for (i, a) in new.into_iter().enumerate() {
                    let slot = next + i as i32;
                    let key = new_key();
                    self.keys.insert(a.clone(), (slot as u32, Some(key)));
                    slots.push(slot);
                    actors.push(a.as_str());
                    keys.push(key.to_vec());
                }
                tx.execute(
                    "INSERT INTO shiftlog_keys (slot, actor, key) \
                     SELECT * FROM UNNEST($1::INTEGER[], $2::TEXT[], $3::BYTEA[])",
                    &[&slots, &actors, &keys],
                )
                .await
                .map_err(pg)?;
            }
        }
        if !redacted.is_empty() {
            let names: Vec<&str> = redacted.iter().map(|a| a.as_str()).collect();
            tx.execute("UPDATE shiftlog_keys SET key = NULL WHERE actor = ANY($1)", &[&names])
                .await
                .map_err(pg)?;
            for a in &redacted {
                if let Some(k) = self.keys.get_mut(a) {
                    k.1 = None;
                }
            }
        }

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
            let used = crate::codec::sealed_slots(&record).map_err(|e| StoreError::Unsupported(e.to_string()))?;
            slots.push(used.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>());
            records.push(record);
            positions.push(e.position.0 as i64);
            ids.push(e.id().as_str());
            streams.push(stream_key(&e.stream));
            types.push(e.event.event_type().as_str());
        }
        tx.execute(
            "INSERT INTO shiftlog_events (position, id, stream, event_type, slots, record) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[])",
            &[&positions, &ids, &streams, &types, &slots, &records],
        )
        .await
        .map_err(pg)?;

        // Versions, places, actors.
        let (names, versions): (Vec<&str>, Vec<i64>) =
            group.versions.iter().map(|(s, v)| (stream_key(s), *v as i64)).unzip();
        tx.execute(
            "INSERT INTO shiftlog_streams (stream, version) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[]) \
             ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version",
            &[&names, &versions],
        )
        .await
        .map_err(pg)?;
        if !group.new_places.is_empty() {
            let places: Vec<&str> = group.new_places.iter().map(|(p, _)| p.as_str()).collect();
            tx.execute(
                "INSERT INTO shiftlog_places (place) SELECT * FROM UNNEST($1::TEXT[]) ON CONFLICT DO NOTHING",
                &[&places],
            )
            .await
            .map_err(pg)?;
        }
        if !group.new_actors.is_empty() {
            let actors: Vec<&str> = group.new_actors.iter().map(|(a, _)| a.as_str()).collect();
            tx.execute(
                "INSERT INTO shiftlog_actors (actor) SELECT * FROM UNNEST($1::TEXT[]) ON CONFLICT DO NOTHING",
                &[&actors],
            )
            .await
            .map_err(pg)?;
        }

        // The head, and a wake-up for every other server's follower (sent on commit).
        let last = (group.next - 1) as i64;
        tx.execute(
            "UPDATE shiftlog_head SET position = $1, recorded_unix = $2, recorded_nanos = $3",
            &[&last, &now.unix_seconds(), &(now.subsec_nanos() as i32)],
        )
        .await
        .map_err(pg)?;
        tx.execute("SELECT pg_notify('shiftlog_head', $1)", &[&last.to_string()])
            .await
            .map_err(pg)?;
        Ok(redacted)
    }
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
}
