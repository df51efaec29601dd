//! Appending user input: every rejection reported against the input's own lines.

use shiftlog_model::{LocatedEvent, Location, PlaceId, Rejection};
use shiftlog_store::{AppendError, AppendOutcome, AppendRequest, EventLog, Stream, Version};
use std::collections::BTreeSet;

/// Gives rejections located by batch index the input's own locations (lines or indices).
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
    places: Option<BTreeSet<PlaceId>>,
) -> Result<AppendOutcome, AppendError> {
    let locations: Vec<Location> = events.iter().map(|e| e.location).collect();
    let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
    if !rejections.is_empty() {
        // Report the log's verdict on the rest too, so one run shows every problem; but
        // not to a writer restricted to places, whose events may name other places' ids.
        if places.is_none() {
            rejections.extend(relocate(log.check(events).await?, &locations));
        }
        rejections.sort_by_key(|r| r.location);
        return Err(AppendError::Rejected(rejections));
    }
    let request = AppendRequest {
        events,
        expected: expected.to_vec(),
        places,
    };
    match log.append(request).await {
        Err(AppendError::Rejected(rs)) => Err(AppendError::Rejected(relocate(rs, &locations))),
        Err(AppendError::Forbidden(rs)) => Err(AppendError::Forbidden(relocate(rs, &locations))),
        other => other,
    }
}
