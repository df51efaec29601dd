//! The log as embedders and the other crates see it.

use crate::error::{AppendError, StoreError};
use crate::types::{AppendOutcome, AppendRequest, LogStats, Position, RecordedEvent, Stream, Version};
use async_trait::async_trait;
use shiftlog_model::{Event, EventId, PlaceId, Rejection, Timestamp};
use std::sync::Arc;

/// Where recorded times come from; tests substitute a fixed clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// How much of each event a read returns.
///
/// Answers that need no personal data (metrics, evolution series) read
/// [`Detail::WithoutPersonalData`]: a store that seals personal data then skips opening
/// it, which is most of the cost of reading such records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Detail {
    /// Events as recorded (personal data that was erased stays absent).
    #[default]
    Full,
    /// Events with their personal data (`shiftlog_model::personal`) left out, as if it had
    /// been erased.
    WithoutPersonalData,
}

impl Detail {
    /// Takes personal data out of `events` when this detail leaves it out.
    pub fn apply(self, mut events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
        if self == Detail::WithoutPersonalData {
            for r in &mut events {
                r.event.take_personal_data();
            }
        }
        events
    }
}

/// An append-only log of inquiry events: the single source of truth.
///
/// Guarantees every implementation keeps:
/// - positions are dense: the first event is 1, each next one the previous plus one;
/// - an append is atomic: all of its events are written, or none (and then the log is
///   exactly as it was);
/// - an event whose `id` is already in the log with the same body is not written again
///   (its outcome is [`crate::EventOutcome::AlreadyPresent`]); the same id with a different
///   body rejects the batch;
/// - `recorded_at` never decreases along the log, so "as known at time R" is a prefix;
/// - reads see only whole, committed appends.
#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug {
    /// Validates and appends a batch, atomically.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError>;

    /// Checks a batch as [`EventLog::append`] would, without writing anything; returns
    /// every rejection (empty when the batch would be accepted now).
    async fn check(&self, events: Vec<Event>) -> Result<Vec<Rejection>, StoreError>;

    /// Plans `request` exactly as [`EventLog::append`] would now (the same rules, places,
    /// ids, versions and conflicts), and says what it would write; writes nothing, ever.
    async fn dry_run(&self, request: AppendRequest) -> Result<crate::types::Planned, AppendError>;

    /// Up to `limit` events from position `from` on, in position order.
    async fn read(&self, from: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of one stream from position `from` on, in position order.
    async fn read_stream(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`EventLog::read`], with as much of each event as `detail` asks for. With
    /// [`Detail::WithoutPersonalData`] a log may skip opening sealed personal data (the
    /// default implementation reads everything, then takes it out).
    async fn read_with(&self, from: Position, limit: usize, detail: Detail) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(detail.apply(self.read(from, limit).await?))
    }

    /// The events of `places` among the `limit` positions from `from` on, in position
    /// order, with as much of each as `detail` asks for: one pass over that stretch of the
    /// log for many places at once, where [`EventLog::read_stream`] would visit each
    /// place's events one by one. A log may skip decoding the other places' records.
    async fn read_places_with(
        &self,
        places: &std::collections::BTreeSet<PlaceId>,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.read_with(from, limit, detail).await?;
        events.retain(|r| matches!(&r.stream, Stream::Place(p) if places.contains(p)));
        Ok(events)
    }

    /// [`EventLog::read_stream`], with as much of each event as `detail` asks for.
    async fn read_stream_with(
        &self,
        stream: &Stream,
        from: Position,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(detail.apply(self.read_stream(stream, from, limit).await?))
    }

    /// The event with this id.
    async fn event(&self, id: &EventId) -> Result<Option<RecordedEvent>, StoreError>;

    /// The last committed position (0 when the log is empty).
    fn head(&self) -> Position;

    /// Follows the head: the receiver sees the last committed position each time it
    /// moves (intermediate values may be skipped; the log holds every event).
    fn watch_head(&self) -> tokio::sync::watch::Receiver<Position>;

    /// A stream's version: how many events have been appended to it.
    async fn version(&self, stream: &Stream) -> Result<Version, StoreError>;

    /// Counts for `shiftlog stats`.
    async fn stats(&self) -> Result<LogStats, StoreError>;

    /// Every place ever registered, in id order.
    async fn places(&self) -> Result<Vec<PlaceId>, StoreError>;

    /// The events at these positions (ascending, each at most the head), in that order.
    async fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The room beside the log for rebuildable derived data (see [`crate::DerivedStore`]).
    fn derived(&self) -> std::sync::Arc<dyn crate::DerivedStore>;
}
