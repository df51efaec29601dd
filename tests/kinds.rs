//! Views by kind: every answer about the relationships of some kinds equals the answer
//! about a log from which the other kinds' relationship events (and the retractions of
//! them) were removed.

use shiftlog::{parse_input, Engine, Every, ExportFormat, Kinds, KnownAt, PlaceId, Timestamp, View};
use std::collections::BTreeSet;

const LOGS: [&str; 2] = [
    include_str!("../examples/data/worked-example.ndjson"),
    include_str!("../examples/data/generated-inquiry.ndjson"),
];

/// The log's lines without the relationship events of kinds outside `kinds`, nor the
/// retractions of those.
fn without_other_kinds(text: &str, kinds: &BTreeSet<&str>) -> String {
    let mut dropped = BTreeSet::new();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let ty = e["type"].as_str().unwrap();
        let other_kind = ty.starts_with("relationship_") && !kinds.contains(e["kind"].as_str().unwrap());
        let of_dropped = ty == "event_retracted" && dropped.contains(e["target"].as_str().unwrap());
        if other_kind || of_dropped {
            dropped.insert(e["id"].as_str().unwrap().to_string());
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

async fn load(text: &str) -> Engine {
    let engine = Engine::in_memory();
    let input = parse_input(text);
    assert!(input.rejections.is_empty(), "{:?}", input.rejections);
    engine.ingest(input, &[]).await.expect("every event is accepted");
    engine
}

/// A value without the log positions it was read at (the two logs number differently).
fn unplaced(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("known_at_position");
    }
    v
}

fn dates() -> Vec<Timestamp> {
    [
        "2023-06-30",
        "2024-01-31",
        "2024-06-30",
        "2024-09-30",
        "2025-03-31",
        "2026-01-01",
    ]
    .iter()
    .map(|d| d.parse().unwrap())
    .collect()
}

#[tokio::test]
async fn a_view_of_some_kinds_is_the_log_without_the_others() {
    let kind_sets: [&[&str]; 4] = [
        &["collaboration"],
        &["trust", "funding"],
        &["information"],
        &["no-such-kind"],
    ];
    for text in LOGS {
        let whole = load(text).await;
        let places = whole.places().await.unwrap();
        for kinds in kind_sets {
            let set: BTreeSet<&str> = kinds.iter().copied().collect();
            let only = load(&without_other_kinds(text, &set)).await;
            let view = || View::new(KnownAt::Everything, Kinds::only(kinds.iter().copied()));
            let mut seen_relationships = 0;
            for place in &places {
                for at in dates() {
                    let a = whole.snapshot(place, at, view()).await.unwrap();
                    let b = only.snapshot(place, at, KnownAt::Everything).await.unwrap();
                    assert_eq!(
                        unplaced(serde_json::to_value(&a).unwrap()),
                        unplaced(serde_json::to_value(&b).unwrap()),
                        "{place} at {at}, {kinds:?}"
                    );
                    assert!(a.relationships.iter().all(|r| set.contains(r.kind.as_str())));
                    seen_relationships += a.relationships.len();
                }
                let (from, to) = (dates()[1], dates()[4]);
                let a = whole.diff(place, from, to, view()).await.unwrap();
                let b = only.diff(place, from, to, KnownAt::Everything).await.unwrap();
                assert_eq!(
                    unplaced(serde_json::to_value(&a).unwrap()),
                    unplaced(serde_json::to_value(&b).unwrap()),
                    "diff of {place}, {kinds:?}"
                );
                for format in [ExportFormat::Csv, ExportFormat::Kumu, ExportFormat::GexfDynamic] {
                    let a = whole.export(place, format, Some(dates()[3]), view()).await.unwrap();
                    let b = only
                        .export(place, format, Some(dates()[3]), KnownAt::Everything)
                        .await
                        .unwrap();
                    assert_eq!(a, b, "{format:?} export of {place}, {kinds:?}");
                }
            }
            if kinds != ["no-such-kind"] {
                assert!(seen_relationships > 0, "{kinds:?}: the view should not be empty");
            }
            for every in [Every::Month, Every::Quarter] {
                let a = whole.evolve(None, every, None, None, view()).await.unwrap();
                let b = only.evolve(None, every, None, None, KnownAt::Everything).await.unwrap();
                assert_eq!(a, b, "evolution by {every:?}, {kinds:?}");
                let p = &places[0];
                let a = whole.evolve(Some(p), every, None, None, view()).await.unwrap();
                let b = only
                    .evolve(Some(p), every, None, None, KnownAt::Everything)
                    .await
                    .unwrap();
                assert_eq!(a, b, "evolution of {p} by {every:?}, {kinds:?}");
            }
            for at in dates() {
                let a = whole.compare(at, view()).await.unwrap();
                let b = only.compare(at, KnownAt::Everything).await.unwrap();
                assert_eq!(a, b, "compare at {at}, {kinds:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_view_of_some_kinds_as_known_at_a_position_is_that_prefix_without_the_others() {
    let text = LOGS[0];
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let whole = load(text).await;
    let set = BTreeSet::from(["collaboration", "accountability"]);
    for k in [lines.len() / 3, lines.len() / 2, lines.len() - 2] {
        let prefix = lines[..k].join("\n");
        let only = load(&without_other_kinds(&prefix, &set)).await;
        for place in only.places().await.unwrap() {
            let at: Timestamp = "2026-01-01".parse().unwrap();
            let view = View::new(KnownAt::Position(k as u64), Kinds::only(set.iter().copied()));
            let a = whole.snapshot(&place, at, view).await.unwrap();
            let b = only.snapshot(&place, at, KnownAt::Everything).await.unwrap();
            // A redaction erases from the whole log, views of earlier positions included;
            // the prefix has not seen it: names and attributes are left out.
            let nameless = |s: &shiftlog::Snapshot| {
                let mut v = unplaced(serde_json::to_value(s).unwrap());
                for a in v["actors"].as_array_mut().unwrap() {
                    a.as_object_mut()
                        .unwrap()
                        .retain(|k, _| k != "name" && k != "attributes");
                }
                v
            };
            assert_eq!(nameless(&a), nameless(&b), "{place} as known at {k}");
        }
    }
    // No kinds named is every kind.
    let place = PlaceId::new("fenwick-cross").unwrap();
    let at: Timestamp = "2025-01-01".parse().unwrap();
    assert_eq!(
        whole
            .snapshot(
                &place,
                at,
                View::new(KnownAt::Everything, Kinds::only(Vec::<String>::new()))
            )
            .await
            .unwrap(),
        whole.snapshot(&place, at, KnownAt::Everything).await.unwrap()
    );
}
