//! Turning an append request into positioned events, shared by every log implementation
//! so that they accept and reject exactly the same things.
//!
//! A log implements [`Committed`] (what is already durable). Requests that are committed
//! together (a group commit) are planned one after another into one group [`Overlay`];
//! each request is first planned into its own overlay, layered on the group's, so that a
//! rejected request leaves no trace.

use crate::error::{AppendError, StoreError};
use crate::types::{AppendOutcome, AppendRequest, EventOutcome, Position, RecordedEvent, Stream, Version};
use shiftlog_model::{
    check_against_log, ActorId, EventBody, EventId, EventSummary, FieldError, Location, LogView, PlaceId, Rejection,
    Timestamp,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Joins of actors to places: (place, actor) -> [(occurred_at, position)].
pub(crate) type JoinIndex = HashMap<(PlaceId, ActorId), Vec<(Timestamp, Position)>>;

/// What a log already holds, as the planner needs to see it.
pub(crate) trait Committed {
    /// The last committed position (0 when empty).
    fn head(&self) -> u64;
    /// A stream's committed version.
    fn version(&self, stream: &Stream) -> Result<Version, StoreError>;
    /// The committed event with this id.
    fn lookup_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError>;
    /// Positions of the place's non-retracted `place_registered` events.
    fn registrations(&self, place: &PlaceId) -> Result<Vec<Position>, StoreError>;
    /// The actor's non-retracted joins of the place: (occurred_at, position).
    fn joins(&self, place: &PlaceId, actor: &ActorId) -> Result<Vec<(Timestamp, Position)>, StoreError>;
    /// Whether the actor ever joined any place.
    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError>;
    /// Whether the place was ever registered.
    fn place_known(&self, place: &PlaceId) -> Result<bool, StoreError>;
    /// Whether some committed event has this id. A log that keeps its ids apart from its
    /// events answers without reading the event.
    fn id_taken(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.lookup_id(id)?.is_some())
    }
}

/// What the planner needs of a committed log, kept in memory and current as groups
/// commit: the logs that hold no index of their own on disk (the in-memory log, and the
/// PostgreSQL log, whose servers each keep one under the append lock) share it.
///
/// It holds ids, not events: [`Committed::lookup_id`] is the owner's, which reads the
/// event from wherever it keeps them.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// The last committed position.
    pub head: u64,
    /// Every id, with the position of its event.
    pub ids: HashMap<EventId, Position>,
    registrations: HashMap<PlaceId, Vec<Position>>,
    joins: JoinIndex,
    actors: HashSet<ActorId>,
    places: HashSet<PlaceId>,
    versions: HashMap<Stream, Version>,
    /// The (place, actor) of each join still standing, by position: what a retraction
    /// replayed without its target's event takes back.
    join_at: HashMap<Position, (PlaceId, ActorId)>,
}

impl Index {
    /// Takes in a committed group's overlay (its events stay in it).
    pub(crate) fn apply(&mut self, o: &mut Overlay) {
        // Additions first: a retraction may take back a join or registration of its own
        // batch.
        for (k, v) in std::mem::take(&mut o.registrations) {
            self.registrations.entry(k).or_default().extend(v);
        }
        for (k, v) in std::mem::take(&mut o.joins) {
            for (_, p) in &v {
                self.join_at.insert(*p, k.clone());
            }
            self.joins.entry(k).or_default().extend(v);
        }
        for (place, actor, _, pos) in &o.removed_joins {
            self.join_at.remove(pos);
            if let Some(js) = self.joins.get_mut(&(place.clone(), actor.clone())) {
                js.retain(|(_, p)| p != pos);
            }
        }
        for (place, pos) in &o.removed_registrations {
            if let Some(rs) = self.registrations.get_mut(place) {
                rs.retain(|p| p != pos);
            }
        }
        self.actors.extend(o.new_actors.iter().map(|(a, _)| a.clone()));
        self.places.extend(o.new_places.iter().map(|(p, _)| p.clone()));
        self.versions.extend(std::mem::take(&mut o.versions));
        for e in &o.events {
            self.ids.insert(e.id().clone(), e.position);
            self.head = self.head.max(e.position.0);
        }
    }

    /// A stream's committed version.
    pub(crate) fn version(&self, stream: &Stream) -> Version {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    /// Positions of the place's non-retracted registrations.
    pub(crate) fn registrations(&self, place: &PlaceId) -> Vec<Position> {
        self.registrations.get(place).cloned().unwrap_or_default()
    }

    /// The actor's non-retracted joins of the place.
    pub(crate) fn joins(&self, place: &PlaceId, actor: &ActorId) -> Vec<(Timestamp, Position)> {
        self.joins
            .get(&(place.clone(), actor.clone()))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the actor ever joined a place.
    pub(crate) fn actor_known(&self, actor: &ActorId) -> bool {
        self.actors.contains(actor)
    }

    /// Whether the place was ever registered.
    pub(crate) fn place_known(&self, place: &PlaceId) -> bool {
        self.places.contains(place)
    }

    /// Every place ever registered.
    pub(crate) fn places(&self) -> impl Iterator<Item = &PlaceId> {
        self.places.iter()
    }

    /// How many actors ever joined a place.
    pub(crate) fn actor_count(&self) -> usize {
        self.actors.len()
    }

    /// Takes in committed events, in position order from the one after the head: how a
    /// log that keeps its index in memory builds it when it opens, and catches up with
    /// what other servers committed. The events may be read without personal data.
    pub(crate) fn replay(&mut self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        for e in events {
            if e.position.0 != self.head + 1 {
                return Err(StoreError::Corrupt(format!(
                    "expected the event at position {}, read the one at {}",
                    self.head + 1,
                    e.position
                )));
            }
            match (&e.event.body, &e.event.place) {
                (EventBody::PlaceRegistered { .. }, Some(place)) => {
                    self.places.insert(place.clone());
                    self.registrations.entry(place.clone()).or_default().push(e.position);
                }
                (EventBody::ActorJoined { actor, .. }, Some(place)) => {
                    self.actors.insert(actor.clone());
                    let key = (place.clone(), actor.clone());
                    self.joins
                        .entry(key.clone())
                        .or_default()
                        .push((e.event.occurred_at, e.position));
                    self.join_at.insert(e.position, key);
                }
                (EventBody::EventRetracted { target, .. }, _) => {
                    if let Some(&t) = self.ids.get(target) {
                        if let Some(key) = self.join_at.remove(&t) {
                            if let Some(js) = self.joins.get_mut(&key) {
                                js.retain(|(_, p)| *p != t);
                            }
                        }
                        if let Stream::Place(place) = &e.stream {
                            if let Some(rs) = self.registrations.get_mut(place) {
                                rs.retain(|p| *p != t);
                            }
                        }
                    }
                }
                _ => {}
            }
            *self.versions.entry(e.stream.clone()).or_insert(0) += 1;
            self.ids.insert(e.id().clone(), e.position);
            self.head = e.position.0;
        }
        Ok(())
    }
}

/// Changes planned on top of the committed log, not yet written.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    /// The next free position.
    pub next: u64,
    /// New events, in position order.
    pub events: Vec<RecordedEvent>,
    ids: HashMap<EventId, usize>,
    /// New registrations by place.
    pub registrations: HashMap<PlaceId, Vec<Position>>,
    /// New joins by (place, actor).
    pub joins: JoinIndex,
    /// Positions retracted by new retractions.
    pub retracted: HashSet<Position>,
    /// Join index entries that new retractions remove: (place, actor, occurred_at, position).
    pub removed_joins: Vec<(PlaceId, ActorId, Timestamp, Position)>,
    /// Registration index entries that new retractions remove.
    pub removed_registrations: Vec<(PlaceId, Position)>,
    /// Actors seen for the first time, with the position that first named them.
    pub new_actors: Vec<(ActorId, Position)>,
    new_actor_set: HashSet<ActorId>,
    /// Places registered for the first time.
    pub new_places: Vec<(PlaceId, Position)>,
    new_place_set: HashSet<PlaceId>,
    /// Versions of the streams this overlay touches, after it.
    pub versions: BTreeMap<Stream, Version>,
    /// Each touched stream's new positions, in order.
    pub stream_positions: BTreeMap<Stream, Vec<Position>>,
}

impl Overlay {
    pub(crate) fn starting_at(next: u64) -> Self {
        Overlay {
            next,
            ..Default::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Takes in a request's overlay planned on top of this one.
    fn absorb(&mut self, req: Overlay) {
        let base = self.events.len();
        self.next = req.next;
        for (id, i) in req.ids {
            self.ids.insert(id, base + i);
        }
        self.events.extend(req.events);
        for (k, v) in req.registrations {
            self.registrations.entry(k).or_default().extend(v);
        }
        for (k, v) in req.joins {
            self.joins.entry(k).or_default().extend(v);
        }
        self.retracted.extend(req.retracted);
        self.removed_joins.extend(req.removed_joins);
        self.removed_registrations.extend(req.removed_registrations);
        for (a, p) in req.new_actors {
            if self.new_actor_set.insert(a.clone()) {
                self.new_actors.push((a, p));
            }
        }
        for (pl, p) in req.new_places {
            if self.new_place_set.insert(pl.clone()) {
                self.new_places.push((pl, p));
            }
        }
        self.versions.extend(req.versions);
        for (s, ps) in req.stream_positions {
            self.stream_positions.entry(s).or_default().extend(ps);
        }
    }
}

/// The committed log seen through the group's and the request's overlays.
struct View<'a, C: Committed> {
    committed: &'a C,
    group: &'a Overlay,
    req: &'a Overlay,
}

impl<C: Committed> View<'_, C> {
    fn layers(&self) -> [&Overlay; 2] {
        [self.group, self.req]
    }

    fn is_retracted(&self, p: Position) -> bool {
        self.layers().iter().any(|o| o.retracted.contains(&p))
    }

    fn lookup_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError> {
        for o in self.layers() {
            if let Some(&i) = o.ids.get(id) {
                return Ok(Some(o.events[i].clone()));
            }
        }
        self.committed.lookup_id(id)
    }

    fn id_taken(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.layers().iter().any(|o| o.ids.contains_key(id)) || self.committed.id_taken(id)?)
    }

    fn version(&self, stream: &Stream) -> Result<Version, StoreError> {
        for o in [self.req, self.group] {
            if let Some(v) = o.versions.get(stream) {
                return Ok(*v);
            }
        }
        self.committed.version(stream)
    }

    fn joins(&self, place: &PlaceId, actor: &ActorId) -> Result<Vec<(Timestamp, Position)>, StoreError> {
        let key = (place.clone(), actor.clone());
        let mut all = self.committed.joins(place, actor)?;
        for o in self.layers() {
            if let Some(js) = o.joins.get(&key) {
                all.extend(js.iter().copied());
            }
        }
        all.retain(|(_, p)| !self.is_retracted(*p));
        Ok(all)
    }

    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError> {
        Ok(self.layers().iter().any(|o| o.new_actor_set.contains(actor)) || self.committed.actor_known(actor)?)
    }

    fn place_known(&self, place: &PlaceId) -> Result<bool, StoreError> {
        Ok(self.layers().iter().any(|o| o.new_place_set.contains(place)) || self.committed.place_known(place)?)
    }
}

impl<C: Committed> LogView for View<'_, C> {
    type Error = StoreError;

    fn place_registered(&self, place: &PlaceId) -> Result<bool, StoreError> {
        let layered = self.layers().iter().any(|o| {
            o.registrations
                .get(place)
                .is_some_and(|ps| ps.iter().any(|p| !self.is_retracted(*p)))
        });
        Ok(layered
            || self
                .committed
                .registrations(place)?
                .iter()
                .any(|p| !self.is_retracted(*p)))
    }

    fn actor_joined_by(&self, place: &PlaceId, actor: &ActorId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.joins(place, actor)?.iter().any(|(t, _)| *t <= at))
    }

    fn actor_known(&self, actor: &ActorId) -> Result<bool, StoreError> {
        View::actor_known(self, actor)
    }

    fn event(&self, id: &EventId) -> Result<Option<EventSummary>, StoreError> {
        Ok(self.lookup_id(id)?.map(|r| EventSummary {
            event_type: r.event.event_type(),
            place: r.event.place.clone(),
        }))
    }
}

/// Plans one request on top of `group`, and on success folds it into `group`.
///
/// Every event is checked even after a rejection, so the caller gets every problem at
/// once. `recorded_at` is the time stamped on every event the request appends.
pub(crate) fn plan_request<C: Committed>(
    committed: &C,
    group: &mut Overlay,
    request: AppendRequest,
    recorded_at: Timestamp,
) -> Result<AppendOutcome, AppendError> {
    let mut req = Overlay::starting_at(group.next);
    let mut outcomes = Vec::with_capacity(request.events.len());
    let mut rejections = Vec::new();
    let mut forbidden = Vec::new();

    let versions_before: Vec<(Stream, Version, Version)> = {
        let view = View {
            committed,
            group,
            req: &req,
        };
        request
            .expected
            .iter()
            .map(|(s, expected)| Ok((s.clone(), *expected, view.version(s)?)))
            .collect::<Result<_, StoreError>>()?
    };

    for (index, mut event) in request.events.into_iter().enumerate() {
        let reject = |rejections: &mut Vec<Rejection>, event_id: Option<&EventId>, error: FieldError| {
            rejections.push(Rejection {
                location: Location::Index(index),
                event_id: event_id.map(|i| i.to_string()),
                error,
            })
        };
        let view = View {
            committed,
            group,
            req: &req,
        };
        // Authorised first, against the log as planned, so that nothing else (whether an
        // id is taken, what a target is) is told about places the writer may not see.
        if let Some(allowed) = &request.places {
            if let Some(why) = refused_place(&view, &event, allowed)? {
                forbidden.push(Rejection {
                    location: Location::Index(index),
                    event_id: event.id.as_ref().map(|i| i.to_string()),
                    error: why,
                });
                continue;
            }
        }
        if let Some(id) = &event.id {
            if let Some(existing) = view.lookup_id(id)? {
                if existing.event == event {
                    outcomes.push(EventOutcome::AlreadyPresent(existing.position));
                } else {
                    // Only that it is taken: the event holding it may be of a place the
                    // writer may not read.
                    let msg = format!("id `{id}` is already used by a different event");
                    reject(&mut rejections, Some(id), FieldError::new("id", msg));
                }
                continue;
            }
        }
        if let Err(e) = check_against_log(&event, &view)? {
            reject(&mut rejections, event.id.as_ref(), e);
            continue;
        }
        let stream = match (&event.place, &event.body) {
            (Some(p), _) => Stream::Place(p.clone()),
            (None, EventBody::EventRetracted { target, .. }) => view
                .lookup_id(target)?
                .and_then(|t| t.event.place)
                .map(Stream::Place)
                .unwrap_or(Stream::Unplaced),
            (None, _) => Stream::Unplaced,
        };
        let position = Position(req.next);
        if event.id.is_none() {
            event.id = Some(assign_id(&view, position)?);
        }
        let id = event.id.clone().expect("just assigned");
        let version = view.version(&stream)? + 1;

        // Effects on what later events of the batch see.
        match &event.body {
            EventBody::PlaceRegistered { .. } => {
                let place = event.place.clone().expect("place_registered has a place");
                if !view.place_known(&place)? {
                    req.new_places.push((place.clone(), position));
                    req.new_place_set.insert(place.clone());
                }
                req.registrations.entry(place).or_default().push(position);
            }
            EventBody::ActorJoined { actor, .. } => {
                let place = event.place.clone().expect("actor_joined has a place");
                if !view.actor_known(actor)? {
                    req.new_actors.push((actor.clone(), position));
                    req.new_actor_set.insert(actor.clone());
                }
                req.joins
                    .entry((place, actor.clone()))
                    .or_default()
                    .push((event.occurred_at, position));
            }
            EventBody::EventRetracted { target, .. } => {
                if let Some(t) = view.lookup_id(target)? {
                    if !view.is_retracted(t.position) {
                        match &t.event.body {
                            EventBody::ActorJoined { actor, .. } => {
                                let place = t.event.place.clone().expect("actor_joined has a place");
                                req.removed_joins
                                    .push((place, actor.clone(), t.event.occurred_at, t.position));
                            }
                            EventBody::PlaceRegistered { .. } => {
                                let place = t.event.place.clone().expect("place_registered has a place");
                                req.removed_registrations.push((place, t.position));
                            }
                            _ => {}
                        }
                    }
                    req.retracted.insert(t.position);
                }
            }
            _ => {}
        }
        req.ids.insert(id, req.events.len());
        req.versions.insert(stream.clone(), version);
        req.stream_positions.entry(stream.clone()).or_default().push(position);
        req.events.push(RecordedEvent {
            position,
            recorded_at,
            stream,
            event,
        });
        req.next += 1;
        outcomes.push(EventOutcome::Appended(position));
    }

    if !forbidden.is_empty() {
        return Err(AppendError::Forbidden(forbidden));
    }
    if !rejections.is_empty() {
        return Err(AppendError::Rejected(rejections));
    }
    // A retry of a batch that is already wholly in the log succeeds whatever the
    // versions: its own first attempt moved them.
    if !req.is_empty() {
        if let Some((stream, expected, actual)) = versions_before.into_iter().find(|(_, e, a)| e != a) {
            return Err(AppendError::VersionConflict {
                stream,
                expected,
                actual,
            });
        }
    }
    group.absorb(req);
    let head = Position(group.next - 1);
    Ok(AppendOutcome { events: outcomes, head })
}

/// Checks events as an append would, on top of the committed log alone, writing
/// nothing: every rejection (none when the batch would be accepted now).
pub(crate) fn check<C: Committed>(
    committed: &C,
    events: Vec<shiftlog_model::Event>,
    now: Timestamp,
) -> Result<Vec<Rejection>, StoreError> {
    let mut scratch = Overlay::starting_at(committed.head() + 1);
    match plan_request(committed, &mut scratch, AppendRequest::new(events), now) {
        Ok(_) | Err(AppendError::VersionConflict { .. }) => Ok(Vec::new()),
        Err(AppendError::Rejected(r) | AppendError::Forbidden(r)) => Ok(r),
        Err(AppendError::Store(e)) => Err(e),
    }
}

/// Why `event` may not be written by a writer restricted to `allowed` places, if it may
/// not: its place is another, or it belongs to no place. A retraction belongs to its
/// target's place as the log has it now; one whose target is unknown is left to the
/// format's rules (which refuse it).
fn refused_place<C: Committed>(
    view: &View<'_, C>,
    event: &shiftlog_model::Event,
    allowed: &std::collections::BTreeSet<PlaceId>,
) -> Result<Option<FieldError>, StoreError> {
    let (field, place) = match (&event.place, &event.body) {
        (Some(p), _) => ("place", Some(p.clone())),
        (None, EventBody::EventRetracted { target, .. }) => match view.lookup_id(target)? {
            Some(t) => ("target", t.event.place),
            None => return Ok(None),
        },
        (None, _) => ("type", None),
    };
    Ok(match place {
        Some(p) if allowed.contains(&p) => None,
        Some(p) => Some(FieldError::new(
            field,
            format!("this writer may not write to place `{p}`"),
        )),
        None => Some(FieldError::new(
            field,
            format!(
                "`{}` belongs to no place: only a writer not restricted to places (an admin) may append it",
                event.event_type().as_str()
            ),
        )),
    })
}

/// Plans `request` on top of the committed log alone, as an append would, and says what
/// it would write; nothing is written.
pub(crate) fn dry_run<C: Committed>(
    committed: &C,
    request: AppendRequest,
    now: Timestamp,
) -> Result<crate::types::Planned, AppendError> {
    use crate::types::{Planned, PlannedEvent};
    let mut scratch = Overlay::starting_at(committed.head() + 1);
    let outcome = plan_request(committed, &mut scratch, request, now)?;
    let mut versions: HashMap<Stream, Version> = HashMap::new();
    let mut appended = scratch.events.iter();
    let mut events = Vec::with_capacity(outcome.events.len());
    for o in outcome.events {
        match o {
            EventOutcome::AlreadyPresent(p) => events.push(PlannedEvent::AlreadyPresent(p)),
            EventOutcome::Appended(position) => {
                let r = appended.next().ok_or_else(|| {
                    StoreError::Corrupt("a planned append has no planned event (a planner bug)".into())
                })?;
                let version = match versions.get_mut(&r.stream) {
                    Some(v) => {
                        *v += 1;
                        *v
                    }
                    None => {
                        let v = committed.version(&r.stream)? + 1;
                        versions.insert(r.stream.clone(), v);
                        v
                    }
                };
                events.push(PlannedEvent::Append {
                    id: r.id().clone(),
                    stream: r.stream.clone(),
                    version,
                    position,
                });
            }
        }
    }
    Ok(Planned {
        events,
        head: outcome.head,
    })
}

/// An id for an event that came without one: `auto-<position>`, or with a suffix in the
/// unlikely case that a producer already used that id.
fn assign_id<C: Committed>(view: &View<'_, C>, position: Position) -> Result<EventId, StoreError> {
    let mut n = 0u32;
    loop {
        let candidate = if n == 0 {
            format!("auto-{position}")
        } else {
            format!("auto-{position}-{n}")
        };
        let id = EventId::new(candidate).expect("generated ids are valid");
        if !view.id_taken(&id)? {
            return Ok(id);
        }
        n += 1;
    }
}
