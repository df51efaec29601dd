//! Catch-up subscriptions: every event from a position on, exactly once and in order,
//! then live.

use shiftlog_store::{EventLog, Position, RecordedEvent, StoreError};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::watch;

/// How many events a subscription reads from the log at a time.
const PAGE: usize = 1024;

/// A catch-up subscription (see [`crate::Engine::subscribe`]).
///
/// It reads the log itself, a page at a time, and between pages waits only for the head to
/// move. Writers never wait for it and nothing is queued for it: a subscriber that falls
/// behind simply reads further back in the log when it asks for more. So it cannot miss
/// an event or see one twice, and the hand-over from catching up to following live is
/// just the point where it stops finding events already there.
#[derive(Debug)]
pub struct Subscription {
    log: Arc<dyn EventLog>,
    head: watch::Receiver<Position>,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
    page: usize,
}

impl Subscription {
    pub(crate) fn new(log: Arc<dyn EventLog>, from: Position) -> Subscription {
        Subscription {
            head: log.watch_head(),
            log,
            next: from.0.max(1),
            buffer: VecDeque::new(),
            page: PAGE,
        }
    }

    /// Reads at most `events` from the log at a time (default 1,024): what a reader that
    /// stops reading holds in memory at most.
    pub fn with_page(mut self, events: usize) -> Subscription {
        self.page = events.max(1);
        self
    }

    /// The next event, waiting for one to be appended if the subscription has caught up.
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            let head = self.head.borrow_and_update().0;
            if head >= self.next {
                let page = self.log.read(Position(self.next), self.page).await?;
                if let Some(last) = page.last() {
                    self.next = last.position.0 + 1;
                }
                self.buffer.extend(page);
                continue;
            }
            if self.head.changed().await.is_err() {
                // The log is gone: nothing more will come.
                return Err(StoreError::Closed);
            }
        }
    }

    /// The next event if one is already in the log, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<RecordedEvent>, StoreError> {
        if self.buffer.is_empty() && self.log.head().0 < self.next {
            return Ok(None);
        }
        self.next().await.map(Some)
    }

    /// The position the next event delivered will have.
    pub fn next_position(&self) -> Position {
        self.buffer.front().map_or(Position(self.next), |e| e.position)
    }

    /// This subscription as a [`futures_util::Stream`] (for servers and combinators).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |s| async move {
            let mut s = s?;
            match s.next().await {
                Ok(e) => Some((Ok(e), Some(s))),
                // An error ends the stream after reporting it.
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}
