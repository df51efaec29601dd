//! Derived data (each place's valid-time index and checkpoints) is a cache kept current by
//! the log: answers do not depend on how it was built, queries run in parallel with each
//! other and with writers, and every answer equals a naive replay of the log prefix it
//! says it reflects.

use shiftlog::projection::{history, Lag};
use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Timestamp};
use std::sync::Arc;

const WORKED: &str = include_str!("../examples/data/worked-example.ndjson");

/// Snapshots and comparisons at a few dates: everything the checkpoints answer.
async fn answers(engine: &Engine) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let places = engine.places().await.unwrap();
    for at in ["2023-03-31", "2023-09-30", "2024-06-30", "2025-12-31"] {
        let at: Timestamp = at.parse().unwrap();
        out.push(serde_json::to_value(engine.compare(at, KnownAt::Everything).await.unwrap()).unwrap());
        out.push(serde_json::to_value(engine.bridges(at, KnownAt::Everything).await.unwrap()).unwrap());
        for p in &places {
            for known in [KnownAt::Everything, KnownAt::Position(engine.head().0 / 2)] {
                match engine.snapshot(p, at, known).await {
                    Ok(s) => out.push(serde_json::to_value(s).unwrap()),
                    Err(e) => out.push(serde_json::Value::String(e.to_string())),
                }
            }
            let from: Timestamp = "2023-01-01".parse().unwrap();
            out.push(serde_json::to_value(engine.diff(p, from, at, KnownAt::Everything).await.unwrap()).unwrap());
        }
    }
    out
}

async fn lags(engine: &Engine) -> Vec<Lag> {
    let mut out = Vec::new();
    for p in engine.places().await.unwrap() {
        out.push(engine_lag(engine, &p).await);
    }
    out
}

async fn engine_lag(engine: &Engine, place: &PlaceId) -> Lag {
    // The engine's projector is private; a projector over the same log reads the same
    // derived store.
    shiftlog::projection::Projector::new(engine.log().clone())
        .lag(place)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_the_same_however_derived_data_was_built() {
    let dir = tempfile::tempdir().unwrap();
    let input = parse_input(WORKED);
    // Built by queries, one place at a time, as they come.
    let lazy = {
        let engine = Engine::open(dir.path()).unwrap();
        engine.ingest(input.clone(), &[]).await.unwrap();
        assert!(lags(&engine).await.iter().all(|l| *l == Lag::Rebuild));
        answers(&engine).await
    };
    // Missing: cleared by repair-indexes, then rebuilt in one grouped pass.
    Engine::repair_indexes(dir.path()).unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    assert!(
        engine.places_behind().await.unwrap() > 0,
        "repair-indexes clears derived data"
    );
    let prepared = engine.prepare(|_, _| {}).await.unwrap();
    assert_eq!(prepared.rebuilt, engine.places().await.unwrap().len());
    assert_eq!(engine.places_behind().await.unwrap(), 0);
    assert!(lags(&engine).await.iter().all(|l| *l == Lag::Current));
    assert_eq!(answers(&engine).await, lazy, "rebuilt in one pass");
    // And every checkpoint the pass wrote is what a replay of the log gives.
    assert_eq!(engine.verify().await.unwrap(), Vec::<String>::new());
    drop(engine);

    // Prepared after each append of the log, event by event (the server's keeper).
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    for line in WORKED.lines().filter(|l| !l.trim().is_empty()) {
        engine.ingest(parse_input(line), &[]).await.unwrap();
        engine.prepare(|_, _| {}).await.unwrap();
    }
    assert_eq!(engine.places_behind().await.unwrap(), 0);
    assert_eq!(answers(&engine).await, lazy, "prepared after every append");
    assert_eq!(engine.verify().await.unwrap(), Vec::<String>::new());

    // In memory, never prepared.
    let memory = Engine::in_memory();
    memory.ingest(parse_input(WORKED), &[]).await.unwrap();
    assert_eq!(answers(&memory).await, lazy, "in memory");
}

/// A small deterministic generator (xorshift), so the test needs no seed to reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn day(d: u64) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    (start + chrono::Days::new(d)).to_string()
}

/// The next event a writer of `place` appends: relationships formed, changed and ended
/// among its actors, learning records, late joins, and retractions of its earlier events,
/// at random valid times (most of them earlier than what is already recorded).
fn next_event(rng: &mut Rng, place: &str, i: u64) -> String {
    let id = format!("{place}-{i}");
    let (a, b) = (rng.below(12), rng.below(12));
    let (a, b) = if a == b { (a, (b + 1) % 12) } else { (a, b) };
    let at = day(rng.below(365));
    match rng.below(10) {
        0..=3 => format!(
            r#"{{"type":"relationship_formed","id":"{id}","occurred_at":"{at}","place":"{place}","from":"{place}-a{a}","to":"{place}-a{b}","kind":"trust","strength":0.{}}}"#,
            rng.below(9) + 1
        ),
        4 => format!(
            r#"{{"type":"relationship_changed","id":"{id}","occurred_at":"{at}","place":"{place}","from":"{place}-a{a}","to":"{place}-a{b}","kind":"trust","strength":0.{}}}"#,
            rng.below(9) + 1
        ),
        5 => format!(
            r#"{{"type":"relationship_ended","id":"{id}","occurred_at":"{at}","place":"{place}","from":"{place}-a{a}","to":"{place}-a{b}","kind":"trust"}}"#
        ),
        6 => format!(
            r#"{{"type":"learning_recorded","id":"{id}","occurred_at":"{at}","place":"{place}","text":"noted"}}"#
        ),
        7 => format!(
            r#"{{"type":"actor_joined","id":"{id}","occurred_at":"{at}","place":"{place}","actor":"{place}-late{i}","kind":"group","name":"Late {i}"}}"#
        ),
        _ => format!(
            r#"{{"type":"event_retracted","id":"{id}","occurred_at":"{at}","target":"{place}-{}","reason":"recorded in error"}}"#,
            rng.below(i.max(1))
        ),
    }
}

fn opening(place: &str) -> String {
    let mut out = format!(
        "{{\"type\":\"place_registered\",\"id\":\"{place}-r\",\"occurred_at\":\"2023-12-01\",\"place\":\"{place}\",\"name\":\"{place}\"}}\n"
    );
    for a in 0..12 {
        out.push_str(&format!(
            "{{\"type\":\"actor_joined\",\"id\":\"{place}-j{a}\",\"occurred_at\":\"2023-12-0{}\",\"place\":\"{place}\",\"actor\":\"{place}-a{a}\",\"kind\":\"organisation\",\"name\":\"Org {a}\"}}\n",
            1 + a % 9
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_in_parallel_with_writers_equal_a_replay_of_what_they_report() {
    let dir = tempfile::tempdir().unwrap();
    // Checkpoints every 3 events, so that they are written (and invalidated by late
    // events) all the time.
    let engine = Engine::open(dir.path()).unwrap().with_checkpoint_every(3);
    const PLACES: [&str; 3] = ["north", "south", "east"];
    for p in PLACES {
        engine.ingest(parse_input(&opening(p)), &[]).await.unwrap();
    }
    let keeper = engine.keep_prepared();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut writers = Vec::new();
    for (w, p) in PLACES.iter().enumerate() {
        let engine = engine.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9 + w as u64);
            for i in 0..250 {
                // Rejections (a retraction of a retraction, a change of no relationship)
                // are part of the mix: only accepted events count.
                let _ = engine.ingest(parse_input(&next_event(&mut rng, p, i)), &[]).await;
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..6 {
        let (engine, writing) = (engine.clone(), writing.clone());
        readers.push(tokio::spawn(async move {
            let mut rng = Rng(0x5151 + r);
            let mut seen = Vec::new();
            // Readers 0 and 1 always ask for one place; the rest for any.
            while writing.load(std::sync::atomic::Ordering::Relaxed) || seen.len() < 20 {
                let place: PlaceId = PLACES[if r < 2 { 0 } else { rng.below(3) as usize }].parse().unwrap();
                let at: Timestamp = day(rng.below(380)).parse().unwrap();
                let snap = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
                seen.push((place, at, snap));
            }
            seen
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut checked = 0;
    for r in readers {
        for (place, at, snap) in r.await.unwrap() {
            let k = snap.known_at_position;
            let replay = history(engine.log().as_ref(), &place, KnownAt::Position(k))
                .await
                .unwrap()
                .snapshot(at);
            assert_eq!(
                serde_json::to_value(&snap).unwrap(),
                serde_json::to_value(&replay).unwrap(),
                "{place} at {at} as known at {k}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 120, "{checked} answers checked");

    // A late event and a retraction, appended while the keeper works, are in the very
    // next answer.
    let place: PlaceId = "north".parse().unwrap();
    let at: Timestamp = "2024-12-31".parse().unwrap();
    let before = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
    engine
        .ingest(
            parse_input(
                r#"{"type":"actor_joined","id":"north-very-late","occurred_at":"2024-01-05","place":"north","actor":"north-newcomer","kind":"person","name":"New"}"#,
            ),
            &[],
        )
        .await
        .unwrap();
    let after = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
    assert!(after.actors.iter().any(|a| a.id == "north-newcomer"));
    assert_eq!(after.actors.len(), before.actors.len() + 1);
    engine
        .ingest(
            parse_input(r#"{"type":"event_retracted","id":"north-undo","occurred_at":"2025-01-01","target":"north-very-late","reason":"wrong place"}"#),
            &[],
        )
        .await
        .unwrap();
    let undone = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
    assert!(undone.actors.iter().all(|a| a.id != "north-newcomer"));

    // The keeper brings every place current without a query asking.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.places_behind().await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the keeper never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    keeper.abort();
    let _ = keeper.await;
    // verify() checks every checkpoint against a replay of the log.
    assert_eq!(engine.verify().await.unwrap(), Vec::<String>::new());
}

/// A query that runs while a redaction is between clearing derived data and destroying
/// the actor's key can still open the actor's name, and sees the new generation: what it
/// derives (checkpoints holding the name) must not outlive the redaction. The keeper and
/// `prepare` make such queries routine, so the window is closed, not left to luck.
#[test]
fn nothing_derived_while_a_redaction_is_half_done_keeps_the_name() {
    use shiftlog::store::fault::{RedactionHook, RedactionStep};
    const NAME: &str = "Perpetua Quayle-Osgood";
    let dir = tempfile::tempdir().unwrap();
    let engine_slot: Arc<std::sync::OnceLock<Engine>> = Arc::default();
    let slot = engine_slot.clone();
    let hook: RedactionHook = Arc::new(move |step| {
        if step != RedactionStep::DerivedCleared {
            return;
        }
        let engine = slot.get().expect("set after opening").clone();
        // Another thread (the writer's is waiting here) rebuilds every place now.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(engine.prepare(|_, _| {})).unwrap()
        })
        .join()
        .unwrap();
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = shiftlog::store::SledOptions::default().on_redaction_step(hook);
        let engine = Engine::open_with(dir.path(), options).unwrap().with_checkpoint_every(2);
        engine_slot.set(engine.clone()).unwrap();
        let mut log = opening("vale");
        log.push_str(&format!(
            "{{\"type\":\"actor_joined\",\"id\":\"vale-p\",\"occurred_at\":\"2023-12-01\",\"place\":\"vale\",\"actor\":\"vale-person\",\"kind\":\"person\",\"name\":\"{NAME}\"}}\n"
        ));
        engine.ingest(parse_input(&log), &[]).await.unwrap();
        engine.prepare(|_, _| {}).await.unwrap();
        let derived = engine.log().derived();
        let holds_name = |derived: &Arc<dyn shiftlog::store::DerivedStore>| {
            derived
                .range(b"", &[0xff; 8])
                .unwrap()
                .iter()
                .any(|(_, v)| v.windows(NAME.len()).any(|w| w == NAME.as_bytes()))
        };
        assert!(holds_name(&derived), "checkpoints hold the name before the redaction");
        engine
            .redact(&"vale-person".parse().unwrap(), Some("asked".into()))
            .await
            .unwrap();
        assert!(
            !holds_name(&derived),
            "a checkpoint derived during the redaction still holds the name"
        );
        let snap = engine
            .snapshot(&"vale".parse().unwrap(), "2024-01-01".parse().unwrap(), KnownAt::Everything)
            .await
            .unwrap();
        assert!(snap.actors.iter().any(|a| a.id == "vale-person" && a.name.is_none() && a.redacted));
    });
}

/// A random log of two places: their openings, then `n` events from [`next_event`]
/// (late ones, retractions, ends of relationships that never began: rejections are
/// part of the mix and are left out), one line per event.
fn random_log(seed: u64, n: u64) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    let mut lines: Vec<String> = ["west", "hill"]
        .iter()
        .flat_map(|p| opening(p).lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    // An actor in both places from random dates, and gone from one of them later: the
    // places it bridges change over time.
    for (place, id) in [("west", "west-funder"), ("hill", "hill-funder")] {
        lines.push(format!(
            r#"{{"type":"actor_joined","id":"{id}","occurred_at":"{}","place":"{place}","actor":"funder","kind":"organisation","name":"Funder"}}"#,
            day(rng.below(200))
        ));
    }
    lines.push(format!(
        r#"{{"type":"actor_left","id":"west-funder-left","occurred_at":"{}","place":"west","actor":"funder"}}"#,
        day(200 + rng.below(165))
    ));
    for i in 0..n {
        let place = if rng.below(3) == 0 { "hill" } else { "west" };
        lines.push(next_event(&mut rng, place, i));
    }
    lines
}

/// Appends each line on its own; the ones the log refuses are dropped.
async fn append_lines(engine: &Engine, lines: &[String], prepare_each: bool) {
    for line in lines {
        let _ = engine.ingest(parse_input(line), &[]).await;
        if prepare_each {
            engine.prepare(|_, _| {}).await.unwrap();
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10))]

    /// For random logs: derived data built by queries as they come, prepared after every
    /// append, missing (cleared by repair-indexes) then rebuilt in one pass, and never
    /// built (in memory) give the same answers, with checkpoints every 3 events so that
    /// late events and retractions invalidate them all the time.
    #[test]
    fn for_random_logs_answers_are_the_same_however_derived_data_was_built(seed in proptest::prelude::any::<u64>(), n in 20u64..90) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let lines = random_log(seed, n);
            let memory = Engine::in_memory().with_checkpoint_every(3);
            append_lines(&memory, &lines, false).await;
            let expected = answers(&memory).await;

            let dir = tempfile::tempdir().unwrap();
            {
                let lazy = Engine::open(dir.path()).unwrap().with_checkpoint_every(3);
                append_lines(&lazy, &lines, false).await;
                assert_eq!(lazy.log().head(), memory.log().head(), "the same events accepted");
                assert_eq!(answers(&lazy).await, expected, "built by queries");
                assert_eq!(lazy.verify().await.unwrap(), Vec::<String>::new());
            }
            Engine::repair_indexes(dir.path()).unwrap();
            let rebuilt = Engine::open(dir.path()).unwrap().with_checkpoint_every(3);
            rebuilt.prepare(|_, _| {}).await.unwrap();
            assert_eq!(rebuilt.places_behind().await.unwrap(), 0);
            assert_eq!(answers(&rebuilt).await, expected, "rebuilt in one pass");

            let dir = tempfile::tempdir().unwrap();
            let eager = Engine::open(dir.path()).unwrap().with_checkpoint_every(3);
            append_lines(&eager, &lines, true).await;
            assert_eq!(answers(&eager).await, expected, "prepared after every append");
            assert_eq!(eager.verify().await.unwrap(), Vec::<String>::new());
        });
    }
}

/// Every place's history as known at `known`, read from the log (no derived data), without
/// personal data: what the measures see.
async fn logged_histories(
    engine: &Engine,
    known: u64,
) -> std::collections::BTreeMap<PlaceId, shiftlog::projection::PlaceHistory> {
    shiftlog::projection::histories_with(
        engine.log().as_ref(),
        KnownAt::Position(known),
        shiftlog_store::Detail::WithoutPersonalData,
    )
    .await
    .unwrap()
}

/// Every place's evolution, span, anomaly count and evolution work from histories read as
/// `known` from the fold-ready form, checked against histories read from the log.
async fn fold_ready_equals_the_log(engine: &Engine, known: u64) {
    use shiftlog::projection::{Every, Projector};
    let places = engine.places().await.unwrap();
    let ready = Projector::new(engine.log().clone())
        .fold_ready_histories(&places, known)
        .await
        .unwrap();
    assert!(
        ready.missing.is_empty(),
        "every place's form is current: {:?}",
        ready.missing
    );
    let logged = logged_histories(engine, known).await;
    assert_eq!(
        ready.histories.keys().collect::<Vec<_>>(),
        logged.keys().collect::<Vec<_>>(),
        "known at {known}"
    );
    for (place, h) in &ready.histories {
        let l = &logged[place];
        assert!(h.is_fold_ready() && !l.is_fold_ready());
        assert_eq!(h.span(), l.span(), "{place} known at {known}");
        assert_eq!(h.anomalies().len(), l.anomalies().len(), "{place} known at {known}");
        let Some((first, last)) = l.span() else { continue };
        for every in [Every::Day, Every::Week] {
            let steps = shiftlog::projection::steps(every, first, last).unwrap();
            assert_eq!(h.evolution_work(steps.len()), l.evolution_work(steps.len()));
            assert_eq!(
                h.evolve(&steps),
                l.evolve(&steps),
                "{place} known at {known}, {every:?}"
            );
        }
    }
}

/// Every place's comparison row and the bridging actors at a few dates as known at
/// `known` (read from the fold-ready form where it is current), checked against states
/// folded from histories read from the log: metrics and active actors need no derived data.
async fn comparisons_equal_the_log(engine: &Engine, known: u64) {
    use shiftlog::projection::compute_metrics;
    let logged = logged_histories(engine, known).await;
    for at in ["2023-11-30", "2023-12-05", "2024-03-15", "2024-08-31", "2025-01-31"] {
        let at: Timestamp = at.parse().unwrap();
        let (mut rows, mut active) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
        for (place, h) in &logged {
            let state = h.state_at(at);
            rows.insert(place.to_string(), compute_metrics(&state));
            for (actor, _) in state.actors.iter().filter(|(_, s)| s.active) {
                active
                    .entry(actor.to_string())
                    .or_insert_with(Vec::new)
                    .push(place.to_string());
            }
        }
        active.retain(|_, places| places.len() > 1);
        let view = KnownAt::Position(known);
        assert_eq!(
            engine.compare(at, view).await.unwrap(),
            rows,
            "compare at {at} known at {known}"
        );
        assert_eq!(
            engine.bridges(at, view).await.unwrap(),
            active,
            "bridges at {at} known at {known}"
        );
        let both = engine.comparison(at, view).await.unwrap();
        assert_eq!(
            (both.places, both.bridges),
            (rows, active),
            "comparison at {at} known at {known}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// For random logs with late events and retractions: the fold-ready form grown by a
    /// catch-up after every append, and the form rebuilt in one pass after repair-indexes,
    /// give every place the evolution (every day and every week), span, anomaly count and
    /// work estimate its history read from the log gives, as known at several points of
    /// the log, and the comparisons and bridges at a few dates; and the engine's evolution,
    /// which reads the form, equals an in-memory engine's.
    #[test]
    fn the_fold_ready_form_gives_the_logs_evolutions(seed in proptest::prelude::any::<u64>(), n in 20u64..120) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let lines = random_log(seed, n);
            let dir = tempfile::tempdir().unwrap();
            let engine = Engine::open(dir.path()).unwrap();
            append_lines(&engine, &lines, true).await;
            let head = engine.head().0;
            let points: Vec<u64> = (1..=4).map(|i| head * i / 5).chain([head]).collect();
            for &k in &points {
                fold_ready_equals_the_log(&engine, k).await;
                comparisons_equal_the_log(&engine, k).await;
            }
            let memory = Engine::in_memory();
            append_lines(&memory, &lines, false).await;
            let every = shiftlog::projection::Every::Week;
            assert_eq!(
                engine.evolve(None, every, None, None, KnownAt::Everything).await.unwrap(),
                memory.evolve(None, every, None, None, KnownAt::Everything).await.unwrap()
            );
            drop(engine);
            Engine::repair_indexes(dir.path()).unwrap();
            let rebuilt = Engine::open(dir.path()).unwrap();
            rebuilt.prepare(|_, _| {}).await.unwrap();
            for &k in &points {
                fold_ready_equals_the_log(&rebuilt, k).await;
                comparisons_equal_the_log(&rebuilt, k).await;
            }
        });
    }
}

/// An index written by a build before the fold-ready form (its high-water mark, and no
/// record of how far the form reaches) is rebuilt once, form included: the place reports
/// `Lag::Rebuild` until `prepare` has run, and its form then holds every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_without_its_fold_ready_form_is_rebuilt_once() {
    use shiftlog_store::DerivedBatch;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    engine.ingest(parse_input(WORKED), &[]).await.unwrap();
    engine.prepare(|_, _| {}).await.unwrap();
    assert!(lags(&engine).await.iter().all(|l| *l == Lag::Current));
    // What an older build leaves: the index, without the form's mark or blocks.
    let derived = engine.log().derived();
    let mut batch = DerivedBatch::default();
    for (key, _) in derived.range(b"p3/", b"p4").unwrap() {
        batch.remove(key);
    }
    derived.apply(batch).unwrap();
    assert!(lags(&engine).await.iter().all(|l| *l == Lag::Rebuild));
    let places = engine.places().await.unwrap();
    let projector = shiftlog::projection::Projector::new(engine.log().clone());
    let ready = projector.fold_ready_histories(&places, engine.head().0).await.unwrap();
    assert_eq!(ready.missing, places, "read from the log meanwhile");
    let prepared = engine.prepare(|_, _| {}).await.unwrap();
    assert_eq!(prepared.rebuilt, places.len());
    assert!(lags(&engine).await.iter().all(|l| *l == Lag::Current));
    fold_ready_equals_the_log(&engine, engine.head().0).await;
}
