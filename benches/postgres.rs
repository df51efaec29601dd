//! The log on PostgreSQL, printed as numbers (run: `cargo bench --bench postgres`), on a
//! throwaway cluster with PostgreSQL's durable defaults (fsync and synchronous_commit on):
//!
//! 1. Bulk import: the same NDJSON input as the `append` bench, ingested whole (parse,
//!    validate, group commit in transactions of up to 20,000 events).
//! 2. Durable single-event appends from 16 tasks through one `PgLog`, and through two
//!    `PgLog`s on the same database (two servers), each task waiting for its append to be
//!    acknowledged before the next; with latency percentiles.
//! 3. Snapshot latency of one place after the import (first, then warm).
//! 4. Part 2 again with the database 0.5 ms away (a proxy in the bench delays every byte
//!    0.25 ms each way), as a database on another machine in the same data centre is:
//!    what each round trip a group makes costs there. (Not the kernel's `netem`: it is
//!    missing on machines like this one, and it would delay everything on loopback.)
//!
//! `--quick` (or `SHIFTLOG_BENCH_QUICK=1`) shrinks everything to check that the bench runs.
//! Without PostgreSQL's binaries it says so and exits (CI installs them).

mod common;

use shiftlog::store::throwaway::Cluster;
use shiftlog::store::Store;
use shiftlog::{parse_input, AppendRequest, Engine, Event, KnownAt, PgLog};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let quick = common::quick();
    let rt = common::runtime();
    let Some(cluster) = Cluster::start() else {
        println!("postgres bench skipped: PostgreSQL is not installed");
        return;
    };
    rt.block_on(async {
        bulk(&cluster, quick).await;
        for servers in [1, 2] {
            concurrent(&cluster, quick, servers, None).await;
        }
        let away = Duration::from_micros(250);
        for servers in [1, 2] {
            concurrent(&cluster, quick, servers, Some(away)).await;
        }
    });
}

async fn engine(url: &str) -> (Engine, Arc<PgLog>) {
    let log = Arc::new(PgLog::connect(url).await.unwrap());
    let engine = Engine::with_store(Store {
        log: log.clone(),
        maintenance: log.clone(),
    });
    (engine, log)
}

async fn bulk(cluster: &Cluster, quick: bool) {
    let path = common::input(quick);
    let url = cluster.database().await;
    let (engine, _) = engine(&url).await;
    let bulk = common::bulk_import(&engine, &path).await;
    let stats = engine.stats().await.unwrap();
    println!(
        "postgres bulk import: {} events in {:.2} s = {:.0} events/s (parse {:.2} s); tables {:.1} MB",
        bulk.appended,
        bulk.secs,
        bulk.appended as f64 / bulk.secs,
        bulk.parse_secs,
        stats.size_on_disk as f64 / 1e6
    );
    // Snapshot latency: the busiest place, first (cold) and then warm.
    let places = engine.places().await.unwrap();
    let mut busiest = (0, places[0].clone());
    for p in &places {
        let v = engine.version(&shiftlog::Stream::Place(p.clone())).await.unwrap();
        busiest = busiest.max((v, p.clone()));
    }
    let at: shiftlog::Timestamp = "2030-01-01".parse().unwrap();
    for label in ["first", "warm"] {
        let t = Instant::now();
        let snap = engine.snapshot(&busiest.1, at, KnownAt::Everything).await.unwrap();
        println!(
            "postgres snapshot of `{}` ({} events, {} actors), {label}: {:.1} ms",
            busiest.1,
            busiest.0,
            snap.actors.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// 16 tasks spread over `servers` logs on one database, each appending one event at a
/// time; with `delay`, every byte between the logs and the database is held that long
/// each way.
async fn concurrent(cluster: &Cluster, quick: bool, servers: usize, delay: Option<Duration>) {
    const TASKS: usize = 16;
    let per_task = if quick { 50 } else { 1_000 };
    let mut url = cluster.database().await;
    if let Some(delay) = delay {
        let port = delaying_proxy(cluster.port(), delay).await;
        url = url.replace(&format!(":{}/", cluster.port()), &format!(":{port}/"));
    }
    let mut engines = Vec::new();
    for _ in 0..servers {
        engines.push(engine(&url).await.0);
    }
    let places: String = (0..TASKS)
        .map(|t| format!("{{\"type\":\"place_registered\",\"id\":\"p{t}\",\"occurred_at\":\"2024-01-01\",\"place\":\"place-{t}\",\"name\":\"P{t}\"}}\n"))
        .collect();
    engines[0].ingest(parse_input(&places), &[]).await.unwrap();
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|t| {
            let engine = engines[t % servers].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let e: Event = serde_json::from_str(&format!(
                        "{{\"type\":\"learning_recorded\",\"id\":\"t{t}-{i}\",\"occurred_at\":\"2024-02-01\",\"place\":\"place-{t}\",\"text\":\"note {i}\"}}"
                    ))
                    .unwrap();
                    let t0 = Instant::now();
                    engine.append(AppendRequest::new(vec![e])).await.unwrap();
                    latencies.push(t0.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    let n = latencies.len();
    let away = match delay {
        Some(d) => format!(", database {:.1} ms away", 2.0 * d.as_secs_f64() * 1e3),
        None => String::new(),
    };
    println!(
        "postgres durable single-event appends, {TASKS} tasks over {servers} server(s){away}: {n} in {secs:.2} s = {:.0} appends/s; latency p50 {:.1} ms, p99 {:.1} ms",
        n as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
}

/// A TCP proxy on a free loopback port to the database at `to`, holding every chunk of
/// bytes `delay` before passing it on, in order, each way. Returns its port. On threads
/// of its own, not tokio's timer (whose granularity is a millisecond).
async fn delaying_proxy(to: u16, delay: Duration) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let ways = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ];
            for (mut from, mut into) in ways {
                let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                std::thread::spawn(move || {
                    while let Ok((at, bytes)) = rx.recv() {
                        std::thread::sleep(at.saturating_duration_since(Instant::now()));
                        if into.write_all(&bytes).is_err() {
                            break;
                        }
                    }
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}
