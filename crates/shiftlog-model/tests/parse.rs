//! Parsing the interchange format: every event type, every parse-level rejection rule,
//! unknown fields, locations, and properties over generated events and garbage.

use proptest::prelude::*;
use serde_json::{json, Value};
use shiftlog_model::*;

fn parse(v: Value) -> Result<Event, FieldError> {
    Event::from_json(&v)
}

fn base(ty: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), json!(ty));
    m.insert("id".into(), json!("e1"));
    m.insert("occurred_at".into(), json!("2023-05-01"));
    m.insert("place".into(), json!("northbrook"));
    m
}

fn with(ty: &str, fields: Value) -> Value {
    let mut m = base(ty);
    for (k, v) in fields.as_object().unwrap() {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// One valid example of every event type.
fn examples() -> Vec<Value> {
    vec![
        with(
            "place_registered",
            json!({"name": "Northbrook", "region": "North", "parent": "county"}),
        ),
        with(
            "actor_joined",
            json!({"actor": "council", "name": "Council", "kind": "organisation", "sector": "public",
            "roles": ["convener"], "power": {"budget": 1.0, "agenda_setting": 0}, "attributes": {"ward": "7"}}),
        ),
        with(
            "actor_updated",
            json!({"actor": "council", "sector": "health", "roles": []}),
        ),
        with("actor_left", json!({"actor": "council"})),
        with(
            "relationship_formed",
            json!({"from": "a", "to": "b", "kind": "mutual_aid", "strength": 0.2,
            "directed": false, "trust": 1, "value": 0}),
        ),
        with(
            "relationship_changed",
            json!({"from": "a", "to": "b", "kind": "trust", "trust": 0.4}),
        ),
        with("relationship_ended", json!({"from": "a", "to": "b", "kind": "trust"})),
        with(
            "power_shifted",
            json!({"from": "a", "domain": "budget", "amount": 0.5, "form": "hidden",
            "space": "invited", "expression": "power_with", "evidence": "minutes"}),
        ),
        with(
            "session_held",
            json!({"session": "s1", "title": "Sensemaking", "theme": "housing",
            "participants": ["a", "b"], "absent_voices": ["young carers"]}),
        ),
        with(
            "learning_recorded",
            json!({"text": "trust grows slowly", "themes": ["learning_journey"],
            "actors": ["a"], "session": "s1"}),
        ),
        with(
            "outcome_harvested",
            json!({"description": "council opened its agenda", "actors": ["a"],
            "significance": "high", "contribution": "sessions", "sources": ["minutes"], "condition": "policies"}),
        ),
        json!({"type": "event_retracted", "id": "x1", "occurred_at": "2023-06-01", "target": "e1", "reason": "wrong place"}),
        json!({"type": "actor_redacted", "id": "x2", "occurred_at": "2023-06-01", "actor": "a", "reason": "request"}),
    ]
}

#[test]
fn every_event_type_parses_and_round_trips() {
    let types: std::collections::BTreeSet<_> = examples()
        .into_iter()
        .map(|v| {
            let e = parse(v.clone()).unwrap_or_else(|err| panic!("{v}: {err}"));
            let again: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(again, e);
            e.event_type()
        })
        .collect();
    assert_eq!(types.len(), EventType::ALL.len(), "an example for every type");
}

#[test]
fn unknown_fields_are_kept_and_written_back() {
    let v = with(
        "actor_left",
        json!({"actor": "a", "mood": {"before": "wary", "after": [1, 2.5]}, "legacy_id": 7}),
    );
    let e = parse(v).unwrap();
    assert_eq!(e.extra["legacy_id"], json!(7));
    let out = e.to_json();
    assert_eq!(out["mood"], json!({"before": "wary", "after": [1, 2.5]}));
    assert_eq!(out["legacy_id"], json!(7));
}

#[test]
fn engine_fields_are_ignored_on_input() {
    let v = with(
        "actor_left",
        json!({"actor": "a", "position": 12, "recorded_at": "2024-01-01T00:00:00Z"}),
    );
    let e = parse(v).unwrap();
    assert!(e.extra.is_empty());
}

#[test]
fn null_optional_fields_are_absent() {
    let e = parse(with(
        "place_registered",
        json!({"name": "N", "region": null, "tags": null}),
    ))
    .unwrap();
    assert!(matches!(e.body, EventBody::PlaceRegistered { region: None, .. }));
}

#[test]
fn parse_level_rejections_name_the_field() {
    let cases: Vec<(Value, Option<&str>, &str)> = vec![
        (
            with("relationship_blossomed", json!({})),
            Some("type"),
            "unknown event type",
        ),
        (
            json!({"id": "e1", "occurred_at": "2023-01-01", "place": "p"}),
            Some("type"),
            "missing",
        ),
        (json!({"type": 7, "id": "e1"}), Some("type"), "expected a string"),
        (
            json!({"type": "actor_left", "id": "e1", "place": "p", "actor": "a"}),
            Some("occurred_at"),
            "missing",
        ),
        (
            with("actor_left", json!({"occurred_at": "2023-02-30", "actor": "a"})),
            Some("occurred_at"),
            "2023-02-30",
        ),
        (
            with("actor_left", json!({"occurred_at": 20230101, "actor": "a"})),
            Some("occurred_at"),
            "expected a string",
        ),
        (
            json!({"type": "actor_left", "id": "e1", "occurred_at": "2023-01-01", "actor": "a"}),
            Some("place"),
            "missing",
        ),
        (with("actor_left", json!({})), Some("actor"), "missing"),
        (with("actor_left", json!({"actor": ""})), Some("actor"), "empty"),
        (
            with("actor_left", json!({"actor": "a\u{7}b"})),
            Some("actor"),
            "control",
        ),
        (
            with("actor_left", json!({"id": "x".repeat(129), "actor": "a"})),
            Some("id"),
            "at most 128",
        ),
        (
            with("actor_left", json!({"id": 5, "actor": "a"})),
            Some("id"),
            "expected a string",
        ),
        (
            with("actor_joined", json!({"actor": "a", "kind": "robot"})),
            Some("kind"),
            "robot",
        ),
        (with("actor_joined", json!({"actor": "a"})), Some("kind"), "missing"),
        (
            with(
                "actor_joined",
                json!({"actor": "a", "kind": "group", "power": {"budget": -1}}),
            ),
            Some("power.budget"),
            "negative",
        ),
        (
            with(
                "actor_joined",
                json!({"actor": "a", "kind": "group", "power": {"budget": "lots"}}),
            ),
            Some("power.budget"),
            "expected a number",
        ),
        (
            with(
                "actor_joined",
                json!({"actor": "a", "kind": "group", "attributes": {"age": 40}}),
            ),
            Some("attributes.age"),
            "expected a string",
        ),
        (
            with(
                "actor_joined",
                json!({"actor": "a", "kind": "group", "roles": "funder"}),
            ),
            Some("roles"),
            "array",
        ),
        (
            with(
                "relationship_formed",
                json!({"from": "a", "to": "b", "kind": "trust", "strength": 1.01}),
            ),
            Some("strength"),
            "between 0 and 1",
        ),
        (
            with(
                "relationship_formed",
                json!({"from": "a", "to": "b", "kind": "trust", "trust": -0.1}),
            ),
            Some("trust"),
            "between 0 and 1",
        ),
        (
            with(
                "relationship_changed",
                json!({"from": "a", "to": "b", "kind": "trust", "value": 2}),
            ),
            Some("value"),
            "between 0 and 1",
        ),
        (
            with(
                "relationship_formed",
                json!({"from": "a", "to": "b", "kind": "trust", "strength": "0.5"}),
            ),
            Some("strength"),
            "expected a number",
        ),
        (
            with(
                "relationship_formed",
                json!({"from": "a", "to": "b", "kind": "trust", "directed": "yes"}),
            ),
            Some("directed"),
            "true or false",
        ),
        (
            with("relationship_formed", json!({"from": "a", "to": "a", "kind": "trust"})),
            Some("to"),
            "same actor",
        ),
        (
            with("relationship_ended", json!({"from": "a", "to": "b"})),
            Some("kind"),
            "missing",
        ),
        (
            with(
                "power_shifted",
                json!({"from": "a", "to": "b", "domain": "budget", "amount": 0}),
            ),
            Some("amount"),
            "greater than 0",
        ),
        (
            with(
                "power_shifted",
                json!({"from": "a", "to": "b", "domain": "budget", "amount": -2}),
            ),
            Some("amount"),
            "greater than 0",
        ),
        (
            with("power_shifted", json!({"domain": "budget", "amount": 0.1})),
            None,
            "at least one of",
        ),
        (
            with(
                "power_shifted",
                json!({"from": "a", "to": "a", "domain": "budget", "amount": 0.1}),
            ),
            Some("to"),
            "same actor",
        ),
        (
            with(
                "power_shifted",
                json!({"from": "a", "domain": "budget", "amount": 0.1, "space": "created"}),
            ),
            Some("space"),
            "created",
        ),
        (
            with("power_shifted", json!({"from": "a", "amount": 0.1})),
            Some("domain"),
            "missing",
        ),
        (
            with("session_held", json!({"session": "s"})),
            Some("participants"),
            "missing",
        ),
        (
            with("session_held", json!({"session": "s", "participants": ["a", 3]})),
            Some("participants[1]"),
            "expected a string",
        ),
        (with("learning_recorded", json!({})), Some("text"), "missing"),
        (
            with("outcome_harvested", json!({"description": "d"})),
            Some("actors"),
            "missing",
        ),
        (
            json!({"type": "event_retracted", "id": "x", "occurred_at": "2023-01-01", "reason": "r"}),
            Some("target"),
            "missing",
        ),
        (
            json!({"type": "event_retracted", "id": "x", "occurred_at": "2023-01-01", "target": "t"}),
            Some("reason"),
            "missing",
        ),
        (json!([1, 2]), None, "expected a JSON object"),
    ];
    for (input, field, needle) in cases {
        let err = parse(input.clone()).expect_err(&format!("should reject {input}"));
        assert_eq!(err.field.as_deref(), field, "field for {input}: {err}");
        assert!(
            err.message.contains(needle),
            "message for {input}: `{}` lacks `{needle}`",
            err.message
        );
    }
}

#[test]
fn ndjson_locations_count_blank_lines() {
    let input = format!(
        "\n{}\n\n{}\nnot json\n",
        with("actor_left", json!({"actor": "a"})),
        with("actor_left", json!({"id": "e2"}))
    );
    let parsed = parse_input(&input);
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.events[0].location, Location::Line(2));
    let r: Vec<_> = parsed
        .rejections
        .iter()
        .map(|r| (r.location, r.event_id.clone(), r.field().map(String::from)))
        .collect();
    assert_eq!(
        r,
        vec![
            (Location::Line(4), Some("e2".into()), Some("actor".into())),
            (Location::Line(5), None, None),
        ]
    );
    assert_eq!(
        parsed.rejections[0].to_string(),
        "line 4 (event \"e2\"): field `actor`: missing required field"
    );
    assert!(parsed.rejections[1]
        .to_string()
        .starts_with("line 5: invalid JSON at column"));
}

#[test]
fn arrays_use_indices() {
    let input = json!([with("actor_left", json!({"actor": "a"})), with("actor_left", json!({}))]).to_string();
    let parsed = parse_input(&input);
    assert_eq!(parsed.rejections[0].location, Location::Index(1));
    let broken = parse_input("[\n{\"type\": \n");
    assert_eq!(broken.rejections.len(), 1);
    assert!(broken.events.is_empty());
}

#[test]
fn over_long_lines_are_rejected_without_stopping() {
    let long = format!(
        "{{\"type\":\"learning_recorded\",\"text\":\"{}\"}}",
        "x".repeat(MAX_LINE_BYTES)
    );
    let good = with("actor_left", json!({"actor": "a"})).to_string();
    let input = format!("{long}\n{good}\n");
    let items: Vec<_> = NdjsonReader::new(input.as_bytes()).collect();
    assert_eq!(items.len(), 2);
    match &items[0] {
        Err(ReadError::Rejected(r)) => assert!(r.error.message.contains("longer than")),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(items[1].as_ref().unwrap().location, Location::Line(2));
}

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:-]{1,16}"
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn unit() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(0.0f64..=1.0)
}

fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        (text(), prop::option::of(text()), prop::option::of(id())).prop_map(|(n, r, p)| json!({"type": "place_registered", "name": n, "region": r, "parent": p})),
        (id(), prop::option::of(text()), prop::sample::select(vec!["person", "organisation", "group", "network"]),
            prop::collection::btree_map("[a-z_]{1,8}", 0.0f64..10.0, 0..3), prop::collection::btree_map("[a-z]{1,5}", text(), 0..3))
            .prop_map(|(a, n, k, p, at)| json!({"type": "actor_joined", "actor": a, "name": n, "kind": k, "power": p, "attributes": at, "roles": ["r"]})),
        (id(), prop::option::of(text())).prop_map(|(a, s)| json!({"type": "actor_updated", "actor": a, "sector": s})),
        id().prop_map(|a| json!({"type": "actor_left", "actor": a})),
        (id(), id(), "[a-z]{1,10}", unit(), unit(), prop::option::of(any::<bool>()))
            .prop_filter("distinct ends", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k, s, t, d)| json!({"type": "relationship_formed", "from": a, "to": b, "kind": k, "strength": s, "trust": t, "directed": d})),
        (id(), id(), "[a-z]{1,10}", unit()).prop_filter("distinct ends", |(a, b, ..)| a != b)
            .prop_map(|(a, b, k, v)| json!({"type": "relationship_changed", "from": a, "to": b, "kind": k, "value": v})),
        (id(), id(), "[a-z]{1,10}").prop_filter("distinct ends", |(a, b, _)| a != b)
            .prop_map(|(a, b, k)| json!({"type": "relationship_ended", "from": a, "to": b, "kind": k})),
        (prop::option::of(id()), id(), "[a-z_]{1,10}", 0.001f64..100.0)
            .prop_filter("distinct ends", |(a, b, ..)| a.as_ref() != Some(b))
            .prop_map(|(a, b, d, x)| json!({"type": "power_shifted", "from": a, "to": b, "domain": d, "amount": x, "form": "visible"})),
        (id(), prop::collection::vec(id(), 0..4), prop::collection::vec(text(), 0..3))
            .prop_map(|(s, p, av)| json!({"type": "session_held", "session": s, "participants": p, "absent_voices": av})),
        (text(), prop::collection::vec(id(), 0..3)).prop_map(|(t, a)| json!({"type": "learning_recorded", "text": t, "actors": a})),
        (text(), prop::collection::vec(id(), 0..3)).prop_map(|(d, a)| json!({"type": "outcome_harvested", "description": d, "actors": a})),
    ]
}

fn event_json() -> impl Strategy<Value = Value> {
    (
        body(),
        prop::option::of(id()),
        (-2_000_000_000i64..4_000_000_000, 0u32..1_000_000_000),
        id(),
        prop::collection::vec(text(), 0..3),
        prop::collection::btree_map(
            "x_[a-z]{1,6}",
            prop_oneof![
                Just(json!(null)),
                any::<i32>().prop_map(|i| json!(i)),
                text().prop_map(|t| json!(t))
            ],
            0..3,
        ),
    )
        .prop_map(|(mut b, eid, (s, ns), place, tags, extra)| {
            let m = b.as_object_mut().unwrap();
            m.retain(|_, v| !v.is_null());
            m.insert("id".into(), json!(eid));
            m.insert(
                "occurred_at".into(),
                json!(Timestamp::from_unix(s, ns).unwrap().to_string()),
            );
            m.insert("place".into(), json!(place));
            m.insert("tags".into(), json!(tags));
            for (k, v) in extra {
                m.insert(k, v);
            }
            b
        })
}

proptest! {
    #[test]
    fn json_round_trip(v in event_json()) {
        let e = Event::from_json(&v).map_err(|err| TestCaseError::fail(format!("{v}: {err}")))?;
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &e);
        // Writing it again gives the same text: output is stable.
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    #[test]
    fn garbage_never_panics(s in "\\PC{0,200}") {
        let parsed = parse_input(&s);
        prop_assert!(parsed.events.len() + parsed.rejections.len() <= s.lines().count() + 1);
    }

    #[test]
    fn mutated_events_never_panic(v in event_json(), cut in 0usize..400) {
        let text = v.to_string();
        let cut = cut.min(text.len());
        let truncated: String = text.chars().take(cut).collect();
        let _ = parse_input(&truncated);
    }
}
