//! HTTP throughput and latency: durable single-event appends from 16 concurrent clients,
//! and snapshot requests for one place. Prints numbers (docs/performance.md keeps them).
//!
//! `cargo bench -p shiftlog-server --bench http` (`-- --quick` only checks it runs).

use serde_json::json;
use shiftlog::{parse_input, Engine};
use shiftlog_server::tokens::{Role, TokenStore};
use shiftlog_server::{Access, ServerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, n: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{what}: {n} requests in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
}

/// Runs `each` requests on each of 16 clients; returns the wall time and every latency.
async fn load<F, Fut>(each: usize, request: F) -> (Duration, Vec<Duration>)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let request = request.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut lat = Vec::with_capacity(each);
                for i in 0..each {
                    let t = Instant::now();
                    request(client.clone(), c, i).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (start.elapsed(), all)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let each = if quick { 10 } else { 500 };
    // `cargo bench -p shiftlog-server --bench http -- postgres`: the PostgreSQL part alone.
    if std::env::args().any(|a| a == "postgres") {
        postgres(each).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/generated-inquiry.ndjson");
    engine
        .ingest(parse_input(&std::fs::read_to_string(example).unwrap()), &[])
        .await
        .unwrap();
    let tokens = Arc::new(TokenStore::new(dir.path()));
    let (admin, _) = tokens.create(Role::Admin, vec![]).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shiftlog_server::serve(
        listener,
        engine.clone(),
        Access::Tokens(tokens),
        ServerConfig::default(),
        std::future::pending(),
    ));

    // Durable appends: one event per request, each client its own place.
    for c in 0..CLIENTS {
        let e = json!({"type":"place_registered","id":format!("bench-{c}"),"occurred_at":"2024-01-01","place":format!("bench-{c}"),"name":"B"});
        engine.ingest(parse_input(&e.to_string()), &[]).await.unwrap();
    }
    let (url, token) = (format!("{base}/v1/events"), admin.clone());
    let (elapsed, lat) = load(each, move |client, c, i| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let e = json!({"type":"actor_joined","id":format!("bench-{c}-{i}"),"occurred_at":"2024-01-02","place":format!("bench-{c}"),"actor":format!("bench-{c}-a{i}"),"kind":"person"});
            let r = client.post(url).bearer_auth(token).body(e.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
    })
    .await;
    report(
        "POST /v1/events, 1 event each, 16 clients, durable (fdatasync)",
        CLIENTS * each,
        elapsed,
        lat,
    );

    // Snapshots of one place at a late date (from its checkpoints after the first).
    let (elapsed, lat) = snapshots(&base, &admin, vec!["place-000".into()], each).await;
    report(
        "GET snapshot of place-000 (351 events) at a late date, 16 clients",
        CLIENTS * each,
        elapsed,
        lat,
    );

    // Snapshots of every place in turn: different places' folds run at once.
    let places: Vec<String> = engine
        .places()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.to_string())
        .filter(|p| !p.starts_with("bench-"))
        .collect();
    let n = places.len();
    let (elapsed, lat) = snapshots(&base, &admin, places, each).await;
    report(
        &format!("GET snapshot of the {n} places in turn at a late date, 16 clients"),
        CLIENTS * each,
        elapsed,
        lat,
    );

    // A different date each request (336 dates over 2024, in turn): most fold events no
    // recent request folded, so they read the log and compute their measures afresh
    // (shiftlog-projection's memo serves the rest).
    let (elapsed, lat) = snapshots_at(&base, &admin, vec!["place-000".into()], each, |c, i| {
        let n = (c * 1000 + i) * 37 % 336;
        format!("2024-{:02}-{:02}", 1 + n % 12, 1 + n / 12)
    })
    .await;
    report(
        "GET snapshot of place-000 at a different date each request, 16 clients",
        CLIENTS * each,
        elapsed,
        lat,
    );

    postgres(each).await;
}

/// Durable single-event appends over HTTP from 16 clients on PostgreSQL, through one and
/// through two servers on one database, without and with a synchronous standby (every
/// commit waits until the standby has flushed it).
async fn postgres(each: usize) {
    use shiftlog::store::throwaway::Cluster;
    use shiftlog::store::Store;
    for with_standby in [false, true] {
        let Some(primary) = Cluster::start() else {
            println!("PostgreSQL appends skipped: PostgreSQL is not installed");
            return;
        };
        let standby = with_standby.then(|| primary.standby());
        if standby.is_some() {
            primary.require_synchronous_standby().await;
        }
        for (servers, joins) in [(1, false), (1, true), (2, false), (2, true)] {
            let url = primary.database().await;
            let mut bases = Vec::new();
            for _ in 0..servers {
                let log = Arc::new(shiftlog::PgLog::connect(&url).await.unwrap());
                let engine = Engine::with_store(Store {
                    log: log.clone(),
                    maintenance: log,
                });
                if bases.is_empty() {
                    for c in 0..CLIENTS {
                        let e = json!({"type":"place_registered","id":format!("bench-{c}"),"occurred_at":"2024-01-01","place":format!("bench-{c}"),"name":"B"});
                        engine.ingest(parse_input(&e.to_string()), &[]).await.unwrap();
                    }
                }
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bases.push(format!("http://{}/v1/events", listener.local_addr().unwrap()));
                tokio::spawn(shiftlog_server::serve(
                    listener,
                    engine,
                    Access::Open,
                    ServerConfig::default(),
                    std::future::pending(),
                ));
            }
            let bases = Arc::new(bases);
            let (elapsed, lat) = load(each, move |client, c, i| {
                let url = bases[c % bases.len()].clone();
                async move {
                    // A join also creates the actor's key row; a note writes the event alone.
                    let e = if joins {
                        json!({"type":"actor_joined","id":format!("bench-{c}-{i}"),"occurred_at":"2024-01-02","place":format!("bench-{c}"),"actor":format!("bench-{c}-a{i}"),"kind":"person"})
                    } else {
                        json!({"type":"learning_recorded","id":format!("bench-{c}-{i}"),"occurred_at":"2024-01-02","place":format!("bench-{c}"),"text":format!("note {i}")})
                    };
                    let r = client
                        .post(url)
                        .header("content-type", "application/x-ndjson")
                        .body(e.to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
            .await;
            report(
                &format!(
                    "PostgreSQL: POST /v1/events, 1 {} each, 16 clients over {servers} server(s), {}",
                    if joins { "actor_joined" } else { "learning_recorded" },
                    if with_standby {
                        "synchronous standby"
                    } else {
                        "no standby"
                    }
                ),
                CLIENTS * each,
                elapsed,
                lat,
            );
        }
        drop(standby);
    }
}

/// `each` snapshot requests per client at a late date, client `c`'s `i`th asking for
/// place `(c + i) % places.len()`.
async fn snapshots(base: &str, token: &str, places: Vec<String>, each: usize) -> (Duration, Vec<Duration>) {
    snapshots_at(base, token, places, each, |_, _| "2024-12-31".to_string()).await
}

/// [`snapshots`] with client `c`'s `i`th request at the date `at(c, i)`.
async fn snapshots_at(
    base: &str,
    token: &str,
    places: Vec<String>,
    each: usize,
    at: fn(usize, usize) -> String,
) -> (Duration, Vec<Duration>) {
    let (base, token, places) = (base.to_string(), token.to_string(), Arc::new(places));
    load(each, move |client, c, i| {
        let url = format!(
            "{base}/v1/places/{}/snapshot?at={}",
            places[(c + i) % places.len()],
            at(c, i)
        );
        let token = token.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        }
    })
    .await
}
