//! The engine: one handle on a log and everything derived from it.

use crate::ingest;
use shiftlog_model::Timestamp;
use shiftlog_model::{EventId, LocatedEvent, ParsedInput, PlaceId, Rejection};
use shiftlog_projection::{
    self as projection, Anomaly, Diff, Every, EvolutionMeasures, Kinds, KnownAt, Lag, Metrics, PlaceHistory,
    ProjectionError, Projector, Snapshot, Step, View,
};
use shiftlog_store::{
    AppendError, AppendOutcome, AppendRequest, Detail, EventLog, LogStats, Maintain, MemoryLog, Position,
    RecordedEvent, SledLog, SledOptions, Store, StoreError, StoreLocation, Stream, Version,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the engine could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// There is no store in the directory (and the caller asked not to create one).
    #[error("no shiftlog store at {0} (append some events first, or point --data-dir / SHIFTLOG_DATA at a store)")]
    NotFound(PathBuf),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`Engine::prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// Places a few events behind, caught up from their streams.
    pub caught_up: usize,
    /// Places whose index and checkpoints were written afresh from their histories.
    pub rebuilt: usize,
    /// The log position every place's derived data is now at least at.
    pub head: Position,
}

/// What [`Engine::export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// The snapshot's JSON (the contract of `shiftlog snapshot`).
    Json,
    /// Graphviz DOT.
    Dot,
    /// GraphML.
    Graphml,
    /// GEXF 1.3, the network at one date.
    Gexf,
    /// GEXF 1.3 with spells: the whole history, for Gephi's timeline.
    GexfDynamic,
    /// The relationships as a CSV edge list.
    Csv,
    /// A Kumu JSON blueprint.
    Kumu,
    /// A Kumu JSON blueprint of the whole history, elements and connections tagged with
    /// every year they were active in (for Kumu's tagged-timeline control).
    KumuYears,
    /// The same, tagged by quarter (`2024 Q1`).
    KumuQuarters,
}

impl ExportFormat {
    /// Every format, with the name it goes by on the command line and over HTTP.
    pub const ALL: [(&'static str, ExportFormat); 9] = [
        ("json", ExportFormat::Json),
        ("dot", ExportFormat::Dot),
        ("graphml", ExportFormat::Graphml),
        ("gexf", ExportFormat::Gexf),
        ("gexf-dynamic", ExportFormat::GexfDynamic),
        ("csv", ExportFormat::Csv),
        ("kumu", ExportFormat::Kumu),
        ("kumu-years", ExportFormat::KumuYears),
        ("kumu-quarters", ExportFormat::KumuQuarters),
    ];

    /// The format called `name` (see [`ExportFormat::ALL`]).
    pub fn from_name(name: &str) -> Option<ExportFormat> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// `snap` in this format; `None` for the formats of the whole history
    /// ([`ExportFormat::GexfDynamic`], [`ExportFormat::KumuYears`],
    /// [`ExportFormat::KumuQuarters`]), which need the history rather than one snapshot.
    pub fn render(self, snap: &Snapshot) -> Option<String> {
        use projection as p;
        Some(match self {
            ExportFormat::Json => serde_json::to_string_pretty(snap).expect("snapshots serialize"),
            ExportFormat::Dot => p::to_dot(snap),
            ExportFormat::Graphml => p::to_graphml(snap),
            ExportFormat::Gexf => p::to_gexf(snap),
            ExportFormat::Csv => p::to_csv(snap),
            ExportFormat::Kumu => serde_json::to_string_pretty(&p::to_kumu(snap)).expect("JSON values serialize"),
            ExportFormat::GexfDynamic | ExportFormat::KumuYears | ExportFormat::KumuQuarters => return None,
        })
    }

    /// Whether this is a format of the whole history rather than of one snapshot.
    pub fn needs_history(self) -> bool {
        match self {
            ExportFormat::GexfDynamic | ExportFormat::KumuYears | ExportFormat::KumuQuarters => true,
            ExportFormat::Json
            | ExportFormat::Dot
            | ExportFormat::Graphml
            | ExportFormat::Gexf
            | ExportFormat::Csv
            | ExportFormat::Kumu => false,
        }
    }

    /// This format of a whole history; `None` for the formats of one snapshot.
    pub fn render_history(self, h: &PlaceHistory) -> Option<String> {
        use projection as p;
        let kumu = |every| serde_json::to_string_pretty(&p::to_kumu_timeline(h, every)).expect("JSON values serialize");
        Some(match self {
            ExportFormat::GexfDynamic => p::to_gexf_dynamic(h),
            ExportFormat::KumuYears => kumu(Every::Year),
            ExportFormat::KumuQuarters => kumu(Every::Quarter),
            ExportFormat::Json
            | ExportFormat::Dot
            | ExportFormat::Graphml
            | ExportFormat::Gexf
            | ExportFormat::Csv
            | ExportFormat::Kumu => return None,
        })
    }

    /// Its MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json | ExportFormat::Kumu | ExportFormat::KumuYears | ExportFormat::KumuQuarters => {
                "application/json"
            }
            ExportFormat::Dot => "text/vnd.graphviz; charset=utf-8",
            ExportFormat::Graphml | ExportFormat::Gexf | ExportFormat::GexfDynamic => "application/xml",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A shiftlog engine over one log. Cheap to clone; every clone shares the log.
#[derive(Debug, Clone)]
pub struct Engine {
    log: Arc<dyn EventLog>,
    projector: Arc<Projector>,
    /// What looks after the store (backups, checks), when it is one that has a place
    /// (a data directory, a database), not a log in memory.
    maintenance: Option<Arc<dyn Maintain>>,
}

impl Engine {
    /// Opens the store in data directory `dir`, creating it if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Engine, EngineError> {
        Ok(Engine::with_sled(Arc::new(SledLog::open(dir)?)))
    }

    /// Opens the store at `location` (a data directory or a PostgreSQL database),
    /// creating it if needed.
    pub async fn open_at(location: &StoreLocation) -> Result<Engine, EngineError> {
        Ok(Engine::with_store(location.open().await?))
    }

    /// Opens the store at `location`, failing with [`EngineError::NotFound`] if a data
    /// directory holds none (a database's tables are made on first use).
    pub async fn open_existing_at(location: &StoreLocation) -> Result<Engine, EngineError> {
        if let StoreLocation::Directory(dir) = location {
            if !SledLog::exists(dir) {
                return Err(EngineError::NotFound(dir.clone()));
            }
        }
        Self::open_at(location).await
    }

    /// An engine over an open store (its log, and what looks after it).
    pub fn with_store(store: Store) -> Engine {
        Engine {
            maintenance: Some(store.maintenance),
            ..Engine::with_log(store.log)
        }
    }

    /// Opens the store in data directory `dir` with explicit options (durability, clock),
    /// creating it if needed.
    pub fn open_with(dir: impl AsRef<Path>, options: SledOptions) -> Result<Engine, EngineError> {
        Ok(Engine::with_sled(Arc::new(SledLog::open_with(dir, options)?)))
    }

    /// Opens the store in `dir`, failing with [`EngineError::NotFound`] if there is none.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Engine, EngineError> {
        if !SledLog::exists(&dir) {
            return Err(EngineError::NotFound(dir.as_ref().to_path_buf()));
        }
        Self::open(dir)
    }

    /// An engine over a fresh in-memory log (nothing is written to disk).
    pub fn in_memory() -> Engine {
        Engine::with_log(Arc::new(MemoryLog::new()))
    }

    /// An engine over any log implementation.
    pub fn with_log(log: Arc<dyn EventLog>) -> Engine {
        let projector = Arc::new(Projector::new(log.clone()));
        Engine {
            log,
            projector,
            maintenance: None,
        }
    }

    /// The same engine with checkpoints written every `n` events of a place's fold
    /// instead of every [`Projector::DEFAULT_CHECKPOINT_EVERY`]: fewer events to fold per
    /// query for more derived data on disk. Derived data already written stays valid.
    /// Call it before the engine is cloned or queried: clones made before keep the old
    /// projector, and two projectors over one log must not run at once (each keeps its
    /// own per-place locks).
    pub fn with_checkpoint_every(self, n: usize) -> Engine {
        Engine {
            projector: Arc::new(Projector::new(self.log.clone()).with_checkpoint_every(n)),
            ..self
        }
    }

    fn with_sled(sled: Arc<SledLog>) -> Engine {
        Engine::with_store(Store {
            log: sled.clone(),
            maintenance: Arc::new(shiftlog_store::SledMaintenance::new(sled)),
        })
    }

    /// What looks after the store, for what a log in memory cannot do.
    fn maintenance(&self, what: &str) -> Result<&Arc<dyn Maintain>, StoreError> {
        self.maintenance
            .as_ref()
            .ok_or_else(|| StoreError::Unsupported(format!("{what} needs a store in a data directory or a database")))
    }

    /// Writes a consistent copy of the store, as it is at its head, to `out` while appends
    /// go on. Restore it with [`Engine::restore`].
    pub async fn backup(&self, out: &Path) -> Result<shiftlog_store::BackupSummary, StoreError> {
        self.maintenance("a backup")?.backup(out).await
    }

    /// Restores a backup into `dir` (which must not exist or be empty) and checks it.
    pub fn restore(backup: &Path, dir: &Path) -> Result<shiftlog_store::BackupSummary, StoreError> {
        SledLog::restore(backup, dir)
    }

    /// Restores a backup (taken from any backend) into `location`: a directory that does
    /// not exist or is empty, or a database that holds no events. Checked before it returns.
    pub async fn restore_to(
        backup: &Path,
        location: &StoreLocation,
    ) -> Result<shiftlog_store::BackupSummary, StoreError> {
        location.restore(backup).await
    }

    /// Checks the store: every record, the positions, every index, the keys file, and
    /// every checkpoint against a replay of the log. Empty means all is well.
    pub async fn verify(&self) -> Result<Vec<String>, ProjectionError> {
        let mut problems: Vec<String> = self
            .maintenance("verify")?
            .verify()
            .await?
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        if problems.is_empty() {
            for place in self.places().await? {
                problems.extend(self.projector.verify_checkpoints(&place).await?);
            }
        }
        Ok(problems)
    }

    /// Rebuilds the indexes of the store in `dir` from its records and clears its
    /// checkpoints (rebuilt on the next query). The store must not be open elsewhere.
    pub fn repair_indexes(dir: &Path) -> Result<u64, StoreError> {
        SledLog::repair_indexes(dir)
    }

    /// Rebuilds the indexes of the store at `location` from its records and clears its
    /// derived data. A data directory must not be open elsewhere.
    pub async fn repair_indexes_at(location: &StoreLocation) -> Result<u64, StoreError> {
        location.repair_indexes().await
    }

    /// Erases `actor`'s personal data: appends an `actor_redacted` event (recorded now)
    /// and, when a data directory holds the log, destroys the actor's key and clears the
    /// derived data, so that when this returns no name, attribute or free text about the
    /// actor can be read from the data directory. The actor stays as an anonymous node.
    /// See `docs/erasure.md` for what is and is not erased.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use shiftlog::{parse_input, Engine, KnownAt};
    /// let engine = Engine::in_memory();
    /// engine.ingest(parse_input(r#"
    /// {"type":"place_registered","id":"p","occurred_at":"2024-01-01","place":"x","name":"X"}
    /// {"type":"actor_joined","id":"a","occurred_at":"2024-01-01","place":"x","actor":"jo","kind":"person","name":"Jo Bloggs"}
    /// "#), &[]).await.unwrap();
    /// engine.redact(&"jo".parse().unwrap(), Some("asked to be forgotten".into())).await.unwrap();
    /// let snap = engine.snapshot(&"x".parse().unwrap(), "2024-02-01".parse().unwrap(), KnownAt::Everything).await.unwrap();
    /// assert_eq!(snap.actors[0].name, None);
    /// assert!(snap.actors[0].redacted);
    /// # });
    /// ```
    pub async fn redact(
        &self,
        actor: &shiftlog_model::ActorId,
        reason: Option<String>,
    ) -> Result<AppendOutcome, AppendError> {
        let event = shiftlog_model::Event {
            id: None,
            occurred_at: Timestamp::now(),
            place: None,
            recorded_by: None,
            source: None,
            tags: Vec::new(),
            body: shiftlog_model::EventBody::ActorRedacted {
                actor: actor.clone(),
                reason,
            },
            extra: Default::default(),
        };
        self.append(AppendRequest::new(vec![event])).await
    }

    /// The underlying log.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Appends a batch atomically (see [`EventLog::append`]).
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        self.log.append(request).await
    }

    /// Checks events as an append would, writing nothing.
    pub async fn check(&self, events: Vec<shiftlog_model::Event>) -> Result<Vec<Rejection>, StoreError> {
        self.log.check(events).await
    }

    /// Appends a parsed input (see [`shiftlog_model::parse_input`]) as one atomic batch.
    ///
    /// If any event is rejected, by parsing or by the log's rules, nothing is written and
    /// every rejection is returned with its line (or index) in the input, in input order.
    pub async fn ingest(
        &self,
        input: ParsedInput,
        expected: &[(Stream, Version)],
    ) -> Result<AppendOutcome, AppendError> {
        ingest::ingest(self.log.as_ref(), input.events, input.rejections, expected, None).await
    }

    /// [`ingest`](Engine::ingest) for a writer that may write to `places` only (a
    /// recorder): each event's place, a retraction's as its target's, is checked as the
    /// batch is planned against the log, and any other fails it with
    /// [`AppendError::Forbidden`].
    pub async fn ingest_in_places(
        &self,
        input: ParsedInput,
        expected: &[(Stream, Version)],
        places: BTreeSet<PlaceId>,
    ) -> Result<AppendOutcome, AppendError> {
        ingest::ingest(
            self.log.as_ref(),
            input.events,
            input.rejections,
            expected,
            Some(places),
        )
        .await
    }

    /// What [`ingest_in_places`](Engine::ingest_in_places) (with `places`) or
    /// [`ingest`](Engine::ingest) (without) would append now: the same rules, errors,
    /// ids and versions, and nothing written, ever.
    pub async fn ingest_dry_run(
        &self,
        input: ParsedInput,
        expected: &[(Stream, Version)],
        places: Option<BTreeSet<PlaceId>>,
    ) -> Result<shiftlog_store::Planned, AppendError> {
        ingest::dry_run(self.log.as_ref(), input.events, input.rejections, expected, places).await
    }

    /// Appends located events (for example one `--batch` of a large import) as one
    /// atomic batch; rejections carry the events' own locations.
    pub async fn ingest_located(
        &self,
        events: Vec<LocatedEvent>,
        expected: &[(Stream, Version)],
    ) -> Result<AppendOutcome, AppendError> {
        ingest::ingest(self.log.as_ref(), events, Vec::new(), expected, None).await
    }

    /// Up to `limit` events from position `from` on.
    pub async fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read(from, limit).await
    }

    /// Up to `limit` events of one stream from position `from` on.
    pub async fn read_stream(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_stream(stream, from, limit).await
    }

    /// Up to `limit` events of one place from position `from` on.
    pub async fn read_place(
        &self,
        place: &PlaceId,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_stream(&Stream::Place(place.clone()), from, limit).await
    }

    /// The event with this id.
    pub async fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        self.log.event(id).await
    }

    /// A stream's version.
    pub async fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        self.log.version(stream).await
    }

    /// The last committed position.
    pub fn head(&self) -> Position {
        self.log.head()
    }

    /// A catch-up subscription: every event from position `from` on (1 for the whole
    /// log), exactly once and in position order, then each new one as it is appended.
    ///
    /// It never holds writers back: it reads the log at its own pace and waits only for
    /// the head to move (see [`Subscription`]).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use shiftlog::{parse_input, Engine, Position};
    /// let engine = Engine::in_memory();
    /// let mut sub = engine.subscribe(Position(1));
    /// let input = r#"{"type":"place_registered","id":"e1","occurred_at":"2024-01-01","place":"leeds","name":"Leeds"}"#;
    /// engine.ingest(parse_input(input), &[]).await.unwrap();
    /// let first = sub.next().await.unwrap();
    /// assert_eq!((first.position, first.id().as_str()), (Position(1), "e1"));
    /// # })
    /// ```
    pub fn subscribe(&self, from: Position) -> crate::Subscription {
        crate::Subscription::new(self.log.clone(), from)
    }

    /// A place's network for another tool: `at` a date (default: the place's last event)
    /// for the snapshot formats, or its whole history for [`ExportFormat::GexfDynamic`].
    pub async fn export(
        &self,
        place: &PlaceId,
        format: ExportFormat,
        at: Option<Timestamp>,
        view: impl Into<View>,
    ) -> Result<String, ProjectionError> {
        self.export_with(place, format, at, view, None).await
    }

    /// [`export`](Engine::export), with people shown by their pseudonyms when `people` is
    /// given (what funders see).
    pub async fn export_with(
        &self,
        place: &PlaceId,
        format: ExportFormat,
        at: Option<Timestamp>,
        view: impl Into<View>,
        people: Option<&projection::Pseudonyms>,
    ) -> Result<String, ProjectionError> {
        let view = view.into();
        let known = view.known;
        if format.needs_history() {
            let mut h = self.history_of_kinds(place, known, &view.kinds).await?;
            if let Some(p) = people {
                p.apply_to_history(&mut h);
            }
            return Ok(format.render_history(&h).expect("a format of the whole history"));
        }
        let mut snap = match at {
            Some(at) => self.snapshot(place, at, view).await?,
            // The date comes from the history, which then answers too: one read, not two.
            None => {
                let h = self.history_of_kinds(place, known, &view.kinds).await?;
                h.snapshot(h.span().map_or_else(Timestamp::now, |(_, last)| last))
            }
        };
        if let Some(p) = people {
            p.apply_to_snapshot(&mut snap);
        }
        Ok(format.render(&snap).expect("only the dynamic format needs a history"))
    }

    /// The pseudonyms of `place`'s people, numbered over everything recorded (read without
    /// personal data).
    pub async fn pseudonyms(&self, place: &PlaceId) -> Result<projection::Pseudonyms, ProjectionError> {
        Ok(projection::Pseudonyms::of_people(
            &self.structure(place, KnownAt::Everything).await?,
        ))
    }

    /// Counts for `shiftlog stats`.
    pub async fn stats(&self) -> Result<LogStats, StoreError> {
        self.log.stats().await
    }

    /// Every place ever registered.
    pub async fn places(&self) -> Result<Vec<PlaceId>, StoreError> {
        self.log.places().await
    }

    /// A place's history as known at `known`: the basis of every projection.
    pub async fn history(&self, place: &PlaceId, known: KnownAt) -> Result<PlaceHistory, ProjectionError> {
        projection::history(self.log.as_ref(), place, known).await
    }

    /// The relationship kinds ever recorded in `place` (retracted events aside), as known
    /// at `known`: what a view of some kinds chooses from.
    pub async fn kinds(&self, place: &PlaceId, known: KnownAt) -> Result<BTreeSet<String>, ProjectionError> {
        let h = self.structure(place, known).await?;
        Ok(h.events()
            .filter_map(|(_, e)| e.body.relationship_kind())
            .map(str::to_string)
            .collect())
    }

    /// A place's history without personal data: what metrics and anomalies need.
    async fn structure(&self, place: &PlaceId, known: KnownAt) -> Result<PlaceHistory, ProjectionError> {
        projection::history_with(self.log.as_ref(), place, known, Detail::WithoutPersonalData).await
    }

    /// The network of `place` at valid time `at` in `view` (a [`KnownAt`], or a [`View`]
    /// of some relationship kinds). Views of everything recorded start from the nearest
    /// checkpoint; earlier views fold the place's history from its start.
    pub async fn snapshot(
        &self,
        place: &PlaceId,
        at: Timestamp,
        view: impl Into<View>,
    ) -> Result<Snapshot, ProjectionError> {
        let View { known, kinds } = view.into();
        if kinds.is_all() {
            return self.projector.snapshot_known(place, at, known).await;
        }
        Ok(self.history_of_kinds(place, known, &kinds).await?.snapshot(at))
    }

    /// A place's history as known at `known`, with only the relationship events of
    /// `kinds`: what views of some kinds fold (checkpoints hold every kind).
    async fn history_of_kinds(
        &self,
        place: &PlaceId,
        known: KnownAt,
        kinds: &Kinds,
    ) -> Result<PlaceHistory, ProjectionError> {
        let mut h = self.history(place, known).await?;
        kinds.apply_to_history(&mut h);
        Ok(h)
    }

    /// The metrics of `place` (or of every place) at the end of every period between
    /// `from` and `to` (by default the place's first and last `occurred_at`), in one pass
    /// per place.
    pub async fn evolve(
        &self,
        place: Option<&PlaceId>,
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        view: impl Into<View>,
    ) -> Result<BTreeMap<String, Vec<Step>>, ProjectionError> {
        self.evolve_within(place, every, from, to, view, u64::MAX).await
    }

    /// [`evolve`](Engine::evolve), refused with [`ProjectionError::TooMuchWork`] before any
    /// step is computed when a place's evolution would cost more than `max_work`
    /// ([`PlaceHistory::evolution_work`]): what a server allows one request.
    pub async fn evolve_within(
        &self,
        place: Option<&PlaceId>,
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        view: impl Into<View>,
        max_work: u64,
    ) -> Result<BTreeMap<String, Vec<Step>>, ProjectionError> {
        self.evolve_with(place, every, from, to, view, EvolutionMeasures::Standard, max_work)
            .await
    }

    /// [`evolve_within`](Engine::evolve_within), computing `measures` at each step
    /// ([`EvolutionMeasures::All`] adds the communities, at about twice the time).
    #[allow(clippy::too_many_arguments)]
    pub async fn evolve_with(
        &self,
        place: Option<&PlaceId>,
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        view: impl Into<View>,
        measures: EvolutionMeasures,
        max_work: u64,
    ) -> Result<BTreeMap<String, Vec<Step>>, ProjectionError> {
        let View { known, kinds } = view.into();
        let series = move |h: &PlaceHistory| match h.span() {
            None => Ok(Vec::new()),
            Some((first, last)) => {
                let start = from.unwrap_or(first);
                let steps = h.steps(every, start, to.unwrap_or(last))?;
                // Without a budget (a command, not a server's request) the estimate, a
                // pass over every event, is not worked out.
                let work = if max_work == u64::MAX {
                    0
                } else {
                    h.evolution_work(steps.len())
                };
                if work > max_work {
                    return Err(ProjectionError::TooMuchWork {
                        place: h.place().clone(),
                        steps: steps.len(),
                        work,
                        limit: max_work,
                    });
                }
                Ok(h.evolve_measuring(Some(projection::period_start(every, start)), &steps, measures))
            }
        };
        // Metrics need no personal data: reading without it skips decrypting it.
        if let Some(p) = place {
            let k = known.position(self.log.as_ref(), self.head().0).await?;
            let mut ready = self.projector.fold_ready_histories(std::slice::from_ref(p), k).await?;
            let history = match ready.histories.remove(p) {
                Some(h) => h,
                None => self.structure(p, KnownAt::Position(k)).await?,
            };
            return evolve_all(BTreeMap::from([(p.clone(), history)]), &kinds, &series, true);
        }
        self.evolve_every_place(known, &kinds, Self::GROUP_EVENTS, series).await
    }

    /// Queries about every place read the log in one pass when it holds up to this many
    /// events (fastest); beyond, they take the places in groups of about this many events,
    /// one pass each, so memory stays bounded by a group, not by the log (about 1.4 GiB
    /// peak at 9.9M events; at about 450 bytes a decoded event in memory).
    const GROUP_EVENTS: u64 = 1_000_000;

    /// How long the keeper ([`Engine::keep_prepared`]) waits after an append before it
    /// prepares the places appended to.
    const KEEPER_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

    /// Events read per pass over the log when derived data is rebuilt: histories read for
    /// it hold personal data (checkpoints keep names), which costs about twice as much
    /// memory as the histories evolution reads; a quarter of [`Self::GROUP_EVENTS`] keeps
    /// the peak well under the 2 GiB target (measured in docs/performance.md).
    const PREPARE_GROUP_EVENTS: u64 = 250_000;

    /// The evolution of every place, a group of places at a time.
    async fn evolve_every_place(
        &self,
        known: KnownAt,
        kinds: &Kinds,
        budget: u64,
        series: impl Fn(&PlaceHistory) -> Result<Vec<Step>, ProjectionError> + Sync,
    ) -> Result<BTreeMap<String, Vec<Step>>, ProjectionError> {
        // One position for every group, so that the answer is of one log.
        let k = KnownAt::Position(known.position(self.log.as_ref(), self.head().0).await?);
        let groups = self.place_groups(k, budget).await?;
        // With one group the decoded log can be freed after answering; with several it
        // must go before the next group is read.
        let free_later = groups.len() == 1;
        let mut out = BTreeMap::new();
        for group in groups {
            out.extend(evolve_all(self.measured(group, k).await?, kinds, &series, free_later)?);
        }
        Ok(out)
    }

    /// What measures need of a group of places (`None`: every place) as known at `known`:
    /// each place's fold-ready form where it holds every event the view sees (a few small
    /// blocks, no full records decoded), the rest read from the log in one pass.
    async fn measured(
        &self,
        group: Option<BTreeSet<PlaceId>>,
        known: KnownAt,
    ) -> Result<BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
        let k = known.position(self.log.as_ref(), self.head().0).await?;
        let places: Vec<PlaceId> = match &group {
            Some(g) => g.iter().cloned().collect(),
            None => self.places().await?,
        };
        let ready = self.projector.fold_ready_histories(&places, k).await?;
        let mut out = ready.histories;
        if ready.missing.len() == places.len() {
            out.extend(self.structures(group, KnownAt::Position(k)).await?);
        } else if !ready.missing.is_empty() {
            let missing = ready.missing.into_iter().collect();
            out.extend(self.structures(Some(missing), KnownAt::Position(k)).await?);
        }
        Ok(out)
    }

    /// The places, in groups of at most `budget` events (a place with more is a group of
    /// its own), each group to be read in one pass; `None` stands for every place, when
    /// the whole log fits in one group.
    async fn place_groups(
        &self,
        known: KnownAt,
        budget: u64,
    ) -> Result<Vec<Option<BTreeSet<PlaceId>>>, ProjectionError> {
        if known.position(self.log.as_ref(), self.head().0).await? <= budget {
            return Ok(vec![None]);
        }
        let mut groups: Vec<(BTreeSet<PlaceId>, u64)> = Vec::new();
        for p in self.places().await? {
            let n = self.log.version(&Stream::Place(p.clone())).await?;
            match groups.last_mut() {
                Some((group, size)) if *size + n <= budget => {
                    group.insert(p);
                    *size += n;
                }
                _ => groups.push((BTreeSet::from([p]), n)),
            }
        }
        Ok(groups.into_iter().map(|(g, _)| Some(g)).collect())
    }

    /// How many places' derived data (index and checkpoints) is behind the log: the places
    /// the next [`Engine::prepare`] would work on. Cheap: two reads per place.
    pub async fn places_behind(&self) -> Result<usize, ProjectionError> {
        let mut n = 0;
        for p in self.places().await? {
            if self.projector.lag(&p).await? != Lag::Current {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Brings every place's derived data (valid-time index and checkpoints) up to the
    /// log's head, so that no query waits for it: places a few events behind catch up from
    /// their streams; places never indexed (a bulk import, a store from an older build) or
    /// far behind are rebuilt from their histories, read a group of about 1M events at a
    /// time in one pass over the log each. `progress` is told (places done, places to do)
    /// as it goes. Queries may run meanwhile; derived data is a cache, so stopping half
    /// way loses nothing.
    pub async fn prepare(&self, progress: impl FnMut(usize, usize)) -> Result<Prepared, ProjectionError> {
        self.prepare_places(&[], progress).await
    }

    /// [`Engine::prepare`] for `places` only (every place when empty).
    pub async fn prepare_places(
        &self,
        places: &[PlaceId],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Prepared, ProjectionError> {
        let head = self.head().0;
        let generation = self.log.derived().generation();
        let (mut rebuild, mut behind) = (Vec::new(), Vec::new());
        let places = if places.is_empty() {
            self.places().await?
        } else {
            places.to_vec()
        };
        for p in places {
            match self.projector.lag(&p).await? {
                Lag::Current => {}
                Lag::Behind(_) => behind.push(p),
                Lag::Rebuild => rebuild.push(p),
            }
        }
        let total = rebuild.len() + behind.len();
        let mut done = 0;
        progress(done, total);
        for p in &behind {
            self.projector.prepare(p).await?;
            done += 1;
            progress(done, total);
        }
        let known = KnownAt::Position(head);
        // (An empty list would mean every place to place_groups_for.)
        let groups = match rebuild.is_empty() {
            true => Vec::new(),
            false => {
                self.place_groups_for(&rebuild, known, Self::PREPARE_GROUP_EVENTS)
                    .await?
            }
        };
        for group in groups {
            let histories = self.histories(&group, known).await?;
            for history in histories.values() {
                self.projector.rebuild(history, generation).await?;
                done += 1;
                progress(done, total);
            }
        }
        Ok(Prepared {
            caught_up: behind.len(),
            rebuilt: rebuild.len(),
            head: Position(head),
        })
    }

    /// Keeps every place's derived data current as the log grows, off the writers' path:
    /// a task that prepares every place once, then waits for appends and
    /// [prepares](Engine::prepare_places) the places they touched (every place after a
    /// redaction, which clears derived data). Appends that come while it works are taken
    /// together in its next round. Failures are logged and the round retried at the next
    /// append: derived data is a cache, and queries catch up on their own meanwhile. The
    /// task holds a clone of the engine. To stop it, abort its handle *and await it*: an
    /// abort alone drops the task (its clone, and a round in progress) some time later, on
    /// another thread, so a store then still open cannot be opened again at once, and one
    /// whose directory was removed meanwhile can hang in sled's flush at drop. A round
    /// stopped half-way is safe: each batch of derived data is written whole, with the
    /// marks of how far it reaches, as when a client hangs up.
    pub fn keep_prepared(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        let mut head = self.log.watch_head();
        tokio::spawn(async move {
            // Up to where the log's events have been looked at (0: nothing yet).
            let mut seen = 0;
            loop {
                let now = engine.head().0;
                match engine.prepare_touched(seen, now).await {
                    Ok(()) => seen = now,
                    Err(e) => {
                        tracing::warn!(error = %e, "bringing derived data up to date failed; queries catch up on their own")
                    }
                }
                // After a redaction, states kept in memory for snapshots go now, not at
                // the next query.
                engine.projector.forget_if_cleared();
                if head.changed().await.is_err() {
                    return;
                }
                // Yield to the writers for a moment, so that a burst of appends is taken
                // in one round instead of one round each: on a machine of two cores a
                // round per append took a third of the durable append rate (measured in
                // docs/performance.md). A query meanwhile catches its place up itself.
                tokio::time::sleep(Self::KEEPER_PAUSE).await;
                head.borrow_and_update();
            }
        })
    }

    /// Prepares the places of the events at positions `seen + 1 ..= now` (every place when
    /// `seen` is 0, or when one of them is a redaction).
    async fn prepare_touched(&self, seen: u64, now: u64) -> Result<(), ProjectionError> {
        let mut touched = BTreeSet::new();
        let mut everything = seen == 0;
        let mut from = seen + 1;
        while !everything && from <= now {
            let n = (now - from + 1).min(10_000) as usize;
            let page = self
                .log
                .read_with(Position(from), n, Detail::WithoutPersonalData)
                .await?;
            let Some(last) = page.last() else { break };
            from = last.position.0 + 1;
            for r in page {
                match r.stream {
                    Stream::Place(p) => {
                        touched.insert(p);
                    }
                    Stream::Unplaced => everything = true,
                }
            }
        }
        let places: Vec<PlaceId> = if everything {
            Vec::new()
        } else {
            touched.into_iter().collect()
        };
        if everything || !places.is_empty() {
            self.prepare_places(&places, |_, _| {}).await?;
        }
        Ok(())
    }

    /// `places` (every place when empty), in the order given, cut into groups of at most
    /// `max_events` events each (a place with more is a group of its own), each group to be
    /// read with one [`Engine::histories`]: how a query over many places (the report) keeps
    /// its memory bounded by a group instead of by the log. A place the log does not hold
    /// is an error. `known` should be a [`KnownAt::Position`], so that every group sees the
    /// same log even while others append.
    pub async fn place_groups_for(
        &self,
        places: &[PlaceId],
        known: KnownAt,
        max_events: u64,
    ) -> Result<Vec<Vec<PlaceId>>, ProjectionError> {
        let places = if places.is_empty() {
            self.places().await?
        } else {
            places.to_vec()
        };
        let limit = known.position(self.log.as_ref(), self.head().0).await?;
        let mut groups: Vec<(Vec<PlaceId>, u64)> = Vec::new();
        for p in places {
            let n = self.log.version(&Stream::Place(p.clone())).await?;
            if n == 0 {
                return Err(ProjectionError::UnknownPlace(p));
            }
            // A view of an earlier log reads no more than its prefix.
            let n = n.min(limit);
            match groups.last_mut() {
                Some((group, size)) if *size + n <= max_events => {
                    group.push(p);
                    *size += n;
                }
                _ => groups.push((vec![p], n)),
            }
        }
        Ok(groups.into_iter().map(|(g, _)| g).collect())
    }

    /// The full histories of `places` as known at `known`, in one pass over the log that
    /// decodes only their events (see [`Engine::place_groups_for`]).
    pub async fn histories(
        &self,
        places: &[PlaceId],
        known: KnownAt,
    ) -> Result<BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
        let set: BTreeSet<PlaceId> = places.iter().cloned().collect();
        projection::histories_of(self.log.as_ref(), &set, known, Detail::Full).await
    }

    /// The histories of a group of places (`None`: every place) as known at `known`,
    /// without personal data, in one pass over the log.
    async fn structures(
        &self,
        group: Option<BTreeSet<PlaceId>>,
        known: KnownAt,
    ) -> Result<BTreeMap<PlaceId, PlaceHistory>, ProjectionError> {
        let (log, detail) = (self.log.as_ref(), Detail::WithoutPersonalData);
        match group {
            None => projection::histories_with(log, known, detail).await,
            Some(places) => projection::histories_of(log, &places, known, detail).await,
        }
    }

    /// The learning synthesis of `places` (every place when empty, in the order given):
    /// learning by area, outcomes by condition, power shifts by the power cube,
    /// participation tags, sessions and absent voices, per period of `every` from `from`
    /// to `to` (by default the earliest and latest event of those places). With `texts`
    /// (for recorders and admins, never funders), the learning texts by area.
    pub async fn synthesis(
        &self,
        places: &[PlaceId],
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        known: KnownAt,
        texts: bool,
    ) -> Result<projection::Synthesis, ProjectionError> {
        self.synthesis_in_groups(places, every, from, to, known, texts, Self::GROUP_EVENTS)
            .await
    }

    /// [`Engine::synthesis`], reading places in groups of at most `budget` events.
    #[allow(clippy::too_many_arguments)]
    async fn synthesis_in_groups(
        &self,
        places: &[PlaceId],
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        known: KnownAt,
        texts: bool,
        budget: u64,
    ) -> Result<projection::Synthesis, ProjectionError> {
        let places = if places.is_empty() {
            self.places().await?
        } else {
            places.to_vec()
        };
        // One position for every group, so that the synthesis reads one log.
        let position = known.position(self.log.as_ref(), self.head().0).await?;
        let k = KnownAt::Position(position);
        // Counts need no personal data; the texts are personal data.
        let detail = if texts {
            Detail::Full
        } else {
            Detail::WithoutPersonalData
        };
        // A group of places at a time, so that memory is bounded by a group, not by the
        // log; each place over its own periods, put on one grid at the end.
        let mut done = Vec::with_capacity(places.len());
        for group in self.place_groups_for(&places, k, budget).await? {
            let set: BTreeSet<PlaceId> = group.iter().cloned().collect();
            let mut histories = projection::histories_of(self.log.as_ref(), &set, k, detail).await?;
            for p in group {
                let h = histories
                    .remove(&p)
                    .ok_or_else(|| ProjectionError::UnknownPlace(p.clone()))?;
                done.push(h.synthesis(every, from, to, texts)?);
            }
        }
        projection::combine(done, every, position, texts)
    }

    /// What changed in `place` between valid times `from` and `to`, in `view`.
    pub async fn diff(
        &self,
        place: &PlaceId,
        from: Timestamp,
        to: Timestamp,
        view: impl Into<View>,
    ) -> Result<Diff, ProjectionError> {
        let View { known, kinds } = view.into();
        if kinds.is_all() {
            return self.projector.diff(place, from, to, known).await;
        }
        Ok(self.history_of_kinds(place, known, &kinds).await?.diff(from, to))
    }

    /// Every place's metrics at valid time `at`, in `view`.
    pub async fn compare(
        &self,
        at: Timestamp,
        view: impl Into<View>,
    ) -> Result<BTreeMap<String, Metrics>, ProjectionError> {
        let rows = self
            .at_every_place(at, view.into(), projection::compute_metrics)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// [`compare`](Engine::compare) and [`bridges`](Engine::bridges) at once, each place
    /// folded once for both: what a comparison table with its bridging actors shows.
    /// Bridges are of every relationship kind's view: kinds leave out relationships, not
    /// actors, so a view's active actors are the same whatever its kinds.
    pub async fn comparison(&self, at: Timestamp, view: impl Into<View>) -> Result<Comparison, ProjectionError> {
        let rows = self
            .at_every_place(at, view.into(), |state| {
                (projection::compute_metrics(state), active_actors(state))
            })
            .await?;
        let mut places = BTreeMap::new();
        let mut actors = Vec::with_capacity(rows.len());
        for (p, (metrics, active)) in rows {
            actors.push((p.clone(), active));
            places.insert(p, metrics);
        }
        Ok(Comparison {
            places,
            bridges: bridging(actors),
        })
    }

    /// `answer` of each place's folded state at valid time `at`, in `view`, for every
    /// place the view knows of, in the places' order. Answers about structure only
    /// (metrics, who is active): each state is folded from the place's fold-ready form,
    /// a few small blocks with no full record decoded, when it holds every event the view
    /// sees; otherwise from the place's checkpoints and the log. Places run in parallel,
    /// a few at a time ([`Engine::per_place`]), so memory is bounded by a few places'
    /// histories.
    async fn at_every_place<T: Send + 'static>(
        &self,
        at: Timestamp,
        view: View,
        answer: impl Fn(&projection::PlaceState) -> T + Clone + Send + Sync + 'static,
    ) -> Result<Vec<(String, T)>, ProjectionError> {
        let View { known, kinds } = view;
        let places = self.places_known(known).await?;
        self.per_place(places, move |engine, p, k| {
            let (kinds, answer) = (kinds.clone(), answer.clone());
            async move {
                let mut ready = engine
                    .projector
                    .fold_ready_histories(std::slice::from_ref(&p), k)
                    .await?;
                let mut history = match ready.histories.remove(&p) {
                    Some(h) => h,
                    // Without the form (derived data behind, or cleared), a view of every
                    // kind folds from the place's checkpoints.
                    None if kinds.is_all() => {
                        let state = engine.projector.state_known(&p, at, KnownAt::Position(k)).await?.0;
                        return blocking(move || (p.to_string(), answer(&state))).await;
                    }
                    None => engine.structure(&p, KnownAt::Position(k)).await?,
                };
                blocking(move || {
                    kinds.apply_to_history(&mut history);
                    (p.to_string(), answer(&history.state_at(at)))
                })
                .await
            }
        })
        .await
    }

    /// Runs `work` for each place (with the log position its view is at), as many places
    /// at a time as twice the cores, and returns the answers in the places' order: each
    /// place reads its own derived data and folds on its own, so places run in parallel,
    /// and while one place waits for its reads another computes (twice the cores: a
    /// comparison of 1,000 places took 8.2 s with as many as the cores, 7.7 s with twice).
    /// Memory is bounded by the places in flight. The first error stops the rest.
    async fn per_place<T, F, Fut>(&self, places: Vec<(PlaceId, u64)>, work: F) -> Result<Vec<T>, ProjectionError>
    where
        T: Send + 'static,
        F: Fn(Engine, PlaceId, u64) -> Fut,
        Fut: std::future::Future<Output = Result<T, ProjectionError>> + Send + 'static,
    {
        let width = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut running = tokio::task::JoinSet::new();
        let mut done: Vec<Option<T>> = (0..places.len()).map(|_| None).collect();
        let mut next = places.into_iter().enumerate();
        loop {
            while running.len() < width {
                let Some((i, (p, k))) = next.next() else { break };
                let fut = work(self.clone(), p, k);
                running.spawn(async move { (i, fut.await) });
            }
            let Some(joined) = running.join_next().await else { break };
            let (i, answer) = joined.map_err(|e| ProjectionError::Derived(format!("a query task failed: {e}")))?;
            done[i] = Some(answer?);
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// Actors active in more than one place at valid time `at`, each with its places: who
    /// bridges places (a funder, a national body).
    pub async fn bridges(
        &self,
        at: Timestamp,
        known: KnownAt,
    ) -> Result<BTreeMap<String, Vec<String>>, ProjectionError> {
        Ok(bridging(self.at_every_place(at, known.into(), active_actors).await?))
    }

    /// The places a view knows of (those with an event at or before its position), each
    /// with that position.
    async fn places_known(&self, known: KnownAt) -> Result<Vec<(PlaceId, u64)>, ProjectionError> {
        let k = known.position(self.log.as_ref(), self.head().0).await?;
        let mut out = Vec::new();
        for p in self.places().await? {
            let first = self.read_stream(&Stream::Place(p.clone()), Position(1), 1).await?;
            if first.first().is_some_and(|e| e.position.0 <= k) {
                out.push((p, k));
            }
        }
        Ok(out)
    }

    /// The anomaly report of `place` (or of every place).
    pub async fn anomalies(
        &self,
        place: Option<&PlaceId>,
        known: KnownAt,
    ) -> Result<BTreeMap<String, Vec<Anomaly>>, ProjectionError> {
        match place {
            Some(p) => Ok(BTreeMap::from([(
                p.to_string(),
                self.structure(p, known).await?.anomalies(),
            )])),
            None => self.anomalies_every_place(known, Self::GROUP_EVENTS).await,
        }
    }

    /// The anomaly report of every place, a group of places at a time.
    async fn anomalies_every_place(
        &self,
        known: KnownAt,
        budget: u64,
    ) -> Result<BTreeMap<String, Vec<Anomaly>>, ProjectionError> {
        let mut out = BTreeMap::new();
        for group in self.place_groups(known, budget).await? {
            let histories = self.structures(group, known).await?;
            out.extend(histories.into_iter().map(|(p, h)| (p.to_string(), h.anomalies())));
        }
        Ok(out)
    }
}

/// Every place's metrics at a date with the actors bridging places: what
/// [`Engine::comparison`] answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Comparison {
    /// Each place's metrics, by place.
    pub places: BTreeMap<String, Metrics>,
    /// Actors active in more than one place, each with its places (as
    /// [`Engine::bridges`]).
    pub bridges: BTreeMap<String, Vec<String>>,
}

/// The actors active in a folded state, in id order.
fn active_actors(state: &projection::PlaceState) -> Vec<String> {
    state
        .actors
        .iter()
        .filter(|(_, s)| s.active)
        .map(|(a, _)| a.to_string())
        .collect()
}

/// The actors in more than one place's list, each with its places (in the lists' order).
fn bridging(active: Vec<(String, Vec<String>)>) -> BTreeMap<String, Vec<String>> {
    let mut places_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, actors) in active {
        for a in actors {
            places_of.entry(a).or_default().push(p.clone());
        }
    }
    places_of.retain(|_, ps| ps.len() > 1);
    places_of
}

/// `work` on a thread for blocking work: folds and measures take milliseconds, which an
/// async worker must not spend.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ProjectionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ProjectionError::Derived(format!("a query task failed: {e}")))
}

/// The series of every place in `histories`, folded on every core, off the async executor.
/// With `free_later`, the decoded histories are freed on a thread of their own: that is a
/// tenth of the work of the whole query, and the answer need not wait for it.
fn evolve_all(
    histories: BTreeMap<PlaceId, PlaceHistory>,
    kinds: &Kinds,
    series: &(impl Fn(&PlaceHistory) -> Result<Vec<Step>, ProjectionError> + Sync),
    free_later: bool,
) -> Result<BTreeMap<String, Vec<Step>>, ProjectionError> {
    let run = || {
        use rayon::prelude::*;
        // Largest first, one place a task: the cores stay busy to the end instead of
        // one of them finishing a long place alone.
        let mut histories: Vec<(PlaceId, PlaceHistory)> = histories.into_iter().collect();
        histories.sort_by_key(|(_, h)| std::cmp::Reverse(h.events().len()));
        let (series, spent): (Vec<_>, Vec<_>) = histories
            .into_par_iter()
            .with_max_len(1)
            .map(|(p, mut h)| {
                kinds.apply_to_history(&mut h);
                ((p.to_string(), series(&h)), h)
            })
            .unzip();
        if free_later {
            std::thread::spawn(move || drop(spent));
        } else {
            spent.into_par_iter().for_each(drop);
        }
        series.into_iter().map(|(p, r)| Ok((p, r?))).collect()
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(run),
        _ => run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of evolving every place and reporting its anomalies (one pass over the
    /// log; a group of places at a time) give the same answers, for every view, in memory
    /// and on disk, with groups small enough that there are several.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evolution_in_groups_equals_the_single_pass() {
        let dir = tempfile::tempdir().unwrap();
        for engine in [Engine::in_memory(), Engine::open(dir.path()).unwrap()] {
            for file in ["generated-inquiry.ndjson", "worked-example.ndjson"] {
                let text =
                    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data").join(file))
                        .unwrap();
                engine.ingest(shiftlog_model::parse_input(&text), &[]).await.unwrap();
            }
            let head = engine.head().0;
            for known in [
                KnownAt::Everything,
                KnownAt::Position(3),
                KnownAt::Position(head / 3),
                KnownAt::Position(head - 100),
            ] {
                for every in [Every::Month, Every::Quarter] {
                    let one_pass = engine.evolve(None, every, None, None, known).await.unwrap();
                    for budget in [1, 300, head] {
                        let in_groups = engine
                            .evolve_every_place(known, &Kinds::all(), budget, move |h: &PlaceHistory| match h.span() {
                                None => Ok(Vec::new()),
                                Some((first, last)) => Ok(h.evolve(&projection::steps(every, first, last).unwrap())),
                            })
                            .await
                            .unwrap();
                        assert!(!one_pass.is_empty());
                        assert_eq!(one_pass, in_groups, "{known:?} {every:?} groups of {budget} events");
                    }
                }
                // The synthesis a group of places at a time equals the one of every
                // history read at once.
                for (from, to) in [(None, None), (Some("2024-03-01".parse().unwrap()), None)] {
                    let places = engine.places().await.unwrap();
                    let k = KnownAt::Position(known.position(engine.log().as_ref(), head).await.unwrap());
                    let all: BTreeSet<PlaceId> = places.iter().cloned().collect();
                    let histories = projection::histories_of(engine.log().as_ref(), &all, k, Detail::Full)
                        .await
                        .unwrap();
                    let known_places: Vec<PlaceId> =
                        places.iter().filter(|p| histories.contains_key(*p)).cloned().collect();
                    let ordered: Vec<&PlaceHistory> = known_places.iter().map(|p| &histories[p]).collect();
                    let mut want = projection::synthesis(&ordered, Every::Quarter, from, to, true).unwrap();
                    want.known_at_position = k.position(engine.log().as_ref(), head).await.unwrap();
                    for budget in [1, 300, head] {
                        let got = engine
                            .synthesis_in_groups(&known_places, Every::Quarter, from, to, known, true, budget)
                            .await
                            .unwrap();
                        assert_eq!(
                            got, want,
                            "synthesis, {known:?}, groups of {budget} events, from {from:?}"
                        );
                    }
                }
                let one_pass = engine.anomalies(None, known).await.unwrap();
                for budget in [1, 300] {
                    let in_groups = engine.anomalies_every_place(known, budget).await.unwrap();
                    assert_eq!(one_pass, in_groups, "anomalies, {known:?}, groups of {budget} events");
                }
            }
        }
    }
}
