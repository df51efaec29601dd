//! The writer thread: planning, group commit, recovery of an unfinished group.

use super::fault::{RedactionHook, RedactionStep};
use super::vault::Vault;
use super::{keys, pages, Durability, Request, Shared, STORE_FORMAT};
use crate::codec::{self, ActorKey, Keys};
use crate::derived::{DerivedStore, SledDerived};
use crate::error::{AppendError, StoreError};
use crate::log::Clock;
use crate::plan::{check, plan_request, Committed, JoinIndex, Overlay};
use crate::types::{AppendOutcome, Position, RecordedEvent, Stream, Version};
use shiftlog_model::{ActorId, EventBody, EventId, PlaceId, Timestamp};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

/// Events per sled batch when a group is large. Measured: sled applies batches of a few
/// thousand inserts fastest; one batch of hundreds of thousands is about half as fast.
pub(crate) const SUB_BATCH: usize = 2048;

/// The most events taken into one group commit.
const GROUP_MAX_EVENTS: usize = 100_000;

/// How long the writer may wait for more appends when its group is smaller than the last
/// one. Concurrent appenders that were answered together come back together, a few
/// microseconds apart; without the wait each flush (about 0.3 ms in sled) carried about
/// half of them. One lone appender never waits: its groups are never smaller than the last.
const GROUP_WAIT: std::time::Duration = std::time::Duration::from_micros(150);

pub(super) struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    /// sled's data file, `fdatasync`ed after every flush: sled 0.34's flush uses
    /// `sync_file_range`, which does not reach the drive's cache.
    data_file: Option<std::fs::File>,
    durability: Durability,
    shared: Arc<Shared>,
    clock: Clock,
    head: u64,
    last_recorded: Option<Timestamp>,
    places_count: u64,
    actors_count: u64,
    versions: HashMap<Stream, Version>,
    registrations: HashMap<PlaceId, Vec<Position>>,
    places: HashSet<PlaceId>,
    /// The head's page when partly filled (page number, bytes), so that appending to it
    /// does not read it back from sled.
    tail: Option<(u64, Vec<u8>)>,
    joins: RefCell<JoinIndex>,
    /// Actors known to have joined, with their key slots (a cache of the `a` entries).
    slots: RefCell<HashMap<ActorId, u32>>,
    vault: Arc<Vault>,
    /// Derived data, cleared as part of every redaction before its keys go.
    derived: Arc<SledDerived>,
    redaction_hook: Option<RedactionHook>,
    /// The data directory, to name in errors.
    dir: PathBuf,
    poisoned: Option<String>,
}

/// What the writer is given besides the database.
pub(super) struct WriterOptions {
    pub(super) clock: Clock,
    pub(super) durability: Durability,
    pub(super) derived: Arc<SledDerived>,
    pub(super) redaction_hook: Option<RedactionHook>,
}

/// Sealing keys for one group: every subject's slot was looked up before encoding.
struct Sealing<'a> {
    vault: &'a Vault,
    slots: &'a HashMap<ActorId, u32>,
}

impl Keys for Sealing<'_> {
    fn seal_key(&self, actor: &ActorId) -> Option<(u32, ActorKey)> {
        let slot = *self.slots.get(actor)?;
        self.vault.key(slot).map(|k| (slot, k))
    }
    fn open_key(&self, slot: u32) -> Option<ActorKey> {
        self.vault.key(slot)
    }
}

fn meta_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(v) => {
            keys::u64_value(&v).ok_or_else(|| keys::damaged(format!("the counter {:?}", String::from_utf8_lossy(key))))
        }
    }
}

impl Writer {
    pub(super) fn open(
        db: sled::Db,
        dir: &Path,
        sled_dir: &Path,
        shared: Arc<Shared>,
        options: WriterOptions,
    ) -> Result<(Self, Arc<Vault>), StoreError> {
        let WriterOptions {
            clock,
            durability,
            derived,
            redaction_hook,
        } = options;
        let tree: sled::Tree = (*db).clone();
        match tree.get(keys::META_FORMAT)? {
            Some(v) => {
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| keys::damaged("the format marker"))?;
                if found > STORE_FORMAT {
                    return Err(StoreError::UnsupportedFormat {
                        found,
                        supported: STORE_FORMAT,
                    });
                }
                if found < STORE_FORMAT {
                    return Err(StoreError::Corrupt(format!(
                        "the store has format {found}, written by a development build before personal \
                         data was sealed; write its events out with that build (`shiftlog log`) and \
                         append them into a new data directory"
                    )));
                }
            }
            None if tree.is_empty() => {
                tree.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes())?;
                db.flush()?;
            }
            None => return Err(StoreError::Corrupt("the store has data but no format marker".into())),
        }
        let head = meta_u64(&tree, keys::META_HEAD)?;
        let actors_count = meta_u64(&tree, keys::META_ACTORS)?;
        let vault = Arc::new(Vault::open(dir, actors_count)?);

        let mut places = HashSet::new();
        let mut versions = HashMap::new();
        for item in tree.scan_prefix([keys::PLACE]) {
            let (k, _) = item?;
            places.insert(keys::parse_place(&k).ok_or_else(|| keys::damaged("a place entry"))?);
        }
        // A stream's version is where its last index chunk ends: one seek per stream.
        let streams = places.iter().cloned().map(Stream::Place).chain([Stream::Unplaced]);
        for stream in streams {
            if let Some(item) = tree.scan_prefix(keys::chunk_prefix(&stream)).next_back() {
                let (k, v) = item?;
                let corrupt = || keys::damaged(format!("the stream index of {stream}"));
                let (_, first) = keys::parse_chunk(&k).ok_or_else(corrupt)?;
                let positions = keys::decode_positions(&v).ok_or_else(corrupt)?;
                let version = first
                    .checked_add(positions.len() as u64)
                    .and_then(|end| end.checked_sub(1))
                    .filter(|_| first > 0)
                    .ok_or_else(corrupt)?;
                // A group cut short never reaches the stream index: an entry past the head
                // means the head itself is damaged, and recovery would delete committed
                // events.
                if positions.last().is_some_and(|&p| p > head) {
                    return Err(keys::damaged(format!(
                        "the head ({head}, behind the stream index of {stream})"
                    )));
                }
                versions.insert(stream, version);
            }
        }
        recover(&db, &tree, head, &vault)?;
        finish_redactions(&tree, head, &vault, &derived)?;

        let mut registrations: HashMap<PlaceId, Vec<Position>> = HashMap::new();
        for item in tree.scan_prefix([keys::REGISTRATION]) {
            let (k, _) = item?;
            let (place, p) = keys::parse_registration(&k).ok_or_else(|| keys::damaged("a registration entry"))?;
            registrations.entry(place).or_default().push(Position(p));
        }
        let last_recorded = match head {
            0 => None,
            h => Some(
                pages::record(&tree, h, &*vault)
                    .map_err(|e| keys::damaged(format!("the head ({h}: {e})")))?
                    .recorded_at,
            ),
        };
        // The head's page, when partly filled: the next group adds to it.
        let tail = match head % pages::PAGE_EVENTS {
            0 => None,
            _ => {
                let n = pages::page_of(head);
                tree.get(pages::key(n))?.map(|b| (n, b.to_vec()))
            }
        };
        let places_count = meta_u64(&tree, keys::META_PLACES)?;
        shared.head.store(head, Ordering::Release);
        shared.head_watch.send_replace(Position(head));
        shared.places.store(places_count, Ordering::Release);
        shared.actors.store(actors_count, Ordering::Release);
        *shared.versions.write().unwrap_or_else(|e| e.into_inner()) = versions.clone();

        let data_file = match std::fs::File::open(sled_dir.join("db")) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open sled's data file to fdatasync it; relying on sled's flush alone");
                None
            }
        };
        Ok((
            Writer {
                dir: dir.to_path_buf(),
                db,
                tree,
                data_file,
                durability,
                shared,
                clock,
                head,
                last_recorded,
                places_count,
                actors_count,
                versions,
                registrations,
                places,
                tail,
                joins: RefCell::default(),
                slots: RefCell::default(),
                vault: vault.clone(),
                derived,
                redaction_hook,
                poisoned: None,
            },
            vault,
        ))
    }

    pub(super) fn run(mut self, rx: mpsc::Receiver<Request>) {
        let mut last_group = 0usize;
        while let Ok(first) = rx.recv() {
            // Appends are planned as they arrive, into one group; the group is then
            // written as one sled batch (or a few, when large) and made durable by one
            // flush, and only then are callers answered and readers let in.
            let now = self.recorded_now();
            let mut group = Group::new(self.head + 1);
            self.handle(first, now, &mut group);
            let deadline = std::time::Instant::now() + GROUP_WAIT;
            while group.events < GROUP_MAX_EVENTS {
                let next = match rx.try_recv() {
                    Ok(r) => Some(r),
                    Err(mpsc::TryRecvError::Empty) if group.requests < last_group => {
                        let left = deadline.saturating_duration_since(std::time::Instant::now());
                        rx.recv_timeout(left).ok()
                    }
                    Err(_) => None,
                };
                let Some(r) = next else { break };
                self.handle(r, now, &mut group);
            }
            last_group = group.requests;
            self.finish(group, now);
        }
        // After a failed write there is nothing acknowledged left to make durable, and
        // sled 0.34 can wait forever in a flush after an I/O error (seen on a full disk:
        // the process never exited).
        if self.poisoned.is_none() {
            if let Err(e) = self.db.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
        }
    }

    /// The recorded time for the next group: the clock, but never earlier than the last.
    fn recorded_now(&self) -> Timestamp {
        let t = (self.clock)();
        match self.last_recorded {
            Some(last) if last > t => last,
            _ => t,
        }
    }

    fn handle(&mut self, request: Request, now: Timestamp, group: &mut Group) {
        group.requests += 1;
        match request {
            Request::Append(req, reply) => {
                group.events += req.events.len();
                if let Some(why) = &self.poisoned {
                    let _ = reply.send(Err(StoreError::Poisoned(why.clone()).into()));
                    return;
                }
                match plan_request(&*self, &mut group.planned, req, now) {
                    Ok(outcome) => group.replies.push((reply, outcome)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Check(events, reply) => {
                let _ = reply.send(check(&*self, events, now));
            }
            // Against the committed log, as a check is: nothing of it joins the group.
            Request::DryRun(req, reply) => {
                let _ = reply.send(crate::plan::dry_run(&*self, req, now));
            }
        }
    }

    /// Writes a group, makes it durable, lets readers see it, and answers its appends.
    fn finish(&mut self, group: Group, now: Timestamp) {
        let Group { planned, replies, .. } = group;
        if !planned.is_empty() {
            let n = planned.events.len();
            let written = self
                .write(&planned)
                .and_then(|()| self.sync())
                .and_then(|()| self.destroy_redacted(&planned));
            if let Err(e) = written {
                let e = e.in_data_dir(&self.dir);
                tracing::error!(error = %e, "group commit failed; refusing writes until reopened");
                self.poisoned = Some(e.to_string());
                // Their batches are not in the log: reopening drops the unfinished group.
                for (reply, _) in replies {
                    let err = match &e {
                        StoreError::DiskFull { path } => StoreError::DiskFull { path: path.clone() },
                        _ => StoreError::WriteFailed(e.to_string()),
                    };
                    let _ = reply.send(Err(err.into()));
                }
                return;
            }
            self.absorb(planned, now);
            tracing::debug!(events = n, appends = replies.len(), head = self.head, "group committed");
        }
        for (reply, outcome) in replies {
            let _ = reply.send(Ok(outcome));
        }
    }

    /// Erases what the group's redactions erase, once they are durable and before anyone
    /// is answered: derived data first (it may hold what the keys opened), then the keys.
    /// A crash between any two steps is finished by the next open ([`finish_redactions`]).
    fn destroy_redacted(&self, g: &Overlay) -> Result<(), StoreError> {
        let mut slots = Vec::new();
        let mut redacts = false;
        for e in &g.events {
            if let EventBody::ActorRedacted { actor, .. } = &e.event.body {
                redacts = true;
                slots.extend(self.slot_of(actor)?);
            }
        }
        if !redacts {
            return Ok(());
        }
        self.step(RedactionStep::Committed);
        self.derived.clear()?;
        self.step(RedactionStep::DerivedCleared);
        if !slots.is_empty() {
            tracing::info!(keys = slots.len(), "destroying redacted actors' keys");
            self.vault.destroy(&slots)?;
        }
        self.step(RedactionStep::KeysDestroyed);
        // A reader between the two steps above saw the new generation and could still
        // open the actors' data: whatever it derived (a checkpoint holding a name) goes
        // too. Cleared before the keys as well, so that a crash between them leaves
        // nothing readable.
        self.derived.clear()?;
        Ok(())
    }

    fn step(&self, step: RedactionStep) {
        if let Some(hook) = &self.redaction_hook {
            hook(step);
        }
    }

    /// An actor's key slot, from the cache or its `a` entry; `None` if it never joined.
    fn slot_of(&self, actor: &ActorId) -> Result<Option<u32>, StoreError> {
        if let Some(&s) = self.slots.borrow().get(actor) {
            return Ok(Some(s));
        }
        let Some(v) = self.tree.get(keys::actor(actor))? else {
            return Ok(None);
        };
        let (_, slot) =
            keys::parse_actor_value(&v).ok_or_else(|| keys::damaged(format!("the actor entry of `{actor}`")))?;
        self.slots.borrow_mut().insert(actor.clone(), slot);
        Ok(Some(slot))
    }

    /// Flushes sled, then `fdatasync`s its data file when full durability is on.
    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        if let (Durability::Full, Some(f)) = (self.durability, &self.data_file) {
            f.sync_data().map_err(|e| StoreError::io("sled data file", e))?;
        }
        Ok(())
    }

    /// Writes a planned group to sled (not yet flushed).
    ///
    /// Records go into pages of 16 positions; the head's page, if partly filled, is
    /// rewritten with the new records added. A large group is cut into several sled
    /// batches at page boundaries; only the last moves the head.
    fn write(&mut self, g: &Overlay) -> Result<(), StoreError> {
        // New actors take the next slots; their keys are durable before any record
        // sealed with them is written.
        let first_slot = u32::try_from(self.actors_count).map_err(|_| StoreError::Corrupt("too many actors".into()))?;
        let mut slots: HashMap<ActorId, u32> = HashMap::new();
        let new_keys: Vec<ActorKey> = g.new_actors.iter().map(|_| codec::new_key()).collect();
        for (i, (actor, _)) in g.new_actors.iter().enumerate() {
            slots.insert(actor.clone(), first_slot + i as u32);
        }
        self.vault.put(first_slot, &new_keys)?;
        for e in &g.events {
            for a in e.event.data_subjects() {
                if !slots.contains_key(a) {
                    if let Some(s) = self.slot_of(a)? {
                        slots.insert(a.clone(), s);
                    }
                }
            }
        }
        let sealing = Sealing {
            vault: &self.vault,
            slots: &slots,
        };
        let first = g.events[0].position.0;
        let mut page = pages::page_of(first);
        let mut buf = match self.tail.take() {
            Some((n, bytes)) if n == page => bytes,
            _ if pages::first_position(page) == first => Vec::new(),
            _ => self.tree.get(pages::key(page))?.map(|b| b.to_vec()).unwrap_or_default(),
        };
        let mut b = sled::Batch::default();
        let mut in_batch = 0;
        for e in &g.events {
            let p = e.position.0;
            if pages::page_of(p) != page {
                b.insert(&pages::key(page), std::mem::take(&mut buf));
                page = pages::page_of(p);
                if in_batch >= SUB_BATCH {
                    self.tree.apply_batch(std::mem::take(&mut b))?;
                    in_batch = 0;
                }
            }
            pages::push(&mut buf, &codec::encode(e, &sealing));
            in_batch += 1;
            b.insert(keys::id(e.id()), &p.to_be_bytes());
            if let Some(k) = keys::membership(e) {
                b.insert(k, &[]);
            }
        }
        b.insert(&pages::key(page), buf.as_slice());
        for (place, actor, at, p) in &g.removed_joins {
            b.remove(keys::join(place, actor, *at, p.0));
        }
        for (place, p) in &g.removed_registrations {
            b.remove(keys::registration(place, p.0));
        }
        for (stream, ps) in &g.stream_positions {
            let after = g.versions[stream];
            let first = after - ps.len() as u64 + 1;
            let raw: Vec<u64> = ps.iter().map(|p| p.0).collect();
            b.insert(keys::chunk(stream, first), keys::encode_positions(&raw));
        }
        for (place, p) in &g.new_places {
            b.insert(keys::place(place), &p.0.to_be_bytes());
        }
        for (actor, p) in &g.new_actors {
            b.insert(keys::actor(actor), &keys::actor_value(p.0, slots[actor]));
        }
        if !g.new_places.is_empty() {
            b.insert(
                keys::META_PLACES,
                &(self.places_count + g.new_places.len() as u64).to_be_bytes(),
            );
        }
        if !g.new_actors.is_empty() {
            b.insert(
                keys::META_ACTORS,
                &(self.actors_count + g.new_actors.len() as u64).to_be_bytes(),
            );
        }
        b.insert(keys::META_HEAD, &(g.next - 1).to_be_bytes());
        self.tree.apply_batch(b)?;
        let full = (g.next - 1).is_multiple_of(pages::PAGE_EVENTS);
        self.tail = (!full).then_some((page, buf));
        Ok(())
    }

    /// Brings the caches and the shared state up to a committed group.
    fn absorb(&mut self, g: Overlay, now: Timestamp) {
        // Additions before removals, as on disk: a retraction may take back a join or a
        // registration of its own group (the other order left it standing in the cache,
        // so later appends could name an actor whose join was retracted).
        let mut joins = self.joins.borrow_mut();
        for (k, v) in g.joins {
            // Only lists already cached are extended; others load from sled when needed.
            if let Some(js) = joins.get_mut(&k) {
                js.extend(v);
            }
        }
        for (place, actor, _, p) in &g.removed_joins {
            if let Some(js) = joins.get_mut(&(place.clone(), actor.clone())) {
                js.retain(|(_, q)| q != p);
            }
        }
        drop(joins);
        for (k, v) in g.registrations {
            self.registrations.entry(k).or_default().extend(v);
        }
        for (place, p) in &g.removed_registrations {
            if let Some(rs) = self.registrations.get_mut(place) {
                rs.retain(|q| q != p);
            }
        }
        self.places_count += g.new_places.len() as u64;
        let first_slot = self.actors_count as u32;
        self.actors_count += g.new_actors.len() as u64;
        self.places.extend(g.new_places.into_iter().map(|(p, _)| p));
        self.slots.borrow_mut().extend(
            g.new_actors
                .into_iter()
                .enumerate()
                .map(|(i, (a, _))| (a, first_slot + i as u32)),
        );
        self.versions.extend(g.versions.iter().map(|(k, v)| (k.clone(), *v)));
        self.head = g.next - 1;
        self.last_recorded = Some(now);

        let mut shared_versions = self.shared.versions.write().unwrap_or_else(|e| e.into_inner());
        shared_versions.extend(g.versions);
        drop(shared_versions);
        self.shared.places.store(self.places_count, Ordering::Release);
        self.shared.actors.store(self.actors_count, Ordering::Release);
        self.shared.head.store(self.head, Ordering::Release);
        self.shared.head_watch.send_replace(Position(self.head));
    }
}

/// The appends answered by one flush.
struct Group {
    requests: usize,
    events: usize,
    planned: Overlay,
    replies: Vec<(oneshot::Sender<Result<AppendOutcome, AppendError>>, AppendOutcome)>,
}

impl Group {
    fn new(next: u64) -> Self {
        Group {
            requests: 0,
            events: 0,
            planned: Overlay::starting_at(next),
            replies: Vec::new(),
        }
    }
}

impl Committed for Writer {
    fn head(&self) -> u64 {
        self.head
    }

    fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        Ok(self.versions.get(stream).copied().unwrap_or(0))
    }

    fn lookup_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        let Some(v) = self.tree.get(keys::id(id))? else {
            return Ok(None);
        };
        let p = keys::u64_value(&v).ok_or_else(|| keys::damaged(format!("the id entry of `{id}`")))?;
        pages::record(&self.tree, p, &*self.vault).map(Some)
    }

    fn registrations(&self, place: &PlaceId) -> Result<Vec<Position>, StoreError> {
        Ok(self.registrations.get(place).cloned().unwrap_or_default())
    }

    fn joins(&self, place: &PlaceId, actor: &ActorId) -> Result<Vec<(Timestamp, Position)>, StoreError> {
        let key = (place.clone(), actor.clone());
        if let Some(js) = self.joins.borrow().get(&key) {
            return Ok(js.clone());
        }
        let mut js = Vec::new();
        for item in self.tree.scan_prefix(keys::join_prefix(place, actor)) {
            let (k, _) = item?;
            let (at, p) = keys::parse_join_tail(&k).ok_or_else(|| keys::damaged("a join entry"))?;
            js.push((at, Position(p)));
        }
        self.joins.borrow_mut().insert(key, js.clone());
        Ok(js)
    }

    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError> {
        Ok(self.slot_of(actor)?.is_some())
    }

    fn place_known(&self, place: &PlaceId) -> Result<bool, StoreError> {
        Ok(self.places.contains(place))
    }
}

/// Deletes whatever an unfinished group wrote past the committed head: its records (the
/// head's page is cut back to the head) and the index entries that point at them. Bounded
/// by one group, so opening stays fast.
fn recover(db: &sled::Db, tree: &sled::Tree, head: u64, vault: &Vault) -> Result<(), StoreError> {
    let mut b = sled::Batch::default();
    let mut orphans = 0u64;
    let mut undecodable = false;
    for item in tree.range(pages::from(pages::page_of(head.saturating_add(1)))) {
        let (k, v) = item?;
        let Some(page) = pages::page_number(&k) else { continue };
        let records = match pages::split(page, &v) {
            Ok(rs) => rs,
            Err(_) if pages::first_position(page) > head => {
                // A torn page wholly past the head: drop it, sweep the indexes below.
                undecodable = true;
                b.remove(&k);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut kept = Vec::new();
        for (p, rec) in records {
            if p <= head {
                pages::push(&mut kept, rec);
                continue;
            }
            orphans += 1;
            match codec::decode_at(Position(p), rec, vault) {
                Ok(r) => {
                    b.remove(keys::id(r.id()));
                    if let Some(k) = keys::membership(&r) {
                        b.remove(k);
                    }
                }
                Err(_) => undecodable = true,
            }
        }
        if kept.is_empty() {
            b.remove(&k);
        } else {
            b.insert(&k, kept);
        }
    }
    if orphans == 0 && !undecodable {
        return Ok(());
    }
    if undecodable {
        // Cannot tell which index entries the damaged records had: sweep the indexes.
        for item in tree.scan_prefix([keys::ID]) {
            let (k, v) = item?;
            if keys::u64_value(&v).is_none_or(|p| p > head) {
                b.remove(k);
            }
        }
        for tag in [keys::JOIN, keys::REGISTRATION] {
            for item in tree.scan_prefix([tag]) {
                let (k, _) = item?;
                // A key too short to end in a position is damage: it goes too.
                let position = k.len().checked_sub(8).and_then(|i| keys::u64_value(&k[i..]));
                if position.is_none_or(|p| p > head) {
                    b.remove(k);
                }
            }
        }
    }
    tracing::warn!(
        orphans,
        head,
        "removing an append that was cut short before it committed"
    );
    tree.apply_batch(b)?;
    db.flush()?;
    Ok(())
}

/// Finishes redactions cut short by a crash between their commit and the destruction of
/// their keys: clears derived data (it may hold what those keys opened), then destroys the
/// keys of every redacted actor whose key is still there. Reads only the unplaced stream
/// (retractions and redactions).
fn finish_redactions(tree: &sled::Tree, head: u64, vault: &Vault, derived: &SledDerived) -> Result<(), StoreError> {
    let mut slots = Vec::new();
    for item in tree.scan_prefix(keys::chunk_prefix(&Stream::Unplaced)) {
        let (_, v) = item?;
        let ps = keys::decode_positions(&v).ok_or_else(|| keys::damaged("the stream index of the unplaced stream"))?;
        for p in ps.into_iter().filter(|&p| p <= head) {
            let r = pages::record(tree, p, vault)?;
            if let EventBody::ActorRedacted { actor, .. } = &r.event.body {
                let v = tree
                    .get(keys::actor(actor))?
                    .ok_or_else(|| keys::damaged(format!("the missing actor entry of redacted `{actor}`")))?;
                let (_, slot) = keys::parse_actor_value(&v)
                    .ok_or_else(|| keys::damaged(format!("the actor entry of `{actor}`")))?;
                if vault.key(slot).is_some() {
                    slots.push(slot);
                }
            }
        }
    }
    if !slots.is_empty() {
        tracing::warn!(keys = slots.len(), "finishing redactions cut short by a crash");
        derived.clear()?;
        vault.destroy(&slots)?;
    }
    Ok(())
}
