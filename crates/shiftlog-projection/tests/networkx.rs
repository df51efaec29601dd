//! Every measure against an independent implementation: networkx 3 computes them from the
//! same actors and relationships (`networkx/measures.py`), on random networks and on
//! snapshots of the generated example log, and must agree to 1e-9.
//!
//! Needs `python3` with networkx 3 (`SHIFTLOG_PYTHON` names the interpreter; `.ci/run`
//! makes a virtual environment with it). Without it the test says so and passes, unless
//! `SHIFTLOG_NETWORKX_TESTS=required` (set by `.ci/run`).

mod common;

use serde_json::{json, Value};
use shiftlog_model::{Event, Timestamp};
use shiftlog_projection::{compute, PlaceState};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog, Position, Stream};
use std::path::Path;
use std::process::Command;

/// A small deterministic generator (xorshift), so that failures can be replayed by seed.
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
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// A random network as events: actors with or without a sector, relationships of three
/// kinds with or without trust and value, some isolates and some pairs joined twice.
fn random_log(seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let n = rng.below(28);
    let p = 20 + rng.below(400); // per mille
    let mut out =
        vec![json!({"type": "place_registered", "id": "p", "occurred_at": "2024-01-01", "place": "x", "name": "X"})];
    for i in 0..n {
        let mut a = json!({"type": "actor_joined", "id": format!("a{i}"), "occurred_at": "2024-01-02", "place": "x",
                           "actor": format!("n{i:02}"), "kind": "organisation"});
        if !rng.chance(200) {
            a["sector"] = json!(["public", "vcse", "health"][rng.below(3) as usize]);
        }
        out.push(a);
    }
    let mut k = 0;
    for u in 0..n {
        for v in 0..n {
            if u == v || !rng.chance(p) {
                continue;
            }
            for kind in ["collaboration", "funding", "information"] {
                if kind != "collaboration" && !rng.chance(250) {
                    continue;
                }
                let mut r = json!({"type": "relationship_formed", "id": format!("r{k}"), "occurred_at": "2024-02-01",
                                   "place": "x", "from": format!("n{u:02}"), "to": format!("n{v:02}"), "kind": kind});
                if rng.chance(600) {
                    r["trust"] = json!(rng.below(101) as f64 / 100.0);
                }
                if rng.chance(400) {
                    r["value"] = json!(rng.below(101) as f64 / 100.0);
                }
                out.push(r);
                k += 1;
            }
        }
    }
    out
}

/// A case for the script: the snapshot's actors (with their measures) and relationships,
/// and its metrics.
fn case(name: String, state: &PlaceState) -> Value {
    let (metrics, per) = compute(state);
    let actors: Vec<Value> = state
        .actors
        .iter()
        .filter(|(_, s)| s.active)
        .map(|(id, s)| {
            let mut a = serde_json::to_value(&per[id]).unwrap();
            a["id"] = json!(id.as_str());
            a["sector"] = json!(s.sector);
            a
        })
        .collect();
    let relationships: Vec<Value> = state
        .relationships
        .iter()
        .map(|((from, to, kind), r)| {
            json!({"from": from.as_str(), "to": to.as_str(), "kind": kind, "trust": r.trust, "value": r.value})
        })
        .collect();
    json!({"name": name, "actors": actors, "relationships": relationships, "metrics": metrics})
}

async fn recorded(values: &[Value]) -> Vec<shiftlog_store::RecordedEvent> {
    let log = MemoryLog::new();
    let events: Vec<Event> = values.iter().map(|v| Event::from_json(v).unwrap()).collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    log.read(Position(1), usize::MAX).await.unwrap()
}

fn python() -> Option<String> {
    let python = std::env::var("SHIFTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args([
            "-c",
            "import networkx, sys; sys.exit(0 if int(networkx.__version__.split('.')[0]) >= 3 else 1)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let required = std::env::var("SHIFTLOG_NETWORKX_TESTS").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "{python} with networkx 3 is needed (python3 -m venv V && V/bin/pip install networkx)"
    );
    eprintln!("skipped: {python} with networkx 3 is missing (python3 -m venv V && V/bin/pip install networkx)");
    None
}

#[tokio::test]
async fn every_measure_agrees_with_networkx() {
    let Some(python) = python() else { return };
    let mut cases = Vec::new();
    // Random networks.
    for seed in 1..=80 {
        let all = recorded(&random_log(seed)).await;
        let at: Timestamp = "2024-03-01".parse().unwrap();
        cases.push(case(
            format!("random network {seed}"),
            &common::naive(&all, at, u64::MAX),
        ));
    }
    // Snapshots of the generated example log: every place at four dates.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/generated-inquiry.ndjson"),
    )
    .unwrap();
    let values: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let all = recorded(&values).await;
    let places: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|r| match &r.stream {
            Stream::Place(p) => Some(p.to_string()),
            Stream::Unplaced => None,
        })
        .collect();
    for place in &places {
        let mine: Vec<_> = all
            .iter()
            .filter(|r| matches!(&r.stream, Stream::Place(p) if p.as_str() == place))
            .cloned()
            .collect();
        for at in ["2023-06-30", "2023-12-31", "2024-06-30", "2024-12-31"] {
            let state = common::naive(&mine, at.parse().unwrap(), u64::MAX);
            cases.push(case(format!("{place} at {at}"), &state));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_string(&cases).unwrap()).unwrap();
    if let Ok(keep) = std::env::var("SHIFTLOG_KEEP_CASES") {
        // For looking into a difference: the cases as the script read them.
        std::fs::copy(&file, keep).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/networkx/measures.py");
    let out = Command::new(&python).arg(&script).arg(&file).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    eprintln!("{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the engine and networkx differ:\n{said}");
    // The cases are not trivial: the random networks have triangles, sectors and ratings.
    let nontrivial = cases
        .iter()
        .filter(|c| c["metrics"]["transitivity"].as_f64() > Some(0.0) && c["metrics"]["ei_index"].is_number())
        .count();
    assert!(nontrivial > 20, "only {nontrivial} cases with triangles and sectors");
}
