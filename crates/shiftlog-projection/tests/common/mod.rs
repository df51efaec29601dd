//! A random inquiry log generator and a naive replay, shared by the property tests.
#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{json, Value};
use shiftlog_model::{Event, EventBody, Timestamp};
use shiftlog_projection::PlaceState;
use shiftlog_store::{AppendRequest, EventLog, RecordedEvent};
use std::collections::HashSet;

const ACTORS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];

pub fn date(day: u32) -> String {
    (chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap() + chrono::Days::new(day as u64)).to_string()
}

pub fn event() -> impl Strategy<Value = Value> {
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
pub fn log_values() -> impl Strategy<Value = Vec<Value>> {
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
pub fn naive(all: &[RecordedEvent], at: Timestamp, k: u64) -> PlaceState {
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

pub async fn append_each(log: &dyn EventLog, values: &[Value]) {
    // One event per append, so invalid ones are dropped individually and recording
    // order (positions) is the generated order.
    for v in values {
        let e = Event::from_json(v).unwrap();
        let _ = log.append(AppendRequest::new(vec![e])).await;
    }
}
