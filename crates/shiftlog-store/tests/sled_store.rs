//! The sled log's own guarantees: damage is detected, a store is locked to one process,
//! a newer format is refused, an append cut short is cleaned up on open, state survives
//! reopening.

mod common;

use common::*;
use serde_json::json;
use shiftlog_store::{
    codec, AppendError, AppendRequest, EventLog, EventOutcome, Position, SledLog, StoreError, Stream,
};

fn place_and_actors() -> Vec<serde_json::Value> {
    vec![
        json!({"type": "place_registered", "id": "p1", "occurred_at": "2023-01-01", "place": "northbrook", "name": "N"}),
        json!({"type": "actor_joined", "id": "a1", "occurred_at": "2023-01-02", "place": "northbrook", "actor": "council", "kind": "organisation"}),
        json!({"type": "actor_joined", "id": "a2", "occurred_at": "2023-01-03", "place": "northbrook", "actor": "tenants", "kind": "group"}),
    ]
}

fn learning(i: usize) -> serde_json::Value {
    json!({"type": "learning_recorded", "id": format!("l{i}"), "occurred_at": "2023-02-01", "place": "northbrook", "text": format!("note {i}")})
}

#[tokio::test]
async fn a_flipped_byte_in_a_record_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = sled_log(dir.path());
        log.append(AppendRequest::new(events(&place_and_actors())))
            .await
            .unwrap();
    }
    // Flip one bit in the middle of the record at position 2.
    shiftlog_store::fault::flip_record_byte(dir.path(), 2, 40, 0x10).unwrap();
    let log = sled_log(dir.path());
    match log.read(Position(1), 10).await {
        Err(StoreError::Damaged { position, reason }) => {
            assert_eq!(position, Position(2));
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected damage at position 2, got {other:?}"),
    }
    assert!(matches!(
        log.event(&"a1".parse().unwrap()).await,
        Err(StoreError::Damaged { .. })
    ));
    // The undamaged records are still readable on their own.
    assert_eq!(log.read(Position(3), 1).await.unwrap()[0].id().as_str(), "a2");
}

#[test]
fn every_single_byte_flip_in_a_stored_record_is_detected() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let log = memory_log();
    rt.block_on(log.append(AppendRequest::new(events(&place_and_actors()))))
        .unwrap();
    let keys = codec::MemoryKeys::default();
    for rec in rt.block_on(log.read(Position(1), 10)).unwrap() {
        let bytes = codec::encode(&rec, &keys);
        assert_eq!(codec::decode(&bytes, &keys).unwrap(), rec);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] = b[i].wrapping_add(1);
            assert!(
                codec::decode(&b, &keys).is_err(),
                "changed byte {i} of record {} went unnoticed",
                rec.position
            );
        }
    }
}

#[tokio::test]
async fn a_store_is_locked_to_one_opener() {
    let dir = tempfile::tempdir().unwrap();
    let _log = SledLog::open(dir.path()).unwrap();
    let Err(e) = SledLog::open(dir.path()) else {
        panic!("a second open of an open store succeeded")
    };
    assert!(matches!(&e, StoreError::Locked { path } if path == dir.path()), "{e:?}");
    // The second opener is this same process: the message must not send the reader
    // looking for another process only.
    assert!(e.to_string().contains("earlier in this one"), "{e}");
}

#[tokio::test]
async fn a_newer_store_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledLog::open(dir.path()).unwrap());
    {
        // The format marker is the one key whose name and encoding are documented
        // (docs/storage.md), as a future shiftlog would write it.
        let db = sled::open(dir.path().join("log")).unwrap();
        db.insert(b"mformat", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledLog::open(dir.path()),
        Err(StoreError::UnsupportedFormat {
            found: 99,
            supported: 2
        })
    ));
}

#[tokio::test]
async fn an_append_cut_short_before_its_head_moved_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = sled_log(dir.path());
        log.append(AppendRequest::new(events(&place_and_actors())))
            .await
            .unwrap();
    }
    // Forge what a crash in the middle of a large append leaves: records and index
    // entries past the committed head, and no new head.
    {
        let log = memory_log();
        let mut evs = place_and_actors();
        evs.push(learning(0));
        evs.push(json!({"type": "actor_joined", "id": "a3", "occurred_at": "2023-01-04", "place": "northbrook", "actor": "youth", "kind": "group"}));
        log.append(AppendRequest::new(events(&evs))).await.unwrap();
        let tail = log.read(Position(4), 10).await.unwrap();
        shiftlog_store::fault::write_uncommitted(dir.path(), &tail).unwrap();
    }
    let log = sled_log(dir.path());
    assert_eq!(log.head(), Position(3));
    assert_eq!(read_all(&log).await.len(), 3);
    assert!(log.event(&"l0".parse().unwrap()).await.unwrap().is_none());
    // The forged join is gone too: naming `youth` is rejected.
    let rel = json!({"type": "relationship_formed", "id": "r1", "occurred_at": "2023-03-01", "place": "northbrook", "from": "council", "to": "youth", "kind": "trust"});
    assert!(matches!(
        log.append(AppendRequest::new(events(&[rel]))).await,
        Err(AppendError::Rejected(_))
    ));
    // And the next append takes position 4 with the id that was cut short.
    let out = log.append(AppendRequest::new(events(&[learning(0)]))).await.unwrap();
    assert_eq!(out.events, vec![EventOutcome::Appended(Position(4))]);
}

#[tokio::test]
async fn a_retracted_join_stops_counting_for_validation_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let rel = |id: &str| json!({"type": "relationship_formed", "id": id, "occurred_at": "2023-03-01", "place": "northbrook", "from": "council", "to": "tenants", "kind": "trust"});
    {
        let log = sled_log(dir.path());
        log.append(AppendRequest::new(events(&place_and_actors())))
            .await
            .unwrap();
        log.append(AppendRequest::new(events(&[rel("r1")]))).await.unwrap();
        let retract = json!({"type": "event_retracted", "id": "x1", "occurred_at": "2023-04-01", "target": "a2", "reason": "recorded twice"});
        log.append(AppendRequest::new(events(&[retract]))).await.unwrap();
        assert!(matches!(
            log.append(AppendRequest::new(events(&[rel("r2")]))).await,
            Err(AppendError::Rejected(_))
        ));
    }
    let log = sled_log(dir.path());
    match log.append(AppendRequest::new(events(&[rel("r2")]))).await {
        Err(AppendError::Rejected(rs)) => assert_eq!(rs[0].field(), Some("to")),
        other => panic!("expected a rejection after reopen, got {other:?}"),
    }
    // A retraction may not be retracted.
    let again =
        json!({"type": "event_retracted", "id": "x2", "occurred_at": "2023-04-02", "target": "x1", "reason": "oops"});
    assert!(matches!(
        log.append(AppendRequest::new(events(&[again]))).await,
        Err(AppendError::Rejected(_))
    ));
}

#[tokio::test]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let place = Stream::Place("northbrook".parse().unwrap());
    let before = {
        let log = sled_log(dir.path());
        let mut evs = place_and_actors();
        evs.extend((0..10).map(learning));
        log.append(AppendRequest::new(events(&evs))).await.unwrap();
        let redact = json!({"type": "actor_redacted", "id": "red1", "occurred_at": "2023-05-01", "actor": "tenants"});
        log.append(AppendRequest::new(events(&[redact]))).await.unwrap();
        (read_all(&log).await, log.stats().await.unwrap())
    };
    let log = sled_log(dir.path());
    assert_eq!(read_all(&log).await, before.0);
    let stats = log.stats().await.unwrap();
    assert_eq!((stats.events, stats.places, stats.actors), (14, 1, 2));
    assert_eq!((before.1.events, before.1.places, before.1.actors), (14, 1, 2));
    assert_eq!(log.version(&place).await.unwrap(), 13);
    assert_eq!(log.version(&Stream::Unplaced).await.unwrap(), 1);
    // Idempotency holds across the reopen, and the version check still bites.
    let again = log
        .append(AppendRequest::new(events(&place_and_actors())))
        .await
        .unwrap();
    assert_eq!(again.appended(), 0);
    let conflict = log
        .append(AppendRequest::new(events(&[learning(99)])).expect(place.clone(), 12))
        .await;
    assert!(matches!(
        conflict,
        Err(AppendError::VersionConflict {
            expected: 12,
            actual: 13,
            ..
        })
    ));
    let ok = log
        .append(AppendRequest::new(events(&[learning(99)])).expect(place.clone(), 13))
        .await
        .unwrap();
    assert_eq!(ok.head, Position(15));
}

#[tokio::test]
async fn large_batches_span_several_sled_batches_and_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = sled_log(dir.path());
    let mut evs = place_and_actors();
    evs.extend((0..5000).map(learning));
    let out = log.append(AppendRequest::new(events(&evs))).await.unwrap();
    assert_eq!(out.head, Position(5003));
    // A large batch with one bad event at the very end writes nothing.
    let mut bad: Vec<_> = (5000..9000).map(learning).collect();
    bad.push(json!({"type": "learning_recorded", "id": "bad", "occurred_at": "2023-02-01", "place": "atlantis", "text": "x"}));
    match log.append(AppendRequest::new(events(&bad))).await {
        Err(AppendError::Rejected(rs)) => {
            assert_eq!(rs[0].location, shiftlog_model::Location::Index(4000))
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    drop(log);
    let log = sled_log(dir.path());
    assert_eq!(read_all(&log).await.len(), 5003);
    assert!(log.event(&"l5000".parse().unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn events_without_ids_get_unique_ones() {
    let log = memory_log();
    let mut evs = place_and_actors();
    // A producer that already uses the id the log would assign.
    evs.push(json!({"type": "learning_recorded", "id": "auto-5", "occurred_at": "2023-02-01", "place": "northbrook", "text": "mine"}));
    evs.push(json!({"type": "learning_recorded", "occurred_at": "2023-02-01", "place": "northbrook", "text": "no id"}));
    log.append(AppendRequest::new(events(&evs))).await.unwrap();
    let all = read_all(&log).await;
    assert_eq!(all[4].id().as_str(), "auto-5-1");
    assert_eq!(all[3].id().as_str(), "auto-5");
}

#[tokio::test]
async fn rules_beyond_the_conformance_vectors() {
    let log = memory_log();
    log.append(AppendRequest::new(events(&place_and_actors())))
        .await
        .unwrap();
    let other =
        json!({"type": "place_registered", "id": "p2", "occurred_at": "2023-01-01", "place": "eastmere", "name": "E"});
    let redact = json!({"type": "actor_redacted", "id": "red", "occurred_at": "2023-05-01", "actor": "tenants"});
    log.append(AppendRequest::new(events(&[other, redact]))).await.unwrap();
    let cases = [
        (
            json!({"type": "actor_redacted", "id": "b", "occurred_at": "2023-05-01", "actor": "nobody"}),
            "actor",
            "has not joined any place",
        ),
        (
            json!({"type": "event_retracted", "id": "b", "occurred_at": "2023-05-01", "target": "red", "reason": "r"}),
            "target",
            "cannot be retracted",
        ),
        (
            json!({"type": "event_retracted", "id": "b", "occurred_at": "2023-05-01", "place": "eastmere", "target": "a1", "reason": "r"}),
            "place",
            "belongs to `northbrook`",
        ),
        (
            json!({"type": "actor_updated", "id": "b", "occurred_at": "2023-01-02T12:00:00Z", "place": "northbrook", "actor": "tenants", "sector": "x"}),
            "actor",
            "at or before",
        ),
        (
            json!({"type": "session_held", "id": "b", "occurred_at": "2023-05-01", "place": "northbrook", "session": "s", "participants": ["council", "ghost"]}),
            "participants[1]",
            "has not joined",
        ),
        (
            json!({"type": "learning_recorded", "id": "b", "occurred_at": "2023-05-01", "place": "eastmere", "text": "t", "actors": ["council"]}),
            "actors[0]",
            "has not joined `eastmere`",
        ),
        (
            json!({"type": "power_shifted", "id": "b", "occurred_at": "2023-05-01", "place": "northbrook", "from": "mayor", "domain": "budget", "amount": 0.1}),
            "from",
            "has not joined",
        ),
    ];
    for (event, field, needle) in cases {
        match log
            .append(AppendRequest::new(events(std::slice::from_ref(&event))))
            .await
        {
            Err(AppendError::Rejected(rs)) => {
                assert_eq!(rs[0].field(), Some(field), "{event}");
                assert!(rs[0].error.message.contains(needle), "{event}: {}", rs[0]);
            }
            other => panic!("{event}: expected a rejection, got {other:?}"),
        }
    }
    // The same id twice in one batch: same body is one event, another body a rejection.
    let twice = events(&[learning(1), learning(1)]);
    let out = log.append(AppendRequest::new(twice)).await.unwrap();
    assert_eq!(
        out.events,
        vec![
            EventOutcome::Appended(Position(6)),
            EventOutcome::AlreadyPresent(Position(6))
        ]
    );
    let mut changed = learning(2);
    changed["text"] = json!("another text");
    match log.append(AppendRequest::new(events(&[learning(2), changed]))).await {
        Err(AppendError::Rejected(rs)) => assert_eq!(
            (rs[0].location, rs[0].field()),
            (shiftlog_model::Location::Index(1), Some("id"))
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // A retraction of an event earlier in the same batch is fine; the retracted join no
    // longer lets the actor take part.
    let batch = events(&[
        json!({"type": "actor_joined", "id": "j", "occurred_at": "2023-01-05", "place": "eastmere", "actor": "council", "kind": "organisation"}),
        json!({"type": "event_retracted", "id": "xj", "occurred_at": "2023-01-06", "target": "j", "reason": "wrong place"}),
        json!({"type": "learning_recorded", "id": "lj", "occurred_at": "2023-02-01", "place": "eastmere", "text": "t", "actors": ["council"]}),
    ]);
    match log.append(AppendRequest::new(batch)).await {
        Err(AppendError::Rejected(rs)) => assert_eq!((rs.len(), rs[0].field()), (1, Some("actors[0]"))),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_format_1_store_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledLog::open(dir.path()).unwrap());
    {
        let db = sled::open(dir.path().join("log")).unwrap();
        db.insert(b"mformat", &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledLog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("format 1") && err.contains("shiftlog log"), "{err}");
}

/// Events that carry personal data: names, attributes, free text.
fn personal_events() -> Vec<serde_json::Value> {
    let mut es = vec![
        json!({"type": "place_registered", "id": "p1", "occurred_at": "2023-01-01", "place": "northbrook", "name": "N"}),
        json!({"type": "actor_joined", "id": "a1", "occurred_at": "2023-01-02", "place": "northbrook", "actor": "jo", "kind": "person", "name": "Jo Bloggs", "attributes": {"ward": "East"}}),
        json!({"type": "actor_joined", "id": "a2", "occurred_at": "2023-01-03", "place": "northbrook", "actor": "forum", "kind": "group", "name": "Tenants' Forum"}),
        json!({"type": "relationship_formed", "id": "r1", "occurred_at": "2023-01-04", "place": "northbrook", "from": "jo", "to": "forum", "kind": "trust"}),
    ];
    for i in 0..200 {
        es.push(json!({"type": "learning_recorded", "id": format!("l{i}"), "occurred_at": "2023-02-01", "place": "northbrook", "text": format!("Jo said {i}"), "actors": ["jo"]}));
    }
    es
}

#[tokio::test]
async fn reads_without_personal_data_leave_out_exactly_that() {
    use shiftlog_store::Detail;
    let dir = tempfile::tempdir().unwrap();
    let sled = sled_log(dir.path());
    let memory = memory_log();
    for log in [&sled as &dyn EventLog, &memory] {
        log.append(AppendRequest::new(events(&personal_events())))
            .await
            .unwrap();
        let stream = Stream::Place("northbrook".parse().unwrap());
        let full = log.read(Position(1), 1000).await.unwrap();
        let bare = log
            .read_with(Position(1), 1000, Detail::WithoutPersonalData)
            .await
            .unwrap();
        let bare_stream = log
            .read_stream_with(&stream, Position(1), 1000, Detail::WithoutPersonalData)
            .await
            .unwrap();
        assert_eq!(full.len(), 204);
        assert_eq!(bare, bare_stream, "{log:?}");
        // The same records, with only their personal data taken out.
        let want: Vec<_> = full
            .into_iter()
            .map(|mut r| {
                r.event.take_personal_data();
                r
            })
            .collect();
        assert_eq!(bare, want, "{log:?}");
        let text = format!("{bare:?}");
        assert!(
            !text.contains("Jo Bloggs") && !text.contains("Jo said") && !text.contains("East"),
            "{log:?}"
        );
        assert!(text.contains("forum"), "ids are not personal data");
        // A full read still has it.
        assert!(format!("{:?}", log.read(Position(2), 1).await.unwrap()).contains("Jo Bloggs"));
    }
}

#[tokio::test]
async fn damage_is_pinned_to_its_position_in_a_long_read() {
    // A long read decodes its pages on several threads; the error still names the record.
    let dir = tempfile::tempdir().unwrap();
    {
        let log = sled_log(dir.path());
        log.append(AppendRequest::new(events(&personal_events())))
            .await
            .unwrap();
    }
    shiftlog_store::fault::flip_record_byte(dir.path(), 150, 20, 0x10).unwrap();
    let log = sled_log(dir.path());
    match log.read(Position(1), 1000).await {
        Err(StoreError::Damaged { position, .. }) => assert_eq!(position, Position(150)),
        other => panic!("expected damage at position 150, got {other:?}"),
    }
    assert_eq!(log.read(Position(151), 1000).await.unwrap().len(), 54);
    assert_eq!(log.read(Position(1), 149).await.unwrap().len(), 149);
}

#[tokio::test]
async fn records_lost_from_a_page_are_reported_missing_in_long_reads() {
    use shiftlog_store::Detail;
    let dir = tempfile::tempdir().unwrap();
    {
        let log = sled_log(dir.path());
        log.append(AppendRequest::new(events(&personal_events())))
            .await
            .unwrap();
    }
    // Positions 100 to 112 (the rest of their page) are gone.
    shiftlog_store::fault::truncate_page_at(dir.path(), 100).unwrap();
    let log = sled_log(dir.path());
    let missing = |r: Result<Vec<shiftlog_store::RecordedEvent>, StoreError>| match r {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("position 100 is missing"), "{m}"),
        other => panic!("expected position 100 missing, got {other:?}"),
    };
    missing(log.read(Position(1), 1000).await);
    let places = std::collections::BTreeSet::from(["northbrook".parse().unwrap()]);
    missing(
        log.read_places_with(&places, Position(1), 1000, Detail::WithoutPersonalData)
            .await,
    );
    // Reads that end before the loss are whole.
    assert_eq!(log.read(Position(1), 99).await.unwrap().len(), 99);
}

/// A derived value sled stores as a file of its own (over about 128 KiB) whose file cannot
/// be created: the write is an error, and neither the log's next append nor dropping the
/// store waits forever (sled 0.34 leaves such a write counted in its log buffer, so a
/// flush of that database, at drop or by a background flusher holding sled's process-wide
/// lock, never returned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_write_that_fails_leaves_the_store_usable_and_its_drop_finite() {
    let dir = tempfile::tempdir().unwrap();
    let log = sled_log(dir.path());
    log.append(AppendRequest::new(events(&place_and_actors())))
        .await
        .unwrap();
    let derived = log.derived();
    let blobs = dir
        .path()
        .join("derived")
        .join(derived.generation().to_string())
        .join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    let mut batch = shiftlog_store::DerivedBatch::in_generation(derived.generation());
    batch.put(b"big".to_vec(), vec![7; 300_000]);
    assert!(derived.apply(batch).is_err(), "the blob's file cannot be created");
    drop(derived);

    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            log.append(AppendRequest::new(events(&[learning(1)]))).await.unwrap();
        });
        done.send("appended").unwrap();
        drop(log);
        done.send("dropped").unwrap();
    });
    for step in ["appended", "dropped"] {
        let got = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(got, Ok(step), "the store hung before it had {step}");
    }
}
