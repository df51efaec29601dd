//! Many writers at once: no gap, no duplicate, every acknowledged event present where it
//! was acknowledged; optimistic concurrency lets exactly one writer win each version.

mod common;

use common::*;
use serde_json::json;
use shiftlog_store::{AppendError, AppendRequest, EventLog, Position, SledLog, Stream};
use std::collections::HashMap;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_leave_no_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SledLog::open(dir.path()).unwrap());
    let setup: Vec<_> = (0..4)
        .map(|p| json!({"type": "place_registered", "id": format!("p{p}"), "occurred_at": "2023-01-01", "place": format!("place-{p}"), "name": "P"}))
        .collect();
    log.append(AppendRequest::new(events(&setup))).await.unwrap();

    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for b in 0..60 {
                    let n = 1 + (t + b) % 3;
                    let batch: Vec<_> = (0..n)
                        .map(|i| json!({"type": "learning_recorded", "id": format!("t{t}-b{b}-{i}"), "occurred_at": "2023-02-01",
                            "place": format!("place-{}", (t + i) % 4), "text": "x"}))
                        .collect();
                    let out = log.append(AppendRequest::new(events(&batch))).await.unwrap();
                    assert_eq!(out.appended(), n);
                    for (i, o) in out.events.iter().enumerate() {
                        acked.push((format!("t{t}-b{b}-{i}"), o.position()));
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = HashMap::new();
    for t in tasks {
        for (id, pos) in t.await.unwrap() {
            assert!(acked.insert(id, pos).is_none());
        }
    }
    let all = read_all(log.as_ref()).await;
    assert_eq!(
        all.len(),
        4 + acked.len(),
        "exactly the acknowledged events, no duplicates"
    );
    for (id, pos) in &acked {
        assert_eq!(all[(pos.0 - 1) as usize].id().as_str(), id, "acknowledged at {pos}");
    }
    // Each batch is contiguous in the log: batches are never interleaved.
    for w in all.windows(2) {
        let (a, b) = (w[0].id().as_str(), w[1].id().as_str());
        if let (Some((ab, ai)), Some((bb, bi))) = (a.rsplit_once('-'), b.rsplit_once('-')) {
            if bi != "0" && bb.starts_with('t') {
                assert_eq!(ab, bb, "batch {bb} was interleaved");
                assert_eq!(ai.parse::<u32>().unwrap() + 1, bi.parse::<u32>().unwrap());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimistic_concurrency_lets_one_writer_win_each_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SledLog::open(dir.path()).unwrap());
    let reg =
        json!({"type": "place_registered", "id": "p", "occurred_at": "2023-01-01", "place": "northbrook", "name": "N"});
    log.append(AppendRequest::new(events(&[reg]))).await.unwrap();
    let place = Stream::Place("northbrook".parse().unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (log, place) = (log.clone(), place.clone());
            tokio::spawn(async move {
                let (mut wins, mut conflicts) = (0, 0);
                for i in 0..40 {
                    let v = log.version(&place).await.unwrap();
                    let e = json!({"type": "learning_recorded", "id": format!("t{t}-{i}"), "occurred_at": "2023-02-01", "place": "northbrook", "text": "x"});
                    match log.append(AppendRequest::new(events(&[e])).expect(place.clone(), v)).await {
                        Ok(_) => wins += 1,
                        Err(AppendError::VersionConflict { expected, actual, .. }) => {
                            assert!(actual > expected);
                            conflicts += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                (wins, conflicts)
            })
        })
        .collect();
    let (mut wins, mut conflicts) = (0, 0);
    for t in tasks {
        let (w, c) = t.await.unwrap();
        wins += w;
        conflicts += c;
    }
    assert_eq!(wins + conflicts, 320);
    assert_eq!(
        log.version(&place).await.unwrap(),
        1 + wins as u64,
        "every win, and only wins, moved the version"
    );
    assert_eq!(log.head(), Position(1 + wins as u64));
}

#[tokio::test]
async fn a_retried_append_succeeds_even_though_its_first_attempt_moved_the_version() {
    let log = memory_log();
    let place = Stream::Place("northbrook".parse().unwrap());
    let batch = events(&[
        json!({"type": "place_registered", "id": "p", "occurred_at": "2023-01-01", "place": "northbrook", "name": "N"}),
    ]);
    let first = log
        .append(AppendRequest::new(batch.clone()).expect(place.clone(), 0))
        .await
        .unwrap();
    let retry = log
        .append(AppendRequest::new(batch).expect(place.clone(), 0))
        .await
        .unwrap();
    assert_eq!(first.appended(), 1);
    assert_eq!(retry.already_present(), 1);
}
