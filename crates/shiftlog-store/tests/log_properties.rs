//! Model-based property test: random batches (valid, invalid, duplicated ids, version
//! expectations) and reopens, applied to the sled log and to the in-memory log. Both
//! must answer every append the same way and read back the same log, and the log must
//! hold exactly the events whose appends succeeded, in order, at dense positions.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use shiftlog_model::{EventId, Rejection};
use shiftlog_store::{
    AppendError, AppendOutcome, AppendRequest, EventLog, EventOutcome, Planned, PlannedEvent, Position, RecordedEvent,
    Stream,
};

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Value>, Option<(usize, u64)>),
    Reopen,
}

const PLACES: [&str; 2] = ["p0", "p1"];
const ACTORS: [&str; 4] = ["a0", "a1", "a2", "a3"];

fn date(day: u32) -> String {
    let t = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap() + chrono::Days::new(day as u64);
    t.to_string()
}

fn event_value() -> impl Strategy<Value = Value> {
    let place = prop::sample::select(PLACES.to_vec());
    let actor = prop::sample::select(ACTORS.to_vec());
    let body = prop_oneof![
        2 => Just(json!({"type": "place_registered", "name": "P"})),
        4 => actor.clone().prop_map(|a| json!({"type": "actor_joined", "actor": a, "kind": "group"})),
        1 => actor.clone().prop_map(|a| json!({"type": "actor_left", "actor": a})),
        4 => (actor.clone(), actor.clone(), prop::sample::select(vec!["trust", "funding"]), 0.0f64..=1.0)
            .prop_filter("distinct", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k, s)| json!({"type": "relationship_formed", "from": a, "to": b, "kind": k, "strength": s})),
        2 => (actor.clone(), 0.01f64..1.0).prop_map(|(a, x)| json!({"type": "power_shifted", "to": a, "domain": "budget", "amount": x})),
        2 => "[a-z ]{0,12}".prop_map(|t| json!({"type": "learning_recorded", "text": t})),
        1 => (0u32..12).prop_map(|t| json!({"type": "event_retracted", "target": format!("e{t}"), "reason": "r"})),
        1 => actor.prop_map(|a| json!({"type": "actor_redacted", "actor": a})),
    ];
    (body, place, 0u32..60, prop::option::of(0u32..12), any::<bool>()).prop_map(|(mut b, p, day, id, with_place)| {
        let m = b.as_object_mut().unwrap();
        let placeless = matches!(m["type"].as_str(), Some("event_retracted" | "actor_redacted"));
        if !placeless || with_place {
            m.insert("place".into(), json!(p));
        }
        m.insert("occurred_at".into(), json!(date(day)));
        if let Some(i) = id {
            m.insert("id".into(), json!(format!("e{i}")));
        }
        b
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec(event_value(), 1..4), prop::option::of((0usize..2, 0u64..8)))
            .prop_map(|(es, ex)| Op::Append(es, ex)),
        2 => Just(Op::Reopen),
    ]
}

#[derive(Debug, PartialEq)]
enum Answer {
    Ok(AppendOutcome),
    Rejected(Vec<Rejection>),
    Conflict(String),
}

/// A dry run's plan in the shape of an append's outcome, to compare the two.
fn as_outcome(p: Planned) -> AppendOutcome {
    AppendOutcome {
        events: p
            .events
            .into_iter()
            .map(|e| match e {
                PlannedEvent::Append { position, .. } => EventOutcome::Appended(position),
                PlannedEvent::AlreadyPresent(p) => EventOutcome::AlreadyPresent(p),
            })
            .collect(),
        head: p.head,
    }
}

fn answer(r: Result<AppendOutcome, AppendError>) -> Answer {
    match r {
        Ok(o) => Answer::Ok(o),
        Err(AppendError::Rejected(rs)) => Answer::Rejected(rs),
        Err(e @ AppendError::VersionConflict { .. }) => Answer::Conflict(e.to_string()),
        Err(e) => panic!("storage error: {e}"),
    }
}

async fn same_log(sled: &dyn EventLog, mem: &dyn EventLog, model: &[RecordedEvent]) {
    let a = read_all(sled).await;
    let b = read_all(mem).await;
    assert_eq!(a, b, "sled and memory logs differ");
    assert_eq!(a, model, "the log holds exactly the acknowledged events");
    for stream in PLACES
        .iter()
        .map(|p| Stream::Place(p.parse().unwrap()))
        .chain([Stream::Unplaced])
    {
        let s = sled.read_stream(&stream, Position(1), usize::MAX).await.unwrap();
        assert_eq!(s, mem.read_stream(&stream, Position(1), usize::MAX).await.unwrap());
        assert_eq!(
            sled.version(&stream).await.unwrap(),
            s.len() as u64,
            "version of {stream}"
        );
        let from3 = sled.read_stream(&stream, Position(3), 2).await.unwrap();
        assert_eq!(
            from3,
            s.iter()
                .filter(|e| e.position.0 >= 3)
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
        );
    }
    for i in 0..12 {
        let id: EventId = format!("e{i}").parse().unwrap();
        assert_eq!(sled.event(&id).await.unwrap(), mem.event(&id).await.unwrap());
    }
    let (sa, sb) = (sled.stats().await.unwrap(), mem.stats().await.unwrap());
    assert_eq!((sa.events, sa.places, sa.actors), (sb.events, sb.places, sb.actors));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sled_and_memory_logs_agree(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut sled = sled_log(dir.path());
            let mem = memory_log();
            let mut model: Vec<RecordedEvent> = Vec::new();
            // Both places registered and a0, a1 joined everywhere from day 0, so that most
            // random events are valid; a2 and a3 only ever join through random events,
            // whose joins random retractions may take back.
            let mut setup = Vec::new();
            for p in PLACES {
                setup.push(json!({"type": "place_registered", "place": p, "occurred_at": date(0), "name": p}));
                for a in &ACTORS[..2] {
                    setup.push(json!({"type": "actor_joined", "place": p, "actor": a, "kind": "group", "occurred_at": date(0)}));
                }
            }
            let mut ops = ops;
            ops.insert(0, Op::Append(setup, None));
            let (mut accepted, mut total) = (0, 0);
            for op in ops {
                match op {
                    Op::Reopen => {
                        drop(sled);
                        sled = sled_log(dir.path());
                    }
                    Op::Append(values, expected) => {
                        let mut req = AppendRequest::new(events(&values));
                        if let Some((p, v)) = expected {
                            req = req.expect(Stream::Place(PLACES[p].parse().unwrap()), v);
                        }
                        // A dry run first: it must say what the append then does, and
                        // write nothing.
                        let head = sled.head();
                        let plan = sled.dry_run(req.clone()).await;
                        assert_eq!(sled.head(), head, "a dry run wrote");
                        let mem_plan = mem.dry_run(req.clone()).await;
                        let planned = plan.as_ref().ok().cloned();
                        let plan = answer(plan.map(as_outcome));
                        assert_eq!(plan, answer(mem_plan.map(as_outcome)), "both logs plan the same");
                        let a = answer(sled.append(req.clone()).await);
                        let b = answer(mem.append(req).await);
                        assert_eq!(a, b, "both logs answer the same");
                        assert_eq!(plan, a, "the dry run said what the append did");
                        for e in planned.iter().flat_map(|p| &p.events) {
                            if let PlannedEvent::Append { id, stream, version, position } = e {
                                let written = mem.read(*position, 1).await.unwrap().remove(0);
                                assert_eq!((written.id(), &written.stream), (id, stream));
                                let upto = mem.read_stream(stream, Position(1), usize::MAX).await.unwrap();
                                let at = upto.iter().position(|r| r.position == *position).unwrap();
                                assert_eq!(at as u64 + 1, *version, "the stream's version after it");
                            }
                        }
                        total += 1;
                        accepted += matches!(a, Answer::Ok(_)) as usize;
                        if let Answer::Ok(out) = &a {
                            for o in &out.events {
                                if let EventOutcome::Appended(p) = o {
                                    assert_eq!(p.0, model.len() as u64 + 1, "appended at the next position");
                                    model.push(mem.read(*p, 1).await.unwrap().remove(0));
                                }
                            }
                        }
                    }
                }
                same_log(&sled, &mem, &model).await;
            }
            drop(sled);
            let reopened = sled_log(dir.path());
            same_log(&reopened, &mem, &model).await;
            if std::env::var_os("PROP_STATS").is_some() {
                eprintln!("accepted {accepted}/{total}");
            }
        });
    }
}
