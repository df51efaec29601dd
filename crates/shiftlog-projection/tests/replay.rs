//! Property test: for random logs (late records, retractions, leaving and rejoining),
//! the snapshot at any T as known at any K equals a naive replay of the whole log
//! filtered to K and T; and an evolution series equals the snapshots taken one by one.

use proptest::prelude::*;
use serde_json::{json, Value};
use shiftlog_model::{Event, EventBody, Timestamp};
use shiftlog_projection::{compute, history, KnownAt, PlaceState};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog, Position, RecordedEvent, SledLog};
use std::collections::HashSet;

const ACTORS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];

fn date(day: u32) -> String {
    (chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap() + chrono::Days::new(day as u64)).to_string()
}

fn event() -> impl Strategy<Value = Value> {
    let actor = prop::sample::select(ACTORS.to_vec());
    prop_oneof![
        3 => (actor.clone(), prop::collection::btree_map(prop::sample::select(vec!["budget", "agenda"]), 0.0f64..2.0, 0..2))
            .prop_map(|(a, p)| json!({"type": "actor_joined", "actor": a, "kind": "group", "power": p})),
        1 => actor.clone().prop_map(|a| json!({"type": "actor_left", "actor": a})),
        5 => (actor.clone(), actor.clone(), prop::sample::select(vec!["trust", "funding"]), prop::option::of(0.0f64..=1.0))
            .prop_filter("distinct", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k, s)| json!({"type": "relationship_formed", "from": a, "to": b, "kind": k, "strength": s})),
        2 => (actor.clone(), actor.clone(), prop::sample::select(vec!["trust", "funding"]), 0.0f64..=1.0)
            .prop_filter("distinct", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k, s)| json!({"type": "relationship_changed", "from": a, "to": b, "kind": k, "strength": s})),
        2 => (actor.clone(), actor.clone(), prop::sample::select(vec!["trust", "funding"]))
            .prop_filter("distinct", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k)| json!({"type": "relationship_ended", "from": a, "to": b, "kind": k})),
        2 => (prop::option::of(actor.clone()), actor.clone(), 0.05f64..1.5)
            .prop_filter("distinct", |(a, b, _)| a.as_deref() != Some(*b))
            .prop_map(|(a, b, x)| json!({"type": "power_shifted", "from": a, "to": b, "domain": "budget", "amount": x})),
        1 => Just(json!({"type": "session_held", "session": "s", "participants": [], "absent_voices": ["young carers"]})),
        1 => (0usize..60).prop_map(|i| json!({"type": "event_retracted", "target": format!("e{i}"), "reason": "r"})),
    ]
}

/// All events join at day 0 first so that most random events are valid; the rest are
/// rejected by the log (which is fine: only what was accepted counts).
fn log_values() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((event(), 1u32..200), 5..60).prop_map(|es| {
        let mut out = vec![json!({"type": "place_registered", "id": "p", "occurred_at": date(0), "place": "x", "name": "X"})];
        for (i, a) in ACTORS.iter().enumerate().take(3) {
            out.push(json!({"type": "actor_joined", "id": format!("j{i}"), "occurred_at": date(0), "place": "x", "actor": a, "kind": "group", "power": {"budget": 1.0}}));
        }
        for (i, (mut e, day)) in es.into_iter().enumerate() {
            let m = e.as_object_mut().unwrap();
            m.insert("id".into(), json!(format!("e{i}")));
            m.insert("occurred_at".into(), json!(date(day)));
            m.insert("place".into(), json!("x"));
            out.push(e);
        }
        out
    })
}

/// The naive replay: everything from scratch, straight from the definitions.
fn naive(all: &[RecordedEvent], at: Timestamp, k: u64) -> PlaceState {
    let known: Vec<&RecordedEvent> = all.iter().filter(|r| r.position.0 <= k).collect();
    let retracted: HashSet<String> = known
        .iter()
        .filter_map(|r| match &r.event.body {
            EventBody::EventRetracted { target, .. } => Some(target.to_string()),
            _ => None,
        })
        .collect();
    let mut fold: Vec<&RecordedEvent> = known
        .into_iter()
        .filter(|r| !matches!(r.event.body, EventBody::EventRetracted { .. }))
        .filter(|r| !retracted.contains(r.id().as_str()))
        .filter(|r| r.event.occurred_at <= at)
        .collect();
    fold.sort_by_key(|r| (r.event.occurred_at, r.position));
    let mut state = PlaceState::default();
    for r in fold {
        state.apply(&r.event, r.position);
    }
    state
}

async fn append_each(log: &dyn EventLog, values: &[Value]) {
    // One event per append, so invalid ones are dropped individually and recording
    // order (positions) is the generated order.
    for v in values {
        let e = Event::from_json(v).unwrap();
        let _ = log.append(AppendRequest::new(vec![e])).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_equal_a_naive_replay(values in log_values(), probes in prop::collection::vec((0u32..220, 0.0f64..=1.0), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let sled = SledLog::open(dir.path()).unwrap();
            let mem = MemoryLog::new();
            append_each(&sled, &values).await;
            append_each(&mem, &values).await;
            let all = mem.read(Position(1), usize::MAX).await.unwrap();
            let head = all.len() as u64;
            let place = "x".parse().unwrap();
            for (day, share) in probes {
                let at: Timestamp = date(day).parse().unwrap();
                let k = ((head as f64) * share).round() as u64;
                let want = compute(&naive(&all, at, k)).0;
                for log in [&sled as &dyn EventLog, &mem] {
                    let h = history(log, &place, KnownAt::Position(k)).await;
                    match h {
                        Ok(h) => {
                            assert_eq!(h.snapshot(at).metrics, want, "at {at} known at {k}");
                            assert_eq!(h.evolve(&[at])[0].metrics, want);
                        }
                        // Known before the place was registered: nothing to show.
                        Err(_) => assert!(k == 0, "history failed at k={k}"),
                    }
                }
            }
            // Reopened, the sled log answers the same.
            drop(sled);
            let sled = SledLog::open(dir.path()).unwrap();
            let h = history(&sled, &place, KnownAt::Everything).await.unwrap();
            let steps: Vec<Timestamp> = (0..8).map(|m| date(m * 30).parse().unwrap()).collect();
            let series = h.evolve(&steps);
            for (s, at) in series.iter().zip(&steps) {
                assert_eq!(s.metrics, h.snapshot(*at).metrics, "evolution step {at}");
                assert_eq!(s.metrics, compute(&naive(&all, *at, head)).0);
            }
        });
    }
}
