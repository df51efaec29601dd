//! Crash test: a child process appends batches in a loop and reports each one the log
//! acknowledged; the parent kills it with SIGKILL at random moments, reopens the store,
//! and checks that every acknowledged batch is there, no batch is half-written, and
//! positions are dense. Runs as its own binary (`harness = false`): the child is this
//! same executable started with `child DIR ROUND`.

use serde_json::json;
use shiftlog_model::Event;
use shiftlog_store::{AppendRequest, EventLog, Position, SledLog};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const ROUNDS: u64 = 12;

/// A small deterministic generator (no dependency needed for this).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn batch(round: u64, k: u64, n: u64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let v = json!({"type": "learning_recorded", "id": format!("r{round}-b{k}-{i}of{n}"), "occurred_at": "2023-02-01",
                "place": "northbrook", "text": format!("round {round} batch {k} event {i}")});
            Event::from_json(&v).unwrap()
        })
        .collect()
}

fn child(dir: &str, round: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = SledLog::open(dir).unwrap();
        let reg = json!({"type": "place_registered", "id": "p", "occurred_at": "2023-01-01", "place": "northbrook", "name": "N"});
        log.append(AppendRequest::new(vec![Event::from_json(&reg).unwrap()])).await.unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((round + 1) * 0x1234_5678));
        let mut out = std::io::stdout();
        for k in 0.. {
            // Mostly small batches, now and then one large enough to need several sled
            // batches (more than SUB_BATCH events).
            let n = if rng.below(10) == 0 { 2_000 + rng.below(4_000) } else { 1 + rng.below(40) };
            let res = log.append(AppendRequest::new(batch(round, k, n))).await.unwrap();
            writeln!(out, "ack r{round}-b{k} {n} {}", res.head).unwrap();
            out.flush().unwrap();
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return child(&args[2], args[3].parse().unwrap());
    }
    if args.iter().any(|a| a == "--list") {
        println!("crash: test");
        return;
    }
    // Show the store's warnings, such as an unfinished append removed on reopen.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let (mut passed, mut failed) = (0, 0);
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["child", dir.path().to_str().unwrap(), &round.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.below(600)));
        child.kill().unwrap(); // SIGKILL
        let stdout = child.stdout.take().unwrap();
        child.wait().unwrap();
        let mut this_round = 0;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let parts: Vec<_> = line.split(' ').collect();
            if parts.len() == 4 && parts[0] == "ack" {
                acked.insert(parts[1].to_string(), parts[2].parse().unwrap());
                this_round += 1;
            }
        }
        match verify(dir.path(), &acked) {
            Ok(total) => {
                passed += 1;
                println!("round {round}: killed after {this_round} acknowledged batches; {total} events verified");
            }
            Err(e) => {
                failed += 1;
                println!("round {round}: FAILED: {e}");
            }
        }
    }
    println!("crash: {passed} passed, {failed} failed");
    if failed > 0 || acked.is_empty() {
        std::process::exit(1);
    }
}

fn verify(dir: &std::path::Path, acked: &BTreeMap<String, u64>) -> Result<usize, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = SledLog::open(dir).map_err(|e| format!("reopen: {e}"))?;
        let all = log
            .read(Position(1), usize::MAX)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if all.len() as u64 != log.head().0 {
            return Err(format!("{} events read, head {}", all.len(), log.head()));
        }
        let mut batches: BTreeMap<String, (u64, BTreeSet<u64>)> = BTreeMap::new();
        for (i, e) in all.iter().enumerate() {
            if e.position.0 != i as u64 + 1 {
                return Err(format!("gap: {} at index {i}", e.position));
            }
            let id = e.id().as_str();
            if id == "p" {
                continue;
            }
            let (b, rest) = id.rsplit_once('-').ok_or("bad id")?;
            let (i, n) = rest.split_once("of").ok_or("bad id")?;
            let entry = batches
                .entry(b.to_string())
                .or_insert((n.parse().unwrap(), BTreeSet::new()));
            if !entry.1.insert(i.parse().unwrap()) {
                return Err(format!("event {id} appears twice"));
            }
        }
        for (b, (n, seen)) in &batches {
            if seen.len() as u64 != *n {
                return Err(format!("batch {b} is half-written: {} of {n} events", seen.len()));
            }
        }
        for (b, n) in acked {
            match batches.get(b) {
                Some((m, _)) if m == n => {}
                _ => return Err(format!("acknowledged batch {b} ({n} events) is missing")),
            }
        }
        Ok(all.len())
    })
}
