//! Appending user input: every rejection reported against the input's own lines.

use shiftlog_model::{Event, LocatedEvent, Location, PlaceId, Rejection};
use shiftlog_store::{AppendError, AppendOutcome, AppendRequest, EventLog, Planned, Stream, Version};
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

fn relocate_error(e: AppendError, locations: &[Location]) -> AppendError {
    match e {
        AppendError::Rejected(rs) => AppendError::Rejected(relocate(rs, locations)),
        AppendError::Forbidden(rs) => AppendError::Forbidden(relocate(rs, locations)),
        other => other,
    }
}

/// The request for `events`, or, when the input already has rejections, every problem at
/// once (the log's verdict on the rest too, except for a writer restricted to places,
/// whose events may name other places' ids).
async fn request(
    log: &dyn EventLog,
    events: Vec<LocatedEvent>,
    mut rejections: Vec<Rejection>,
    expected: &[(Stream, Version)],
    places: Option<BTreeSet<PlaceId>>,
) -> Result<(AppendRequest, Vec<Location>), AppendError> {
    let locations: Vec<Location> = events.iter().map(|e| e.location).collect();
    let events: Vec<Event> = events.into_iter().map(|e| e.event).collect();
    if !rejections.is_empty() {
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
    Ok((request, locations))
}

pub(crate) async fn ingest(
    log: &dyn EventLog,
    events: Vec<LocatedEvent>,
    rejections: Vec<Rejection>,
    expected: &[(Stream, Version)],
    places: Option<BTreeSet<PlaceId>>,
) -> Result<AppendOutcome, AppendError> {
    let (request, locations) = request(log, events, rejections, expected, places).await?;
    log.append(request).await.map_err(|e| relocate_error(e, &locations))
}

pub(crate) async fn dry_run(
    log: &dyn EventLog,
    events: Vec<LocatedEvent>,
    rejections: Vec<Rejection>,
    expected: &[(Stream, Version)],
    places: Option<BTreeSet<PlaceId>>,
) -> Result<Planned, AppendError> {
    let (request, locations) = request(log, events, rejections, expected, places).await?;
    log.dry_run(request).await.map_err(|e| relocate_error(e, &locations))
}
