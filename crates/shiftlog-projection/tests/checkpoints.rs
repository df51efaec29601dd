//! Checkpointed snapshots equal a naive replay: with checkpoints present, after late
//! events and retractions invalidate some of them, and after reopening the store.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;
use shiftlog_model::{Event, Timestamp};
use shiftlog_projection::{compute, KnownAt, Projector};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog, Position, SledLog};
use std::sync::Arc;

async fn check(projector: &Projector, reference: &MemoryLog, days: &[u32]) {
    let all = reference.read(Position(1), usize::MAX).await.unwrap();
    let place = "x".parse().unwrap();
    for &day in days {
        let at: Timestamp = date(day).parse().unwrap();
        let (state, known) = projector.state_at(&place, at).await.unwrap();
        assert_eq!(known, all.len() as u64);
        assert_eq!(compute(&state).0, compute(&naive(&all, at, known)).0, "at {at}");
        assert_eq!(state, naive(&all, at, known), "the whole state at {at}");
        // Earlier views of the log, from whatever checkpoints they may use.
        for k in [
            1,
            all.len() as u64 / 3,
            all.len() as u64 / 2,
            all.len() as u64 - 1,
            all.len() as u64 * 9 / 10,
        ] {
            let (state, got) = projector.state_known(&place, at, KnownAt::Position(k)).await.unwrap();
            assert_eq!(got, k);
            assert_eq!(state, naive(&all, at, k), "at {at} as known at {k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn checkpointed_snapshots_equal_a_naive_replay(
        values in log_values(),
        cut in 0.2f64..0.8,
        days in prop::collection::vec(0u32..220, 1..5),
        every in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let reference = MemoryLog::new();
            let split = ((values.len() as f64) * cut) as usize;
            {
                let sled: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path()).unwrap());
                let projector = Projector::new(sled.clone()).with_checkpoint_every(every);
                append_each(sled.as_ref(), &values[..split]).await;
                append_each(&reference, &values[..split]).await;
                check(&projector, &reference, &days).await;
                // Checkpoints now exist; the rest of the log (late events, retractions)
                // must invalidate the right ones.
                check(&projector, &reference, &[219]).await;
                append_each(sled.as_ref(), &values[split..]).await;
                append_each(&reference, &values[split..]).await;
                check(&projector, &reference, &days).await;
            }
            // Reopened: the derived data is still there and still right.
            let sled: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path()).unwrap());
            let projector = Projector::new(sled).with_checkpoint_every(every);
            check(&projector, &reference, &days).await;
            check(&projector, &reference, &[0, 100, 219]).await;
        });
    }
}

#[tokio::test]
async fn a_late_event_invalidates_only_the_checkpoints_after_it() {
    let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
    let mut values =
        vec![json!({"type": "place_registered", "id": "p", "occurred_at": date(0), "place": "x", "name": "X"})];
    values.push(
        json!({"type": "actor_joined", "id": "a", "occurred_at": date(0), "place": "x", "actor": "a", "kind": "group"}),
    );
    for day in 1..=40 {
        values.push(json!({"type": "learning_recorded", "id": format!("l{day}"), "occurred_at": date(day), "place": "x", "text": "t"}));
    }
    let events: Vec<Event> = values.iter().map(|v| Event::from_json(v).unwrap()).collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    let projector = Projector::new(log.clone()).with_checkpoint_every(10);
    let place = "x".parse().unwrap();
    projector.state_at(&place, date(40).parse().unwrap()).await.unwrap();
    let before = projector.checkpoints(&place).await.unwrap();
    assert_eq!(before.len(), 4, "one per 10 of the 42 events");
    // Recorded now, happened on day 25: the checkpoints after day 25 go, the rest stay.
    let late =
        json!({"type": "learning_recorded", "id": "late", "occurred_at": date(25), "place": "x", "text": "late"});
    log.append(AppendRequest::new(vec![Event::from_json(&late).unwrap()]))
        .await
        .unwrap();
    let (state, _) = projector.state_at(&place, date(24).parse().unwrap()).await.unwrap();
    assert_eq!(state.learning_records, 24);
    let kept = projector.checkpoints(&place).await.unwrap();
    let cutoff: Timestamp = date(25).parse().unwrap();
    assert!(kept.iter().all(|(t, _)| *t < cutoff));
    assert_eq!(
        kept,
        before.into_iter().filter(|(t, _)| *t < cutoff).collect::<Vec<_>>()
    );
    let (state, _) = projector.state_at(&place, date(40).parse().unwrap()).await.unwrap();
    assert_eq!(state.learning_records, 41, "the late record counts");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn checkpointed_diffs_equal_diffs_of_full_folds(
        values in log_values(),
        (d1, d2) in (0u32..220, 0u32..220),
        share in 0.3f64..=1.0,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
            append_each(log.as_ref(), &values).await;
            let projector = Projector::new(log.clone()).with_checkpoint_every(2);
            let place = "x".parse().unwrap();
            let (from, to): (Timestamp, Timestamp) = (date(d1.min(d2)).parse().unwrap(), date(d1.max(d2)).parse().unwrap());
            // Checkpoints first, so the diff has some to start from.
            projector.state_at(&place, date(219).parse().unwrap()).await.unwrap();
            let k = (log.head().0 as f64 * share) as u64;
            for known in [KnownAt::Everything, KnownAt::Position(k)] {
                let want = shiftlog_projection::history(log.as_ref(), &place, known).await.unwrap().diff(from, to);
                let got = projector.diff(&place, from, to, known).await.unwrap();
                assert_eq!(got, want, "diff {from} -> {to} known {known:?}");
            }
        });
    }
}

#[tokio::test]
async fn a_retracted_power_shift_leaves_the_diff_once_the_retraction_is_known() {
    let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
    let input = r#"
{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
{"type":"actor_joined","id":"a","occurred_at":"2023-01-01","place":"x","actor":"a","kind":"group","power":{"budget":1}}
{"type":"actor_joined","id":"b","occurred_at":"2023-01-01","place":"x","actor":"b","kind":"group"}
{"type":"power_shifted","id":"s","occurred_at":"2023-02-01","place":"x","from":"a","to":"b","domain":"budget","amount":0.5}
{"type":"event_retracted","id":"r","occurred_at":"2023-03-01","target":"s","reason":"recorded in error"}
"#;
    let events = shiftlog_model::parse_input(input)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    let projector = Projector::new(log.clone()).with_checkpoint_every(1);
    let place = "x".parse().unwrap();
    let (from, to) = ("2023-01-15".parse().unwrap(), "2023-04-01".parse().unwrap());
    let now = projector.diff(&place, from, to, KnownAt::Everything).await.unwrap();
    assert!(now.power_shifts.is_empty() && now.power_changes.is_empty(), "{now:?}");
    let then = projector.diff(&place, from, to, KnownAt::Position(4)).await.unwrap();
    assert_eq!(
        then.power_shifts.len(),
        1,
        "before the retraction was recorded, the shift counted"
    );
    assert_eq!(then.power_changes["budget"].len(), 2);
}

#[tokio::test]
async fn the_first_of_two_retractions_is_the_one_that_counts() {
    let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
    let input = r#"
{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
{"type":"actor_joined","id":"a","occurred_at":"2023-01-02","place":"x","actor":"a","kind":"group"}
{"type":"event_retracted","id":"r1","occurred_at":"2023-02-01","target":"a","reason":"wrong place"}
{"type":"event_retracted","id":"r2","occurred_at":"2023-02-02","target":"a","reason":"said twice"}
"#;
    let events = shiftlog_model::parse_input(input)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    let projector = Projector::new(log.clone()).with_checkpoint_every(1);
    let place = "x".parse().unwrap();
    let at: Timestamp = "2023-03-01".parse().unwrap();
    for (k, actors) in [(2, 1), (3, 0), (4, 0)] {
        let (state, _) = projector.state_known(&place, at, KnownAt::Position(k)).await.unwrap();
        assert_eq!(state.actors.len(), actors, "as known at {k}");
    }
}

/// Every checkpoint the projector holds for `x` equals a replay of the log.
async fn checkpoints_replay(projector: &Projector) {
    let problems = projector.verify_checkpoints(&"x".parse().unwrap()).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Derived data is a cache: answers are the same whether the index and checkpoints were
    /// built by queries as the log grew, prepared after every append, written afresh in one
    /// pass from the history (the grouped pass after an import; over nothing, and over an
    /// older index), or are missing altogether.
    #[test]
    fn answers_do_not_depend_on_how_derived_data_was_built(
        values in log_values(),
        cut in 0.2f64..0.8,
        days in prop::collection::vec(0u32..220, 1..4),
        every in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let reference = MemoryLog::new();
            let sled: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path()).unwrap());
            let derived = sled.derived();
            let place = "x".parse().unwrap();
            let projector = Projector::new(sled.clone()).with_checkpoint_every(every);
            let split = ((values.len() as f64) * cut) as usize;

            // Prepared after every append, as the server's keeper does.
            for v in &values[..split] {
                append_each(sled.as_ref(), std::slice::from_ref(v)).await;
                append_each(&reference, std::slice::from_ref(v)).await;
                if sled.version(&shiftlog_store::Stream::Place("x".parse().unwrap())).await.unwrap() > 0 {
                    projector.prepare(&place).await.unwrap();
                    assert_eq!(projector.lag(&place).await.unwrap(), shiftlog_projection::Lag::Current);
                }
            }
            check(&projector, &reference, &days).await;
            checkpoints_replay(&projector).await;

            // The rest appended in one go: caught up by the queries themselves.
            append_each(sled.as_ref(), &values[split..]).await;
            append_each(&reference, &values[split..]).await;
            check(&projector, &reference, &days).await;
            checkpoints_replay(&projector).await;

            // Written afresh over the older index and checkpoints (a place far behind).
            let head = sled.head().0;
            append_each(sled.as_ref(), &values[..1]).await; // already there: no new event
            let generation = derived.generation();
            let history = shiftlog_projection::history(sled.as_ref(), &place, KnownAt::Position(head)).await.unwrap();
            let fresh = Projector::new(sled.clone()).with_checkpoint_every(every);
            // The index is current, so nothing is written...
            fresh.rebuild(&history, generation).await.unwrap();
            // ...but over nothing (cleared, as after a redaction), all of it is.
            derived.clear().unwrap();
            assert_eq!(fresh.lag(&place).await.unwrap(), shiftlog_projection::Lag::Rebuild);
            fresh.rebuild(&history, generation).await.unwrap();
            assert_eq!(fresh.lag(&place).await.unwrap(), shiftlog_projection::Lag::Rebuild, "a batch read before a clear is dropped");
            let generation = derived.generation();
            fresh.rebuild(&history, generation).await.unwrap();
            assert_eq!(fresh.lag(&place).await.unwrap(), shiftlog_projection::Lag::Current);
            let expected = history.events().len() / every;
            assert_eq!(fresh.checkpoints(&place).await.unwrap().len(), expected, "one checkpoint per {every} events folded");
            checkpoints_replay(&fresh).await;
            check(&fresh, &reference, &days).await;

            // Missing altogether.
            derived.clear().unwrap();
            check(&Projector::new(sled.clone()).with_checkpoint_every(every), &reference, &days).await;
        });
    }
}

/// Snapshots of `x` at `days` (each asked twice, and also a day later, which often folds
/// the same events) as known now and at earlier positions, each checked against a replay
/// of the reference log as known at the position it reports.
async fn check_snapshots(projector: &Projector, reference: &MemoryLog, days: &[u32]) {
    let place = "x".parse().unwrap();
    let head = reference.head().0;
    for &day in days {
        for day in [day, day, day + 1] {
            let at: Timestamp = date(day).parse().unwrap();
            for known in [
                KnownAt::Everything,
                KnownAt::Position(head / 2),
                KnownAt::Position(head.saturating_sub(1)),
            ] {
                let got = projector.snapshot_known(&place, at, known).await.unwrap();
                let want = shiftlog_projection::history(reference, &place, KnownAt::Position(got.known_at_position))
                    .await
                    .unwrap()
                    .snapshot(at);
                assert_eq!(got, want, "{at} as known {known:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Snapshots are answered from memory when the same events were folded recently
    /// (crate::memo): asked again, at another date between the same events, at another
    /// known position, and after late events and retractions, each equals a replay.
    #[test]
    fn snapshots_asked_again_equal_a_replay(
        values in log_values(),
        cut in 0.2f64..0.8,
        days in prop::collection::vec(0u32..220, 1..5),
        every in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let reference = MemoryLog::new();
            let split = ((values.len() as f64) * cut) as usize;
            let sled: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path()).unwrap());
            let projector = Projector::new(sled.clone()).with_checkpoint_every(every);
            let both = |values: &[serde_json::Value]| {
                let values = values.to_vec();
                let (sled, reference) = (sled.clone(), &reference);
                async move {
                    append_each(sled.as_ref(), &values).await;
                    append_each(reference, &values).await;
                }
            };
            both(&values[..split]).await;
            check_snapshots(&projector, &reference, &days).await;
            // One event at a time: each one (late, or a retraction) must be in the next
            // answer; another place's events move the log's head in between, which
            // changes nothing of x's.
            let other = serde_json::json!({"type": "place_registered", "id": "y", "occurred_at": date(0), "place": "y", "name": "Y"});
            both(std::slice::from_ref(&other)).await;
            for (i, v) in values[split..].iter().enumerate() {
                let elsewhere = serde_json::json!({"type": "learning_recorded", "id": format!("y{i}"), "occurred_at": date(1), "place": "y", "text": "t"});
                for v in [v, &elsewhere] {
                    both(std::slice::from_ref(v)).await;
                    check_snapshots(&projector, &reference, &days[..1]).await;
                }
            }
            check_snapshots(&projector, &reference, &days).await;
        });
    }
}
