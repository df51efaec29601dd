//! Every snapshot check of the spec's conformance vectors (tests/data/conformance.json),
//! on the in-memory log and on the sled log.

use serde_json::Value;
use shiftlog_model::Event;
use shiftlog_projection::{history, KnownAt, Metrics};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog, SledLog};

fn conformance() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/conformance.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(name: &str, expect: &Value, m: &Metrics) {
    let close = |what: &str, want: &Value, got: f64| {
        assert!(
            (want.as_f64().unwrap() - got).abs() < 1e-6,
            "{name}: {what}: want {want}, got {got}"
        );
    };
    for (k, want) in expect.as_object().unwrap() {
        match k.as_str() {
            "actors" => assert_eq!(want.as_u64().unwrap() as usize, m.actors, "{name}: {k}"),
            "connected_actors" => assert_eq!(want.as_u64().unwrap() as usize, m.connected_actors, "{name}: {k}"),
            "relationships" => assert_eq!(want.as_u64().unwrap() as usize, m.relationships, "{name}: {k}"),
            "components" => assert_eq!(want.as_u64().unwrap() as usize, m.components, "{name}: {k}"),
            "max_degree" => assert_eq!(want.as_u64().unwrap() as usize, m.max_degree, "{name}: {k}"),
            "anomalies" => assert_eq!(want.as_u64().unwrap() as usize, m.anomalies, "{name}: {k}"),
            "density" => close(k, want, m.density),
            "reciprocity" => close(k, want, m.reciprocity),
            "power_gini" => {
                let want = want.as_object().unwrap();
                let got: Vec<_> = m.power_gini.keys().collect();
                assert_eq!(want.keys().collect::<Vec<_>>(), got, "{name}: power_gini domains");
                for (d, w) in want {
                    close(&format!("power_gini.{d}"), w, m.power_gini[d]);
                }
            }
            other => panic!("{name}: the test does not know metric `{other}`"),
        }
    }
}

async fn cases(make: impl Fn() -> std::sync::Arc<dyn EventLog>) {
    let spec = conformance();
    let mut checks = 0;
    for case in spec["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let log = make();
        let events: Vec<Event> = case["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Event::from_json(v).unwrap())
            .collect();
        log.append(AppendRequest::new(events)).await.unwrap();
        for c in case["checks"].as_array().unwrap() {
            let known = match c.get("known_at_position").and_then(Value::as_u64) {
                Some(k) => KnownAt::Position(k),
                None => KnownAt::Everything,
            };
            let place = c["place"].as_str().unwrap().parse().unwrap();
            let at = c["at"].as_str().unwrap().parse().unwrap();
            let h = history(log.as_ref(), &place, known).await.unwrap();
            let label = format!("{name} / {} at {} known {known:?}", c["place"], c["at"]);
            check(&label, &c["expect"], &h.snapshot(at).metrics);
            // The one-pass evolution of every measure gives the same metrics as the
            // snapshot (an evolution step adds what changed since the step before); the
            // standard one the same without the communities.
            let all = shiftlog_projection::EvolutionMeasures::All;
            let step = h.evolve_measuring(None, &[at], all)[0].metrics.clone();
            assert_eq!(
                shiftlog_projection::Metrics {
                    change: None,
                    ..step.clone()
                },
                h.snapshot(at).metrics,
                "{label}"
            );
            let standard = h.evolve(&[at])[0].metrics.clone();
            assert_eq!(
                shiftlog_projection::Metrics {
                    modularity: None,
                    communities: None,
                    ..step
                },
                standard,
                "{label}: standard evolution"
            );
            // And so do checkpoints (every event one), for views of everything recorded.
            if known == KnownAt::Everything {
                let p = shiftlog_projection::Projector::new(log.clone()).with_checkpoint_every(1);
                check(&label, &c["expect"], &p.snapshot(&place, at).await.unwrap().metrics);
                check(&label, &c["expect"], &p.metrics_at(&place, at).await.unwrap());
            }
            checks += 1;
        }
    }
    assert!(checks >= 20, "only {checks} checks ran");
}

#[tokio::test]
async fn conformance_snapshots_on_the_memory_log() {
    cases(|| std::sync::Arc::new(MemoryLog::new())).await;
}

#[tokio::test]
async fn conformance_snapshots_on_the_sled_log() {
    let dirs = std::sync::Mutex::new(Vec::new());
    cases(|| {
        let d = tempfile::tempdir().unwrap();
        let log = SledLog::open(d.path()).unwrap();
        dirs.lock().unwrap().push(d);
        std::sync::Arc::new(log)
    })
    .await;
}
