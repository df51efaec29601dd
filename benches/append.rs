//! Append throughput, printed as numbers (run: `cargo bench --bench append`).
//!
//! 1. Bulk: an NDJSON input appended whole, as `shiftlog append FILE` does (parse,
//!    validate, write, flush). The input is `$SHIFTLOG_BENCH_INPUT`, or else generated
//!    with `../shared/datasets/gen_inquiry.py --places 20 --actors 150 --events 200000`.
//! 2. Concurrent durable single-event appends: 8 tokio tasks, each appending one event
//!    at a time and waiting for it to be durable before the next.
//!
//! `--quick` (or `SHIFTLOG_BENCH_QUICK=1`) shrinks both to check that the bench runs
//! (CI runs it so), using the committed example log instead of generating one.

mod common;

use shiftlog::{parse_input, AppendRequest, Durability, Engine, Event, SledOptions};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let quick = common::quick();
    let rt = common::runtime();
    rt.block_on(async {
        let path = common::input(quick);
        let size = std::fs::metadata(&path).unwrap().len();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let bulk = common::bulk_import(&engine, &path).await;
        let stats = engine.stats().await.unwrap();
        println!(
            "bulk append: {} events ({:.1} MB NDJSON) in {:.2} s = {:.0} events/s (parse {:.2} s); store {:.1} MB",
            bulk.appended,
            size as f64 / 1e6,
            bulk.secs,
            bulk.appended as f64 / bulk.secs,
            bulk.parse_secs,
            stats.size_on_disk as f64 / 1e6
        );
        // The floor uses records of the same mean size as shiftlog's encoded events.
        let sample = engine.read(shiftlog::Position(1), 10_000).await.unwrap();
        let record_size = sample
            .iter()
            .map(|r| shiftlog::store::codec::encode(r, &shiftlog::store::codec::MemoryKeys::default()).len())
            .sum::<usize>()
            / sample.len().max(1);
        drop(engine);
        raw_sled(bulk.appended, record_size);

        for durability in [Durability::Full, Durability::Process] {
            for in_flight in [1usize, 4] {
                concurrent(quick, durability, in_flight).await;
            }
        }
    });
}

/// The floor: raw sled writing `n` records of `size` bytes keyed by a sequence number,
/// in batches of 1,000 with a flush after each (one insert per record), and again with a
/// second insert per record (an id index, as shiftlog keeps).
fn raw_sled(n: usize, size: usize) {
    let value = vec![0x5au8; size];
    for with_index in [false, true] {
        let secs = common::raw_sled(n, 1000, |i, batch| {
            batch.insert(&(i as u64).to_be_bytes(), value.as_slice());
            if with_index {
                batch.insert(format!("i/ev-{i}").as_bytes(), &(i as u64).to_be_bytes());
            }
        });
        println!(
            "raw sled, {n} records of {size} B, batches of 1000, flush each{}: {secs:.2} s = {:.0} records/s",
            if with_index { ", plus an id index" } else { "" },
            n as f64 / secs
        );
    }
}

/// 8 tasks appending single events, each keeping `in_flight` appends outstanding (1: each
/// waits for its append to be durable before the next).
async fn concurrent(quick: bool, durability: Durability, in_flight: usize) {
    let tasks = 8usize;
    let per_task = if quick { 200 } else { 5_000 };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), SledOptions::default().durability(durability)).unwrap();
    let places: String = (0..tasks)
            .map(|t| format!("{{\"type\":\"place_registered\",\"id\":\"p{t}\",\"occurred_at\":\"2024-01-01\",\"place\":\"place-{t}\",\"name\":\"P{t}\"}}\n"))
            .collect();
    engine.ingest(parse_input(&places), &[]).await.unwrap();
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let one = |i: usize| {
                        let e: Event = serde_json::from_str(&format!(
                            "{{\"type\":\"learning_recorded\",\"id\":\"t{t}-{i}\",\"occurred_at\":\"2024-02-01\",\"place\":\"place-{t}\",\"text\":\"note {i}\"}}"
                        ))
                        .unwrap();
                        let engine = engine.clone();
                        async move { engine.append(AppendRequest::new(vec![e])).await.unwrap() }
                    };
                    let mut pending = futures_lite_unordered(in_flight);
                    for i in 0..per_task {
                        pending.push(Box::pin(one(i))).await;
                    }
                    pending.drain().await;
                })
            })
            .collect();
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = tasks * per_task;
    println!(
            "concurrent single-event appends ({durability:?} durability, {in_flight} in flight per task): {tasks} tasks x {per_task} = {n} events in {secs:.2} s = {:.0} events/s",
            n as f64 / secs
        );
}

type AppendFuture = std::pin::Pin<Box<dyn std::future::Future<Output = shiftlog::AppendOutcome> + Send>>;

/// A bounded window of outstanding appends, answered in order.
struct Window {
    max: usize,
    queue: std::collections::VecDeque<tokio::task::JoinHandle<shiftlog::AppendOutcome>>,
}

fn futures_lite_unordered(max: usize) -> Window {
    Window {
        max,
        queue: Default::default(),
    }
}

impl Window {
    async fn push(&mut self, f: AppendFuture) {
        if self.queue.len() == self.max {
            self.queue.pop_front().unwrap().await.unwrap();
        }
        self.queue.push_back(tokio::spawn(f));
    }

    async fn drain(&mut self) {
        while let Some(h) = self.queue.pop_front() {
            h.await.unwrap();
        }
    }
}
