//! Appending user input: every rejection reported against the input's own lines.

use shiftlog_model::{LocatedEvent, Location, Rejection};
use shiftlog_store::{AppendError, AppendOutcome, AppendRequest, EventLog, StoreError, Stream, Version};

/// Why an input was not appended. In every case nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Some events were rejected; all of them are listed, in input order, with their
    /// lines (or array indices).
    #[error("{} events were rejected; nothing was written", .0.len())]
    Rejected(Vec<Rejection>),
    /// Another writer got to a stream first.
    #[error("version conflict on {stream}: expected {expected}, found {actual}; nothing was written")]
    VersionConflict {
        /// The stream.
        stream: Stream,
        /// What the caller expected.
        expected: Version,
        /// What it was.
        actual: Version,
    },
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn relocate(mut rs: Vec<Rejection>, locations: &[Location]) -> Vec<Rejection> {
    for r in &mut rs {
        if let Location::Index(i) = r.location {
            if let Some(l) = locations.get(i) {
                r.location = *l;
            }
        }
    }
    rs
}

pub(crate) async fn ingest(
    log: &dyn EventLog,
    events: Vec<LocatedEvent>,
    mut rejections: Vec<Rejection>,
    expected: &[(Stream, Version)],
) -> Result<AppendOutcome, IngestError> {
    let locations: Vec<Location> = events.iter().map(|e| e.location).collect();
    let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
    if !rejections.is_empty() {
        // Report the log's verdict on the rest too, so one run shows every problem.
        rejections.extend(relocate(log.check(events).await?, &locations));
        rejections.sort_by_key(|r| r.location);
        return Err(IngestError::Rejected(rejections));
    }
    let request = AppendRequest {
        events,
        expected: expected.to_vec(),
    };
    log.append(request).await.map_err(|e| match e {
        AppendError::Rejected(rs) => IngestError::Rejected(relocate(rs, &locations)),
        AppendError::VersionConflict {
            stream,
            expected,
            actual,
        } => IngestError::VersionConflict {
            stream,
            expected,
            actual,
        },
        AppendError::Store(s) => IngestError::Store(s),
        other => IngestError::Store(StoreError::Corrupt(other.to_string())),
    })
}
