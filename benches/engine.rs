//! Criterion benchmarks of the engine's main paths:
//!
//! - `append`: durable appends of batches of 1, 100 and 10,000 events;
//! - `snapshot`: the smallest and the largest place, at a checkpoint ("near") and just
//!   before the next one ("far": a checkpoint interval of events to fold);
//! - `evolution`: month-end metrics of the largest place, and of every place;
//! - `diff`: the largest place between its first month and its last;
//! - `codec`: encoding and decoding 1,000 stored records.
//!
//! ```text
//! cargo bench --bench engine                 # on the 200k-event log (gen_inquiry.py, or $SHIFTLOG_BENCH_INPUT)
//! cargo bench --bench engine -- --test       # each once, on the small committed log: checks they run (CI)
//! ```

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use shiftlog::projection::Projector;
use shiftlog::{
    parse_input, AppendRequest, Engine, Event, Every, KnownAt, NdjsonReader, PlaceId, Position, Stream, Timestamp,
};
use std::io::BufReader;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Criterion's `--test` mode (run each once): use the small committed log.
fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn append(c: &mut Criterion) {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let place = r#"{"type":"place_registered","id":"p","occurred_at":"2024-01-01","place":"bench","name":"Bench"}"#;
    rt.block_on(engine.ingest(parse_input(place), &[])).unwrap();
    let mut next_id = 0u64;
    let mut batch = |n: usize| -> Vec<Event> {
        (0..n)
            .map(|_| {
                next_id += 1;
                serde_json::from_str(&format!(
                    r#"{{"type":"learning_recorded","id":"e{next_id}","occurred_at":"2024-02-01","place":"bench","text":"a note about who was in the room, number {next_id}"}}"#
                ))
                .unwrap()
            })
            .collect()
    };
    let mut group = c.benchmark_group("append (durable)");
    for n in [1usize, 100, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        if n == 10_000 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let events = batch(n);
                    let start = Instant::now();
                    rt.block_on(engine.append(AppendRequest::new(events))).unwrap();
                    spent += start.elapsed();
                }
                spent
            })
        });
    }
    group.finish();
}

/// A store holding the bench log, with the smallest and largest places.
struct Loaded {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    _dir: tempfile::TempDir,
    small: PlaceId,
    large: PlaceId,
}

fn loaded() -> Loaded {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let path = common::input(test_mode());
    let mut parsed = shiftlog::ParsedInput::default();
    for item in NdjsonReader::new(BufReader::new(std::fs::File::open(&path).unwrap())) {
        parsed.events.push(item.unwrap());
    }
    rt.block_on(engine.ingest(parsed, &[])).unwrap();
    let mut sizes: Vec<(u64, PlaceId)> = rt.block_on(async {
        let mut out = Vec::new();
        for p in engine.places().await.unwrap() {
            out.push((engine.version(&Stream::Place(p.clone())).await.unwrap(), p));
        }
        out
    });
    sizes.sort();
    Loaded {
        small: sizes.first().unwrap().1.clone(),
        large: sizes.last().unwrap().1.clone(),
        rt,
        engine,
        _dir: dir,
    }
}

fn projections(c: &mut Criterion) {
    let l = loaded();
    let projector = Projector::new(l.engine.log().clone());
    let mut group = c.benchmark_group("snapshot");
    for (size, place) in [("small", &l.small), ("large", &l.large)] {
        // Build the place's checkpoints, then pick one in the middle of its history.
        let late: Timestamp = "2100-01-01".parse().unwrap();
        l.rt.block_on(l.engine.snapshot(place, late, KnownAt::Everything))
            .unwrap();
        let checkpoints = l.rt.block_on(projector.checkpoints(place)).unwrap();
        let (near, far) = match checkpoints.len() {
            0 | 1 => (late, late),
            n => {
                let (at, _) = checkpoints[n / 2 - 1];
                let (next, _) = checkpoints[n / 2];
                let before_next = Timestamp::from_unix(next.unix_seconds() - 1, 0).unwrap();
                (at, before_next.max(at))
            }
        };
        for (distance, at) in [("at a checkpoint", near), ("a checkpoint interval past one", far)] {
            group.bench_function(format!("{size} place, {distance}"), |b| {
                b.iter(|| {
                    l.rt.block_on(l.engine.snapshot(place, at, KnownAt::Everything))
                        .unwrap()
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("evolution (month ends)");
    group.sample_size(10);
    group.bench_function("largest place", |b| {
        b.iter(|| {
            l.rt.block_on(
                l.engine
                    .evolve(Some(&l.large), Every::Month, None, None, KnownAt::Everything),
            )
            .unwrap()
        })
    });
    group.bench_function("every place", |b| {
        b.iter(|| {
            l.rt.block_on(l.engine.evolve(None, Every::Month, None, None, KnownAt::Everything))
                .unwrap()
        })
    });
    group.finish();

    let series =
        l.rt.block_on(
            l.engine
                .evolve(Some(&l.large), Every::Month, None, None, KnownAt::Everything),
        )
        .unwrap();
    let steps = &series[l.large.as_str()];
    let (from, to) = (steps[0].at, steps[steps.len() - 1].at);
    c.bench_function("diff (largest place, first month to last)", |b| {
        b.iter(|| {
            l.rt.block_on(l.engine.diff(&l.large, from, to, KnownAt::Everything))
                .unwrap()
        })
    });

    let records = l.rt.block_on(l.engine.read(Position(1), 1_000)).unwrap();
    // Records are sealed as the store seals them (per-actor keys).
    let keys = shiftlog::store::codec::MemoryKeys::default();
    let encode = |r| shiftlog::store::codec::encode(r, &keys);
    let encoded: Vec<Vec<u8>> = records.iter().map(encode).collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("codec (1,000 records)");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("encode", |b| b.iter(|| records.iter().map(encode).collect::<Vec<_>>()));
    group.bench_function("decode", |b| {
        b.iter_batched(
            || (),
            |()| {
                encoded
                    .iter()
                    .map(|e| shiftlog::store::codec::decode(e, &keys).unwrap())
                    .collect::<Vec<_>>()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, append, projections);
criterion_main!(benches);
