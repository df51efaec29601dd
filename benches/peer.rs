//! shiftlog's side of the peer comparison, and the raw-sled floor. Normally run by
//! `python3 benches/peer/run.py`, which also runs Raphtory on the same log and compares
//! the answers; alone:
//!
//! ```text
//! cargo bench --bench peer -- [--input LOG.ndjson] [--answers OUT.json] [--snapshots 200] [--quick]
//! ```
//!
//! 1. bulk append of the whole log into a fresh store (parse, validate, write, fsync),
//!    then preparing every place's derived data, as `shiftlog append` does after writing
//!    (index, checkpoints and fold-ready form; timed apart);
//! 2. reopening the store;
//! 3. the month-end evolution of every place (all metrics), in process; and the floor it
//!    stands on: reading and decoding every place's fold-ready form alone (and, beside
//!    it, reading every history from the log, the way without derived data);
//! 4. single snapshots of random places at random dates (seeded), each timed;
//! 5. raw sled: the same encoded records written in batches of 10,000, flushed after each.
//!
//! It prints the figures and writes them, with every place's month-end relationships,
//! connected actors, components and max degree, as JSON to `--answers`.

mod common;

use serde_json::json;
use shiftlog::{Engine, Every, KnownAt, NdjsonReader, ParsedInput, Position};
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let quick = common::quick();
    let input = arg("--input").map_or_else(|| common::input(quick), PathBuf::from);
    let answers = arg("--answers").map_or_else(|| std::env::temp_dir().join("shiftlog-peer.json"), PathBuf::from);
    let snapshots: usize = arg("--snapshots").map_or(if quick { 20 } else { 200 }, |s| s.parse().unwrap());
    let rt = common::runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");

        // 1. Bulk append.
        let engine = Engine::open(&store).unwrap();
        let start = Instant::now();
        let mut parsed = ParsedInput::default();
        for item in NdjsonReader::new(BufReader::new(std::fs::File::open(&input).unwrap())) {
            parsed.events.push(item.expect("the input is valid"));
        }
        let events = engine.ingest(parsed, &[]).await.expect("the input appends").appended();
        let append_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        engine.prepare(|_, _| {}).await.unwrap();
        let prepare_s = start.elapsed().as_secs_f64();
        let size_on_disk = engine.stats().await.unwrap().size_on_disk;
        drop(engine);
        println!(
            "shiftlog bulk append: {events} events in {append_s:.2} s = {:.0} events/s; then preparing every place: {prepare_s:.2} s",
            events as f64 / append_s
        );

        // 2. Reopen.
        let start = Instant::now();
        let engine = Engine::open_existing(&store).unwrap();
        let open_s = start.elapsed().as_secs_f64();
        println!("shiftlog open: {:.1} ms", open_s * 1e3);

        // 3. Month-end evolution of every place.
        let start = Instant::now();
        let series = engine
            .evolve(None, Every::Month, None, None, KnownAt::Everything)
            .await
            .unwrap();
        let evolve_s = start.elapsed().as_secs_f64();
        let steps: usize = series.values().map(Vec::len).sum();
        println!(
            "shiftlog month-end evolution: {} places, {steps} snapshots in {evolve_s:.3} s",
            series.len()
        );
        // The floor: the read alone, the best of three (the histories are dropped
        // untimed).
        let places: Vec<_> = engine.places().await.unwrap();
        let projector = shiftlog::projection::Projector::new(engine.log().clone());
        let head = engine.head().0;
        let mut floor_s = f64::MAX;
        let mut log_read_s = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let ready = projector.fold_ready_histories(&places, head).await.unwrap();
            floor_s = floor_s.min(start.elapsed().as_secs_f64());
            assert!(ready.missing.is_empty(), "every place is prepared");
            drop(ready);
            let start = Instant::now();
            let read = shiftlog::projection::histories_with(
                engine.log().as_ref(),
                KnownAt::Everything,
                shiftlog::store::Detail::WithoutPersonalData,
            )
            .await
            .unwrap();
            log_read_s = log_read_s.min(start.elapsed().as_secs_f64());
            drop(read);
        }
        println!(
            "floor: reading and decoding every place's fold-ready form {:.1} ms (every history from the log: {:.1} ms); the evolution is {:.1}x the floor",
            floor_s * 1e3,
            log_read_s * 1e3,
            evolve_s / floor_s
        );

        // 4. Single snapshots at random dates, seeded.
        let mut spans = Vec::new();
        for p in &places {
            let first = engine.read_place(p, Position(1), 1).await.unwrap()[0].event.occurred_at;
            let last = series[p.as_str()].last().unwrap().at;
            spans.push((first.unix_seconds(), last.unix_seconds()));
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut times = Vec::with_capacity(snapshots);
        for _ in 0..snapshots {
            let i = (next() % places.len() as u64) as usize;
            let (a, b) = spans[i];
            let at = a + (next() % (b - a).max(1) as u64) as i64;
            let at = shiftlog::Timestamp::from_unix(at, 0).unwrap();
            let start = Instant::now();
            let snap = engine.snapshot(&places[i], at, KnownAt::Everything).await.unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(snap.place, places[i].as_str());
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "shiftlog single snapshots at random dates: {snapshots}, median {:.2} ms, p90 {:.2} ms, max {:.2} ms (first {:.2} ms)",
            pct(0.5),
            pct(0.9),
            pct(1.0),
            times[0]
        );

        // 5. Raw sled: the same records, encoded (and sealed) as shiftlog stores them.
        let keys = shiftlog::store::codec::MemoryKeys::default();
        let records: Vec<Vec<u8>> = engine
            .read(Position(1), usize::MAX)
            .await
            .unwrap()
            .iter()
            .map(|r| shiftlog::store::codec::encode(r, &keys))
            .collect();
        drop(engine);
        let raw_s = common::raw_sled(records.len(), 10_000, |i, batch| {
            batch.insert(&(i as u64).to_be_bytes(), records[i].as_slice());
        });
        println!(
            "raw sled: {} records in batches of 10,000, flushed after each: {raw_s:.2} s = {:.0} records/s",
            records.len(),
            records.len() as f64 / raw_s
        );

        let answers_json: serde_json::Map<String, serde_json::Value> = series
            .iter()
            .map(|(p, steps)| {
                let rows: Vec<_> = steps
                    .iter()
                    .map(|s| {
                        json!([
                            s.at.to_string(),
                            s.metrics.relationships,
                            s.metrics.connected_actors,
                            s.metrics.components,
                            s.metrics.max_degree
                        ])
                    })
                    .collect();
                (p.clone(), json!(rows))
            })
            .collect();
        let out = json!({
            "events": events,
            "input_bytes": std::fs::metadata(&input).unwrap().len(),
            "store_bytes": size_on_disk,
            "append_s": append_s,
            "prepare_s": prepare_s,
            "floor_s": floor_s,
            "log_read_s": log_read_s,
            "open_s": open_s,
            "evolve_s": evolve_s,
            "snapshots": snapshots,
            "snapshot_ms": {"median": pct(0.5), "p90": pct(0.9), "max": pct(1.0)},
            "raw_sled_s": raw_s,
            "answers": answers_json,
        });
        std::fs::write(&answers, serde_json::to_string(&out).unwrap()).unwrap();
        println!("answers and figures: {}", answers.display());
    });
}
