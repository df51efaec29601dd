//! Erasure, backup and integrity through the engine's API, with the store open.

use shiftlog::{parse_input, Engine, EventBody, KnownAt, Position, Stream, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Writer `w`'s batch `b`: a place of its own with people who have names, relationships
/// and learning records about them.
fn batch(w: usize, b: usize) -> String {
    let place = format!("place-{w}");
    let mut out = String::new();
    if b == 0 {
        out += &format!(
            r#"{{"type":"place_registered","id":"{place}","occurred_at":"2024-01-01","place":"{place}","name":"P{w}"}}"#
        );
        out += "\n";
    }
    for i in 0..20 {
        let a = format!("{place}-a{b}-{i}");
        let day = 1 + (b * 20 + i) % 28;
        out += &format!(
            r#"{{"type":"actor_joined","id":"{a}","occurred_at":"2024-02-{day:02}","place":"{place}","actor":"{a}","kind":"person","name":"Person {a}","attributes":{{"k":"v{i}"}}}}"#
        );
        out += "\n";
        if i > 0 {
            let prev = format!("{place}-a{b}-{}", i - 1);
            out += &format!(
                r#"{{"type":"relationship_formed","id":"{a}-r","occurred_at":"2024-03-{day:02}","place":"{place}","from":"{a}","to":"{prev}","kind":"trust"}}"#
            );
            out += "\n";
            out += &format!(
                r#"{{"type":"learning_recorded","id":"{a}-l","occurred_at":"2024-03-{day:02}","place":"{place}","text":"{a} met {prev}","actors":["{a}","{prev}"]}}"#
            );
            out += "\n";
        }
    }
    out
}

async fn snapshots(engine: &Engine, known: KnownAt) -> Vec<String> {
    let mut out = Vec::new();
    for place in engine.places().await.unwrap() {
        for at in ["2024-02-10", "2024-03-01", "2024-04-01"] {
            match engine.snapshot(&place, t(at), known).await {
                Ok(mut s) => {
                    s.known_at_position = 0;
                    out.push(serde_json::to_string(&s).unwrap());
                }
                Err(e) => out.push(format!("{place}: {e}")),
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_concurrent_appends_restores_to_the_store_at_its_position() {
    let work = tempfile::tempdir().unwrap();
    let engine = Engine::open(work.path().join("data")).unwrap();
    engine.ingest(parse_input(&batch(0, 0)), &[]).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..4)
        .map(|w| {
            let (engine, stop) = (engine.clone(), stop.clone());
            tokio::spawn(async move {
                let mut b = 0;
                while !stop.load(Ordering::Relaxed) || b < 3 {
                    engine.ingest(parse_input(&batch(w, b)), &[]).await.unwrap();
                    b += 1;
                }
            })
        })
        .collect();
    // Take the backup while the writers are appending.
    while engine.head().0 < 300 {
        tokio::task::yield_now().await;
    }
    let file = work.path().join("store.bak");
    let summary = engine.backup(&file).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        summary.head >= 300 && summary.head < engine.head().0,
        "{summary:?} vs head {}",
        engine.head().0
    );

    let restored_dir = work.path().join("restored");
    Engine::restore(&file, &restored_dir).unwrap();
    let restored = Engine::open(&restored_dir).unwrap();
    assert_eq!(restored.head().0, summary.head);
    assert_eq!(
        restored.read(Position(1), usize::MAX).await.unwrap(),
        engine.read(Position(1), summary.head as usize).await.unwrap()
    );
    let original = snapshots(&engine, KnownAt::Position(summary.head)).await;
    assert_eq!(snapshots(&restored, KnownAt::Everything).await, original);
    assert!(restored.verify().await.unwrap().is_empty());
    // A restore never overwrites.
    let err = Engine::restore(&file, &restored_dir).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_erases_at_once_for_an_open_engine_and_other_actors_stay() {
    let work = tempfile::tempdir().unwrap();
    let engine = Engine::open(work.path().join("data")).unwrap();
    engine.ingest(parse_input(&batch(0, 0)), &[]).await.unwrap();
    engine.ingest(parse_input(&batch(0, 1)), &[]).await.unwrap();
    let place = "place-0".parse().unwrap();
    let before = engine
        .snapshot(&place, t("2024-04-01"), KnownAt::Everything)
        .await
        .unwrap();
    let jo = "place-0-a0-3".parse().unwrap();
    engine.redact(&jo, Some("asked".into())).await.unwrap();
    // Read through the same open engine: no reopening to finish anything.
    for r in engine
        .read_stream(&Stream::Place(place.clone()), Position(1), usize::MAX)
        .await
        .unwrap()
    {
        let json = serde_json::to_string(&r.event).unwrap();
        if r.event.data_subjects().contains(&&jo) {
            assert!(
                !json.contains("Person place-0-a0-3") && !json.contains("place-0-a0-3 met"),
                "{json}"
            );
        } else if let EventBody::ActorJoined { name, attributes, .. } = &r.event.body {
            assert!(
                name.is_some() && !attributes.is_empty(),
                "another actor lost data: {json}"
            );
        }
    }
    let after = engine
        .snapshot(&place, t("2024-04-01"), KnownAt::Everything)
        .await
        .unwrap();
    assert_eq!(after.metrics.relationships, before.metrics.relationships);
    assert_eq!(after.actors.len(), before.actors.len());
    let jo_now = after.actors.iter().find(|a| a.id == jo.as_str()).unwrap();
    assert!(jo_now.redacted && jo_now.name.is_none() && jo_now.attributes.is_empty());
    // Appended after the redaction, data about the actor is not stored at all.
    engine
        .ingest(
            parse_input(
                r#"{"type":"actor_updated","id":"late","occurred_at":"2024-05-01","place":"place-0","actor":"place-0-a0-3","name":"Person place-0-a0-3 again"}"#,
            ),
            &[],
        )
        .await
        .unwrap();
    let late = engine.event(&"late".parse().unwrap()).await.unwrap().unwrap();
    assert!(matches!(late.event.body, EventBody::ActorUpdated { name: None, .. }));
    assert!(engine.verify().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_missing_index_entry_and_a_stale_checkpoint_and_repair_fixes_them() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    {
        let engine = Engine::open(&dir).unwrap();
        for b in 0..60 {
            engine.ingest(parse_input(&batch(0, b)), &[]).await.unwrap();
        }
        // Queries write checkpoints (one per 1,024 events folded).
        engine
            .snapshot(&"place-0".parse().unwrap(), t("2024-04-01"), KnownAt::Everything)
            .await
            .unwrap();
        assert!(engine.verify().await.unwrap().is_empty());
        // A stale checkpoint: a later key given an earlier checkpoint's state.
        let derived = engine.log().derived();
        let all = derived.range(b"p2/cp/", b"p2/cp0").unwrap();
        assert!(all.len() >= 2, "expected checkpoints, found {}", all.len());
        let mut b = shiftlog::store::DerivedBatch::default();
        b.put(all[1].0.clone(), all[0].1.clone());
        derived.apply(b).unwrap();
        let problems = engine.verify().await.unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("does not match a replay of the log"),
            "{problems:?}"
        );
    }
    shiftlog::store::fault::remove_id_entry(&dir, &"place-0-a3-5-r".parse().unwrap()).unwrap();
    {
        let engine = Engine::open(&dir).unwrap();
        let problems = engine.verify().await.unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("index i") && p.contains("place-0-a3-5-r")),
            "{problems:?}"
        );
    }
    Engine::repair_indexes(&dir).unwrap();
    let engine = Engine::open(&dir).unwrap();
    assert_eq!(engine.verify().await.unwrap(), Vec::<String>::new());
    assert!(engine
        .event(&"place-0-a3-5-r".parse().unwrap())
        .await
        .unwrap()
        .is_some());
}

/// Derived data is a cache, also when its bytes are damaged: sealed checkpoints with flipped
/// bytes, or a generation key that is zeroed, torn or gone, change no answer and panic
/// nothing (a checkpoint that does not open is rebuilt; a generation without a key is
/// deleted on open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_derived_data_changes_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for b in 0..40 {
        text += &batch(0, b);
    }
    let answers = {
        let engine = Engine::open(dir.path().join("s")).unwrap();
        engine.ingest(parse_input(&text), &[]).await.unwrap();
        snapshots(&engine, KnownAt::Everything).await
    };
    let store = dir.path().join("s");
    let derived = store.join("derived");
    let generation = || -> u64 {
        std::fs::read_dir(&derived)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".key")?.parse().ok())
            .max()
            .unwrap()
    };
    // Flip a byte in every stored derived value.
    {
        let db = sled::open(derived.join(generation().to_string())).unwrap();
        let entries: Vec<_> = db.iter().map(|r| r.unwrap()).collect();
        let checkpoints = entries.iter().filter(|(k, _)| k.starts_with(b"p2/cp/")).count();
        assert!(checkpoints > 0, "sealed checkpoints were written");
        for (k, v) in entries {
            let mut v = v.to_vec();
            if let Some(b) = v.last_mut() {
                *b ^= 0x5a;
            }
            db.insert(k, v).unwrap();
        }
        db.flush().unwrap();
    }
    let engine = Engine::open(&store).unwrap();
    assert_eq!(
        snapshots(&engine, KnownAt::Everything).await,
        answers,
        "after flipped bytes"
    );
    drop(engine);
    for damage in ["zeroed", "torn", "gone"] {
        let key = derived.join(format!("{}.key", generation()));
        match damage {
            "zeroed" => std::fs::write(&key, [0u8; 32]).unwrap(),
            "torn" => std::fs::write(&key, [7u8; 5]).unwrap(),
            _ => std::fs::remove_file(&key).unwrap(),
        }
        let engine = Engine::open(&store).unwrap();
        assert_eq!(snapshots(&engine, KnownAt::Everything).await, answers, "key {damage}");
        assert!(engine.verify().await.unwrap().is_empty(), "key {damage}");
    }
}
