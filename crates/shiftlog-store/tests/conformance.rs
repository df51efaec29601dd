//! The spec's conformance vectors (tests/data/conformance.json, copied from
//! shared/spec) beyond what every backend runs in `backends.rs` (acceptance, rejection at
//! the right index and field, the log unchanged).

mod common;

use common::*;
use shiftlog_store::{AppendRequest, EventLog, Position, Stream};

#[tokio::test]
async fn retraction_without_place_belongs_to_its_targets_place() {
    let case = &conformance()["cases"][2];
    assert_eq!(case["name"], "retraction counts only once known");
    let log = memory_log();
    log.append(AppendRequest::new(events(case["log"].as_array().unwrap())))
        .await
        .unwrap();
    let place = Stream::Place("northbrook".parse().unwrap());
    assert_eq!(
        log.version(&place).await.unwrap(),
        7,
        "the retraction counts in the place's version"
    );
    let stream = log.read_stream(&place, Position(1), 100).await.unwrap();
    assert_eq!(stream.last().unwrap().id().as_str(), "x1");
    assert_eq!(log.version(&Stream::Unplaced).await.unwrap(), 0);
}
