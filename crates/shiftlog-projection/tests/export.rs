//! Exports: well-formed XML in the GEXF 1.3 shape, DOT that parses, and a dynamic GEXF
//! whose spells agree with the snapshots at every date.

use serde_json::json;
use shiftlog_model::{parse_input, Timestamp};
use shiftlog_projection::{
    history, to_csv, to_dot, to_gexf, to_gexf_dynamic, to_graphml, to_kumu, to_kumu_timeline, Every, KnownAt,
    PlaceHistory,
};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog};
use std::collections::{BTreeMap, BTreeSet};

const GEXF: &str = "http://gexf.net/1.3";

async fn example(place: &str) -> PlaceHistory {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/generated-inquiry.ndjson"
    );
    let input = std::fs::read_to_string(path).unwrap();
    let log = MemoryLog::new();
    log.append(AppendRequest::new(
        parse_input(&input).events.into_iter().map(|e| e.event).collect(),
    ))
    .await
    .unwrap();
    history(&log, &place.parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap()
}

/// Nodes and (source, target, label) edges alive at `t` in a dynamic GEXF: spells are
/// [start, end).
fn alive_at(doc: &roxmltree::Document, t: Timestamp) -> (BTreeSet<String>, BTreeSet<(String, String, String)>) {
    let alive = |n: roxmltree::Node| {
        n.descendants().filter(|s| s.has_tag_name((GEXF, "spell"))).any(|s| {
            let start: Timestamp = s.attribute("start").unwrap().parse().unwrap();
            let end: Option<Timestamp> = s.attribute("end").map(|e| e.parse().unwrap());
            start <= t && end.is_none_or(|e| t < e)
        })
    };
    let nodes = doc
        .descendants()
        .filter(|n| n.has_tag_name((GEXF, "node")) && alive(*n))
        .map(|n| n.attribute("id").unwrap().to_string())
        .collect();
    let edges = doc
        .descendants()
        .filter(|n| n.has_tag_name((GEXF, "edge")) && alive(*n))
        .map(|n| {
            let a = |k| n.attribute(k).unwrap().to_string();
            (a("source"), a("target"), a("label"))
        })
        .collect();
    (nodes, edges)
}

#[tokio::test]
async fn dynamic_gexf_agrees_with_every_snapshot() {
    for place in ["place-000", "place-002"] {
        let h = example(place).await;
        let xml = to_gexf_dynamic(&h);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name((GEXF, "gexf")));
        assert_eq!(root.attribute("version"), Some("1.3"));
        let graph = root.children().find(|n| n.has_tag_name((GEXF, "graph"))).unwrap();
        assert_eq!(graph.attribute("mode"), Some("dynamic"));
        let declared: BTreeSet<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name((GEXF, "attribute")))
            .map(|n| n.attribute("id").unwrap())
            .collect();
        let ids: BTreeSet<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name((GEXF, "node")))
            .map(|n| n.attribute("id").unwrap())
            .collect();
        for e in doc.descendants().filter(|n| n.has_tag_name((GEXF, "edge"))) {
            assert!(ids.contains(e.attribute("source").unwrap()) && ids.contains(e.attribute("target").unwrap()));
            for v in e.descendants().filter(|n| n.has_tag_name((GEXF, "attvalue"))) {
                assert!(declared.contains(v.attribute("for").unwrap()));
            }
        }
        for n in doc.descendants().filter(|n| n.has_tag_name((GEXF, "spell"))) {
            if let Some(end) = n.attribute("end") {
                let (s, e): (Timestamp, Timestamp) =
                    (n.attribute("start").unwrap().parse().unwrap(), end.parse().unwrap());
                assert!(s < e, "a spell must end after it starts");
            }
        }
        let (first, last) = h.span().unwrap();
        let days = (last.as_datetime() - first.as_datetime()).num_days();
        for i in 0..=12 {
            let t = Timestamp::from_datetime(first.as_datetime() + chrono::Duration::days(days * i / 12));
            let snap = h.snapshot(t);
            let (nodes, edges) = alive_at(&doc, t);
            let want_nodes: BTreeSet<String> = snap.actors.iter().map(|a| a.id.clone()).collect();
            let want_edges: BTreeSet<_> = snap
                .relationships
                .iter()
                .map(|r| (r.from.clone(), r.to.clone(), r.kind.clone()))
                .collect();
            assert_eq!(nodes, want_nodes, "{place}: actors alive at {t}");
            assert_eq!(edges, want_edges, "{place}: relationships alive at {t}");
            // The strength in force at t is the snapshot's.
            for r in &snap.relationships {
                let edge = doc
                    .descendants()
                    .find(|n| {
                        n.has_tag_name((GEXF, "edge"))
                            && n.attribute("source") == Some(&r.from)
                            && n.attribute("target") == Some(&r.to)
                            && n.attribute("label") == Some(&r.kind)
                    })
                    .unwrap();
                let value = edge
                    .descendants()
                    .filter(|v| v.has_tag_name((GEXF, "attvalue")))
                    .find(|v| {
                        let s: Timestamp = v.attribute("start").unwrap().parse().unwrap();
                        let e: Option<Timestamp> = v.attribute("end").map(|e| e.parse().unwrap());
                        s <= t && e.is_none_or(|e| t < e)
                    })
                    .unwrap();
                assert_eq!(value.attribute("value").unwrap().parse::<f64>().unwrap(), r.strength);
            }
        }
    }
}

#[tokio::test]
async fn snapshot_formats_parse_and_hold_the_network() {
    let h = example("place-001").await;
    let snap = h.snapshot("2024-03-01".parse().unwrap());
    let (n, m) = (snap.actors.len(), snap.relationships.len());
    assert!(n > 5 && m > 5);

    let dot = to_dot(&snap);
    let ast = dot_parser::ast::Graph::try_from(dot.as_str()).expect("DOT parses");
    let graph = dot_parser::canonical::Graph::from(ast);
    assert_eq!((graph.nodes.set.len(), graph.edges.set.len()), (n, m));

    for (xml, node, edge) in [(to_graphml(&snap), "node", "edge"), (to_gexf(&snap), "node", "edge")] {
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let count = |t: &str| doc.descendants().filter(|x| x.tag_name().name() == t).count();
        assert_eq!((count(node), count(edge)), (n, m));
    }
    assert_eq!(to_csv(&snap).lines().count(), m + 1);
    let kumu = to_kumu(&snap);
    assert_eq!(
        (
            kumu["elements"].as_array().unwrap().len(),
            kumu["connections"].as_array().unwrap().len()
        ),
        (n, m)
    );
    // Every actor measure of the registry, as the snapshot has it.
    for (e, a) in kumu["elements"].as_array().unwrap().iter().zip(&snap.actors) {
        for measure in shiftlog_projection::ActorMeasure::ALL {
            assert_eq!(e[measure.key()].as_f64(), measure.value(a), "{}", measure.key());
        }
    }
}

#[tokio::test]
async fn hostile_names_stay_well_formed() {
    let log = MemoryLog::new();
    let nasty = "Q\"uote's & <tag> \u{1} \\ back";
    let events = parse_input(
        &[
            json!({"type": "place_registered", "id": "p", "occurred_at": "2023-01-01", "place": "x&<y>", "name": "X"}),
            json!({"type": "actor_joined", "id": "a", "occurred_at": "2023-01-02", "place": "x&<y>", "actor": "a\"1", "kind": "group", "name": nasty}),
            json!({"type": "actor_joined", "id": "b", "occurred_at": "2023-01-02", "place": "x&<y>", "actor": "b<2>", "kind": "group"}),
            json!({"type": "relationship_formed", "id": "r", "occurred_at": "2023-01-03", "place": "x&<y>", "from": "a\"1", "to": "b<2>", "kind": "k,\"1\""}),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>(),
    );
    assert!(parse_input("").rejections.is_empty());
    log.append(AppendRequest::new(events.events.into_iter().map(|e| e.event).collect()))
        .await
        .unwrap();
    let h = history(&log, &"x&<y>".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let snap = h.snapshot("2023-02-01".parse().unwrap());
    for xml in [to_graphml(&snap), to_gexf(&snap), to_gexf_dynamic(&h)] {
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let labels: BTreeMap<&str, &str> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "node" && n.attribute("label").is_some())
            .map(|n| (n.attribute("id").unwrap(), n.attribute("label").unwrap()))
            .collect();
        if !labels.is_empty() {
            assert_eq!(labels["a\"1"], "Q\"uote's & <tag> \u{fffd} \\ back");
        }
    }
    let dot = to_dot(&snap);
    let graph = dot_parser::canonical::Graph::from(dot_parser::ast::Graph::try_from(dot.as_str()).expect("DOT parses"));
    assert_eq!((graph.nodes.set.len(), graph.edges.set.len()), (2, 1));
    let csv = to_csv(&snap);
    assert!(csv.contains("\"k,\"\"1\"\"\""), "{csv}");
}

async fn history_of(lines: &[serde_json::Value]) -> PlaceHistory {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let parsed = parse_input(&text);
    assert!(parsed.rejections.is_empty(), "{:?}", parsed.rejections);
    let log = MemoryLog::new();
    log.append(AppendRequest::new(parsed.events.into_iter().map(|e| e.event).collect()))
        .await
        .unwrap();
    history(&log, &"p".parse().unwrap(), KnownAt::Everything).await.unwrap()
}

/// The Kumu timeline tags each element and connection with every period it was active in:
/// through quiet periods (no event), for one that came and went inside a period, and not
/// after it ended; with its last values.
#[tokio::test]
async fn the_kumu_timeline_tags_every_period_each_was_active_in() {
    let e = |id: &str, t: &str, at: &str, rest: serde_json::Value| {
        let mut v = json!({"type": t, "id": id, "occurred_at": at, "place": "p"});
        v.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        v
    };
    let h = history_of(&[
        e("1", "place_registered", "2024-01-01", json!({"name": "P"})),
        e(
            "2",
            "actor_joined",
            "2024-01-10",
            json!({"actor": "a", "kind": "group", "name": "A", "sector": "vcse"}),
        ),
        e(
            "3",
            "actor_joined",
            "2024-01-10",
            json!({"actor": "b", "kind": "person", "name": "Bea"}),
        ),
        e(
            "4",
            "relationship_formed",
            "2024-02-01",
            json!({"from": "a", "to": "b", "kind": "trust", "strength": 0.4, "trust": 0.9}),
        ),
        e(
            "5",
            "actor_joined",
            "2024-05-05",
            json!({"actor": "c", "kind": "group"}),
        ),
        e("6", "actor_left", "2024-05-20", json!({"actor": "c"})),
        e(
            "7",
            "relationship_changed",
            "2024-10-01",
            json!({"from": "a", "to": "b", "kind": "trust", "strength": 0.7}),
        ),
        e(
            "8",
            "relationship_ended",
            "2024-11-01",
            json!({"from": "a", "to": "b", "kind": "trust"}),
        ),
        e(
            "9",
            "actor_joined",
            "2025-03-01",
            json!({"actor": "d", "kind": "network"}),
        ),
    ])
    .await;
    let q = to_kumu_timeline(&h, Every::Quarter);
    let tags = |list: &str, key: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        let item = q[list].as_array().unwrap().iter().find(|x| key(x)).unwrap();
        item["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let actor = |id: &'static str| move |x: &serde_json::Value| x["label"] == id;
    let quarters = |qs: &[&str]| qs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Active from 2024 Q1 to the end, through Q3 when nothing happened to it.
    assert_eq!(
        tags("elements", &actor("a")),
        quarters(&["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4", "2025 Q1"])
    );
    // Came and went inside Q2.
    assert_eq!(tags("elements", &actor("c")), quarters(&["2024 Q2"]));
    assert_eq!(tags("elements", &actor("d")), quarters(&["2025 Q1"]));
    // The relationship: formed in Q1, ended in Q4, not after.
    assert_eq!(
        tags("connections", &|_| true),
        quarters(&["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4"])
    );
    let rel = &q["connections"][0];
    assert_eq!(
        (rel["strength"].as_f64(), rel["trust"].as_f64()),
        (Some(0.7), Some(0.9)),
        "its last values"
    );
    assert_eq!(q["elements"].as_array().unwrap().len(), 4, "every element ever");
    let c = q["elements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["label"] == "c")
        .unwrap();
    assert_eq!(c["type"], "group", "one that left keeps its last values");
    let y = to_kumu_timeline(&h, Every::Year);
    let years: Vec<&str> = y["elements"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(years, ["2024", "2025"]);
}
