//! The spec's conformance vectors (tests/data/conformance.json, copied from
//! shared/spec): every log accepts the cases' logs and rejects every rejection input at
//! the right index and field, leaving the log exactly as it was.

mod common;

use common::*;
use shiftlog_model::Location;
use shiftlog_store::{AppendError, AppendRequest, EventLog, Position, Stream};

async fn run_rejections(make: &dyn Fn() -> Box<dyn EventLog>) {
    let spec = conformance();
    let cases = spec["rejections"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let log = make();
        let first = events(case["accepted_first"].as_array().unwrap());
        log.append(AppendRequest::new(first))
            .await
            .unwrap_or_else(|e| panic!("{name}: accepted_first: {e}"));
        let before = read_all(log.as_ref()).await;
        let place = Stream::Place("northbrook".parse().unwrap());
        let version_before = log.version(&place).await.unwrap();

        // Inputs are values, not parsed events: a bad one may fail to parse at all.
        let input = case["input"].as_array().unwrap();
        let index = case["rejected_index"].as_u64().unwrap() as usize;
        let field = case["field"].as_str();
        let mut parsed = Vec::new();
        let mut parse_error = None;
        for (i, v) in input.iter().enumerate() {
            match shiftlog_model::Event::from_json(v) {
                Ok(e) => parsed.push(e),
                Err(e) => parse_error = parse_error.or(Some((i, e))),
            }
        }
        match parse_error {
            Some((i, e)) => {
                assert_eq!(i, index, "{name}: parse rejected the wrong event");
                assert_eq!(e.field.as_deref(), field, "{name}: {e}");
            }
            None => match log.append(AppendRequest::new(parsed)).await {
                Err(AppendError::Rejected(rs)) => {
                    assert_eq!(rs.len(), 1, "{name}: {rs:?}");
                    assert_eq!(rs[0].location, Location::Index(index), "{name}");
                    assert_eq!(rs[0].field(), field, "{name}: {}", rs[0]);
                    let id = input[index]["id"].as_str().map(String::from);
                    assert_eq!(rs[0].event_id, id, "{name}: the error names the event");
                }
                other => panic!("{name}: expected a rejection, got {other:?}"),
            },
        }
        assert_eq!(read_all(log.as_ref()).await, before, "{name}: the log is unchanged");
        assert_eq!(
            log.version(&place).await.unwrap(),
            version_before,
            "{name}: the version is unchanged"
        );
    }
}

#[tokio::test]
async fn memory_log_rejects_every_conformance_input() {
    run_rejections(&|| Box::new(memory_log())).await;
}

#[tokio::test]
async fn sled_log_rejects_every_conformance_input() {
    let dirs = std::sync::Mutex::new(Vec::new());
    run_rejections(&|| {
        let d = tempfile::tempdir().unwrap();
        let log = sled_log(d.path());
        dirs.lock().unwrap().push(d);
        Box::new(log)
    })
    .await;
}

#[tokio::test]
async fn every_conformance_log_is_accepted_with_dense_positions() {
    for case in conformance()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let log_events = events(case["log"].as_array().unwrap());
        let n = log_events.len() as u64;
        let dir = tempfile::tempdir().unwrap();
        let log = sled_log(dir.path());
        let out = log
            .append(AppendRequest::new(log_events.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.head, Position(n), "{name}");
        let back: Vec<_> = read_all(&log).await.into_iter().map(|r| r.event).collect();
        assert_eq!(back, log_events, "{name}: read back as appended");
    }
}

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
