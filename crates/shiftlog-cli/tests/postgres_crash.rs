//! Crashes on PostgreSQL: a server killed with SIGKILL in the middle of appends, and a
//! primary with a synchronous standby killed and the standby promoted. In both, every
//! acknowledged event is in the log exactly once, no batch is partial, positions stay
//! dense, and appends go on. Throwaway clusters (skipped without PostgreSQL's binaries
//! unless `SHIFTLOG_POSTGRES_TESTS=required`).

mod common;

use common::Server;
use serde_json::{json, Value};
use shiftlog::store::throwaway::{self, Cluster};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BATCH: usize = 3;

fn cli(store: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut c = common::on_store(store);
    c.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = common::finish(child, &format!("{args:?}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server on the database at `url`, without tokens (loopback only). Its log goes to a
/// file (a closed pipe would fail its writes once the database goes away and it says so),
/// kept in `logs` for a failing test to show.
#[allow(clippy::zombie_processes)] // `Server`'s drop kills and waits for it.
fn serve(url: &str, logs: &tempfile::TempDir) -> Server {
    let log = logs
        .path()
        .join(format!("server-{}.log", SERVERS.fetch_add(1, Ordering::Relaxed)));
    let mut child = common::on_store(url)
        .args(["serve", "--open", "--addr", "127.0.0.1:0"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().to_owned();
            return Server { child, addr };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the server did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One append; `Ok` only when the server answered 2xx in full. A server or database that
/// dies mid-request gives `Err`: the batch is then not acknowledged (it may or may not be
/// in the log, but never in part).
fn append(addr: &str, body: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text}"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{status}: {text}"))
    }
}

fn batch(writer: &str, n: usize) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut body = String::new();
    for k in 0..BATCH {
        let id = format!("{writer}-b{n}-e{k}");
        body.push_str(
            &json!({"type":"learning_recorded","id":id,"occurred_at":"2025-03-01","place":"vale",
                    "actors":["actor-0"],"text":format!("writer {writer}, batch {n}, event {k}")})
            .to_string(),
        );
        body.push('\n');
        ids.push(id);
    }
    (ids, body)
}

/// Writers appending batches through `addrs` until `stop`; the batches acknowledged, and
/// whether any append failed.
struct Writers {
    acknowledged: Arc<Mutex<Vec<Vec<String>>>>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    /// `round` keeps the ids of writers started later apart from earlier ones' (the same id
    /// with the same body would be taken as a retry, not a new event).
    fn start(round: &str, addrs: &[String], per_server: usize) -> Writers {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for w in 0..addrs.len() * per_server {
            let addr = addrs[w % addrs.len()].clone();
            let writer = format!("{round}{w}");
            let (acknowledged, failures, stop) = (acknowledged.clone(), failures.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (ids, body) = batch(&writer, n);
                    n += 1;
                    match append(&addr, &body) {
                        Ok(()) => acknowledged.lock().unwrap().push(ids),
                        Err(e) => {
                            failures.lock().unwrap().push(e);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            }));
        }
        Writers {
            acknowledged,
            failures,
            stop,
            threads,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Waits until at least `n` batches are acknowledged.
    fn wait_for(&self, n: usize) {
        for _ in 0..1200 {
            if self.count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "only {} batches acknowledged in 60 s; failures: {:?}",
            self.count(),
            self.failures.lock().unwrap().iter().take(3).collect::<Vec<_>>()
        );
    }

    /// Waits until writer `writer` (its id prefix) has `n` batches acknowledged.
    fn wait_for_writer(&self, writer: &str, n: usize) {
        let prefix = format!("{writer}-");
        let done = || {
            self.acknowledged
                .lock()
                .unwrap()
                .iter()
                .filter(|b| b[0].starts_with(&prefix))
                .count()
        };
        for _ in 0..1200 {
            if done() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "writer {writer}: {} batches acknowledged in 60 s; failures: {:?}",
            done(),
            self.failures.lock().unwrap().iter().rev().take(3).collect::<Vec<_>>()
        );
    }

    fn finish(self) -> (Vec<Vec<String>>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().len();
        let acknowledged = std::mem::take(&mut *self.acknowledged.lock().unwrap());
        (acknowledged, failures)
    }
}

/// Every acknowledged batch is in the log at `url` exactly once, every batch in the log is
/// whole, and positions run 1..=n without a gap. Returns the number of events.
async fn check_log(url: &str, acknowledged: &[Vec<String>]) -> usize {
    let log: Vec<Value> = cli(url, &["log"], None)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = log.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an id is in the log twice");
    for batch in acknowledged {
        for id in batch {
            assert!(unique.contains(id), "acknowledged event {id} is not in the log");
        }
    }
    // No partial batch: the writers' events come in whole batches, acknowledged or not.
    let mut batches: BTreeMap<&str, usize> = BTreeMap::new();
    for id in ids.iter().filter(|i| i.contains("-b")) {
        *batches.entry(id.rsplit_once("-e").unwrap().0).or_default() += 1;
    }
    for (b, n) in &batches {
        assert_eq!(*n, BATCH, "batch {b} is in the log in part ({n} of {BATCH} events)");
    }
    let dense = throwaway::rows(url, "SELECT count(*), coalesce(max(position), 0) FROM shiftlog_events").await;
    assert_eq!(dense[0][0], dense[0][1], "positions have a gap");
    assert_eq!(dense[0][0].as_deref(), Some(ids.len().to_string().as_str()));
    ids.len()
}

fn setup(url: &str) {
    let events = [
        json!({"type":"place_registered","id":"p","occurred_at":"2025-01-01","place":"vale","name":"Vale"}),
        json!({"type":"actor_joined","id":"a0","occurred_at":"2025-01-02","place":"vale",
               "actor":"actor-0","kind":"group","name":"Group 0"}),
    ]
    .map(|e| e.to_string() + "\n")
    .concat();
    cli(url, &["append", "-"], Some(&events));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_append_loses_no_acknowledged_event_and_leaves_no_partial_batch() {
    let Some(cluster) = Cluster::start() else { return };
    let logs = tempfile::tempdir().unwrap();
    let url = cluster.database().await;
    setup(&url);
    let mut killed = serve(&url, &logs);
    let other = serve(&url, &logs);
    let writers = Writers::start("w", &[killed.addr.clone(), other.addr.clone()], 4);
    writers.wait_for(200);
    // Killed while its writers' requests are in flight: their transactions die with its
    // connections and are rolled back by the database.
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let before = writers.count();
    writers.wait_for(before + 100);
    let (acknowledged, failures) = writers.finish();
    assert!(failures > 0, "the killed server's writers never failed: was it killed?");
    let n = check_log(&url, &acknowledged).await;
    eprintln!(
        "server killed: {} batches acknowledged, {failures} failed appends, {n} events in the log",
        acknowledged.len()
    );
    drop(other);

    // A new server on the same database takes appends at once and continues the positions.
    let restarted = serve(&url, &logs);
    let writers = Writers::start("x", std::slice::from_ref(&restarted.addr), 2);
    writers.wait_for(20);
    let (more, _) = writers.finish();
    let all: Vec<Vec<String>> = acknowledged.into_iter().chain(more).collect();
    assert!(check_log(&url, &all).await > n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_and_its_synchronous_standby_promoted_loses_no_acknowledged_event() {
    let Some(primary) = Cluster::start() else { return };
    let logs = tempfile::tempdir().unwrap();
    let url = primary.database().await;
    setup(&url);
    let standby = primary.standby();
    primary.require_synchronous_standby().await;
    let standby_url = url.replace(&format!(":{}/", primary.port()), &format!(":{}/", standby.port()));
    assert_ne!(standby_url, url);

    // One server knows only the primary; the other is given both hosts and asks for the
    // one that takes writes (libpq's multi-host form), so it can reconnect by itself.
    let both = format!(
        "postgres://shiftlog@127.0.0.1:{},127.0.0.1:{}/{}?target_session_attrs=read-write",
        primary.port(),
        standby.port(),
        url.rsplit('/').next().unwrap()
    );
    let plain = serve(&url, &logs);
    let following = serve(&both, &logs);
    let writers = Writers::start("w", &[plain.addr.clone(), following.addr.clone()], 4);
    writers.wait_for(200);
    primary.kill();
    // Writers now fail (the database is gone); give them time to try.
    std::thread::sleep(Duration::from_millis(500));
    let (acknowledged, failures) = writers.finish();
    assert!(failures > 0, "no append failed after the primary died");
    drop(plain);

    standby.promote();
    let n = check_log(&standby_url, &acknowledged).await;
    eprintln!(
        "primary killed: {} batches acknowledged, {failures} failed appends, {n} events on the promoted standby",
        acknowledged.len()
    );
    assert!(n >= 2 + 200 * BATCH);

    // The server given both hosts reconnects to the promoted standby by itself, and one
    // restarted against it takes appends too; the log goes on from where it was.
    let restarted = serve(&standby_url, &logs);
    let writers = Writers::start("x", &[restarted.addr.clone(), following.addr.clone()], 2);
    writers.wait_for(40);
    // Writers 1 and 3 append through the server that was never restarted.
    writers.wait_for_writer("x1", 10);
    let (more, _) = writers.finish();
    let all: Vec<Vec<String>> = acknowledged.into_iter().chain(more).collect();
    assert!(check_log(&standby_url, &all).await > n);
}

/// The database goes away and comes back (a crash and its recovery) while nobody reads the
/// server's log any more (its stderr pipe closed, as when a log shipper dies): appends in
/// between are answered with an error, the server survives writing its log, and appends
/// go on once the database is back, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outlives_its_database_going_away_even_when_its_log_is_not_read() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    setup(&url);
    // common::Server reads the first line of stderr, then drops its end of the pipe.
    let unused = tempfile::tempdir().unwrap();
    let mut server = Server::start(unused.path(), &["--open", "--store", &url], None);
    append(&server.addr, &batch("a", 0).1).expect("an append before");
    cluster.kill();
    for n in 1..=3 {
        let answer = append(&server.addr, &batch("a", n).1);
        let e = answer.expect_err("an append with the database gone");
        assert!(e.starts_with("503") || e.starts_with("500"), "not an error answer: {e}");
    }
    assert!(server.child.try_wait().unwrap().is_none(), "the server died");
    cluster.restart();
    let mut answers = Vec::new();
    for n in 4..=50 {
        let r = append(&server.addr, &batch("a", n).1);
        let ok = r.is_ok();
        answers.push(r);
        if ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {answers:?}"
    );
    assert!(answers.last().unwrap().is_ok(), "no append went through: {answers:?}");
    for a in &answers {
        if let Err(e) = a {
            assert!(!e.starts_with("not HTTP"), "a request got no answer: {answers:?}");
        }
    }
    let log = cli(&url, &["log"], None);
    assert!(log.contains("a-b0-e0") && log.contains(&format!("a-b{}-e2", 3 + answers.len())));
}
