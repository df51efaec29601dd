//! Projection timings, printed as numbers (run: `cargo bench --bench projections`).
//!
//! On the log of `gen_inquiry.py --places 20 --actors 150 --events 200000` (or
//! `$SHIFTLOG_BENCH_INPUT`): the month-end evolution of every place (480 snapshots for 24
//! months), one snapshot at a late date (first, when the place's checkpoints are built,
//! then again), and a comparison of all places. Each figure includes opening the store,
//! as a command would. `--quick` runs it on the small committed example instead.

mod common;

use shiftlog::{Engine, Every, KnownAt, NdjsonReader, PlaceId};
use std::io::BufReader;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let quick = common::quick();
    let rt = common::runtime();
    rt.block_on(async {
        let path = common::input(quick);
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Engine::open(dir.path()).unwrap();
            let mut parsed = shiftlog::ParsedInput::default();
            for item in NdjsonReader::new(BufReader::new(std::fs::File::open(&path).unwrap())) {
                parsed.events.push(item.unwrap());
            }
            let out = engine.ingest(parsed, &[]).await.unwrap();
            println!("store: {} events from {}", out.appended(), path.display());
        }
        let timed = |what: &str, start: Instant| println!("{what}: {:.3} s", start.elapsed().as_secs_f64());

        let start = Instant::now();
        let engine = Engine::open(dir.path()).unwrap();
        let series = engine
            .evolve(None, Every::Month, None, None, KnownAt::Everything)
            .await
            .unwrap();
        let steps: usize = series.values().map(Vec::len).sum();
        timed(
            &format!(
                "evolve --every month, all {} places ({steps} snapshots), open included",
                series.len()
            ),
            start,
        );
        drop(engine);

        let place: PlaceId = engine_place(dir.path()).await;
        let at = "2024-12-15".parse().unwrap();
        for round in ["first, building the place's checkpoints", "again, from a checkpoint"] {
            let start = Instant::now();
            let engine = Engine::open(dir.path()).unwrap();
            let snap = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
            timed(
                &format!(
                    "snapshot of {place} at 2024-12-15 ({} actors; {round}), open included",
                    snap.actors.len()
                ),
                start,
            );
        }
        for round in ["first", "again"] {
            let start = Instant::now();
            let engine = Engine::open(dir.path()).unwrap();
            let rows = engine
                .compare("2024-06-30".parse().unwrap(), KnownAt::Everything)
                .await
                .unwrap();
            timed(
                &format!("compare at 2024-06-30, {} places ({round}), open included", rows.len()),
                start,
            );
        }
    });
}

/// The place with the most events.
async fn engine_place(dir: &std::path::Path) -> PlaceId {
    let engine = Engine::open(dir).unwrap();
    let mut best = None;
    for p in engine.places().await.unwrap() {
        let v = engine.version(&shiftlog::Stream::Place(p.clone())).await.unwrap();
        if best.as_ref().is_none_or(|(_, w)| v > *w) {
            best = Some((p, v));
        }
    }
    best.unwrap().0
}
