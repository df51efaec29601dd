//! Metric definitions checked on small hand-built networks whose answers are known.

use serde_json::json;
use shiftlog_model::Event;
use shiftlog_projection::{compute, AnomalyKind, PlaceState};
use shiftlog_store::Position;

fn fold(events: &[serde_json::Value]) -> PlaceState {
    let mut s = PlaceState::default();
    for (i, v) in events.iter().enumerate() {
        let mut v = v.clone();
        let m = v.as_object_mut().unwrap();
        m.entry("id").or_insert(json!(format!("e{i}")));
        m.entry("occurred_at").or_insert(json!("2023-01-01"));
        m.insert("place".into(), json!("x"));
        s.apply(&Event::from_json(&v).unwrap(), Position(i as u64 + 1));
    }
    s
}

fn join(a: &str) -> serde_json::Value {
    json!({"type": "actor_joined", "actor": a, "kind": "group"})
}

fn rel(from: &str, to: &str, kind: &str) -> serde_json::Value {
    json!({"type": "relationship_formed", "from": from, "to": to, "kind": kind})
}

#[test]
fn a_path_a_pair_and_an_isolate() {
    // a - b - c (b and c both ways), d -> e, f alone; a -> b twice, in two kinds.
    let mut es: Vec<_> = ["a", "b", "c", "d", "e", "f"].iter().map(|a| join(a)).collect();
    es.extend([
        rel("a", "b", "trust"),
        rel("a", "b", "funding"),
        rel("b", "c", "trust"),
        rel("c", "b", "information"),
        rel("d", "e", "trust"),
    ]);
    let (m, per) = compute(&fold(&es));
    assert_eq!(m.actors, 6);
    assert_eq!(m.relationships, 5, "(from, to, kind) triples");
    assert_eq!(m.connected_actors, 5);
    assert_eq!(m.components, 2, "a-b-c and d-e; the isolate is not a component");
    assert_eq!(m.max_degree, 2, "b's distinct neighbours a and c");
    assert!((m.density - 4.0 / 30.0).abs() < 1e-12, "4 ordered pairs over 6 * 5");
    assert!((m.reciprocity - 0.5).abs() < 1e-12, "b->c and c->b of 4 pairs");
    assert_eq!(m.brokers, vec!["b"]);
    assert_eq!(m.isolates, vec!["f"]);
    // b is on the one shortest path between a and c: 1 of (n-1)(n-2)/2 = 10 pairs.
    assert!((per[&"b".parse().unwrap()].betweenness - 0.1).abs() < 1e-12);
    assert_eq!(per[&"a".parse().unwrap()].betweenness, 0.0);
    assert_eq!(per[&"b".parse().unwrap()].degree, 2);
    assert!((per[&"b".parse().unwrap()].degree_centrality - 2.0 / 5.0).abs() < 1e-12);
}

#[test]
fn leaving_ends_relationships_and_rejoining_starts_afresh() {
    let s = fold(&[
        json!({"type": "actor_joined", "actor": "a", "kind": "group", "power": {"budget": 2.0}}),
        join("b"),
        rel("a", "b", "trust"),
        json!({"type": "actor_left", "actor": "a"}),
        json!({"type": "actor_left", "actor": "a"}),
        json!({"type": "actor_joined", "actor": "a", "kind": "network", "power": {"agenda": 1.0}}),
        join("a"),
    ]);
    let (m, _) = compute(&s);
    assert_eq!((m.actors, m.relationships), (2, 0));
    let a = &s.actors[&"a".parse().unwrap()];
    assert_eq!(a.power.keys().collect::<Vec<_>>(), ["agenda"], "power starts afresh");
    let kinds: Vec<_> = s.anomalies.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [AnomalyKind::ActorNotActive, AnomalyKind::AlreadyActive]);
    assert_eq!(m.power_gini["agenda"], 0.5, "a holds 1, b nothing");
}

#[test]
fn power_moves_only_what_the_giver_holds() {
    let s = fold(&[
        json!({"type": "actor_joined", "actor": "a", "kind": "group", "power": {"budget": 0.3}}),
        join("b"),
        json!({"type": "power_shifted", "from": "a", "to": "b", "domain": "budget", "amount": 1.0}),
        json!({"type": "power_shifted", "from": "b", "domain": "budget", "amount": 0.1}),
        json!({"type": "power_shifted", "to": "ghost", "domain": "budget", "amount": 0.1}),
    ]);
    let power = |x: &str| s.actors[&x.parse().unwrap()].power["budget"];
    assert_eq!(power("a"), 0.0, "a holding of 0 stays a holding");
    assert!((power("b") - 0.2).abs() < 1e-12);
    let kinds: Vec<_> = s.anomalies.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [AnomalyKind::PowerShortfall, AnomalyKind::ActorNotActive]);
    let (m, _) = compute(&s);
    assert_eq!(m.power_gini["budget"], 0.5);
}

#[test]
fn sessions_and_absent_voices_accumulate() {
    let s = fold(&[
        join("a"),
        json!({"type": "session_held", "session": "s1", "participants": ["a"], "absent_voices": ["young carers", "tenants"]}),
        json!({"type": "session_held", "session": "s2", "participants": ["a"], "absent_voices": ["young carers"]}),
    ]);
    let (m, _) = compute(&s);
    assert_eq!((m.sessions, m.absent_voices), (2, 2));
}

#[test]
fn a_lone_actor_has_centralities_of_zero_not_nan() {
    let (_, per) = compute(&fold(&[join("a")]));
    let a = &per[&"a".parse().unwrap()];
    assert_eq!((a.degree, a.degree_centrality, a.betweenness), (0, 0.0, 0.0));
    let (_, per) = compute(&fold(&[join("a"), join("b")]));
    assert_eq!(per[&"a".parse().unwrap()].degree_centrality, 0.0);
}

mod betweenness_against_rustworkx {
    //! Betweenness is computed by the project's own Brandes (for speed and run-to-run
    //! identical sums); rustworkx-core's is the reference here.
    use super::{fold, join, rel};
    use petgraph::graph::UnGraph;
    use proptest::prelude::*;
    use shiftlog_projection::compute;
    use std::collections::BTreeSet;

    fn check(n: usize, edges: &[(usize, usize, bool)]) -> Result<(), TestCaseError> {
        let name = |i: usize| format!("a{i:03}");
        let mut es: Vec<_> = (0..n).map(|i| join(&name(i))).collect();
        let mut pairs = BTreeSet::new();
        for &(u, v, second_kind) in edges {
            if u != v {
                es.push(rel(&name(u), &name(v), if second_kind { "funding" } else { "trust" }));
                pairs.insert((u.min(v), u.max(v)));
            }
        }
        let (_, per) = compute(&fold(&es));
        // The same network as rustworkx-core sees it: one undirected edge per related pair.
        let mut g = UnGraph::<(), ()>::with_capacity(n, pairs.len());
        let nodes: Vec<_> = (0..n).map(|_| g.add_node(())).collect();
        for &(u, v) in &pairs {
            g.add_edge(nodes[u], nodes[v], ());
        }
        let want = rustworkx_core::centrality::betweenness_centrality(&g, false, true, usize::MAX);
        for i in 0..n {
            let got = per[&name(i).parse().unwrap()].betweenness;
            let want = want[i].unwrap();
            prop_assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "node {i}: {got} vs {want}"
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn small_networks(n in 1usize..40, raw in prop::collection::vec((0usize..40, 0usize..40, any::<bool>()), 0..120)) {
            let edges: Vec<_> = raw.into_iter().map(|(u, v, k)| (u % n, v % n, k)).collect();
            check(n, &edges)?;
        }

        // Large enough to take the parallel path (chunks summed in order).
        #[test]
        fn larger_networks(n in 150usize..260, raw in prop::collection::vec((0usize..260, 0usize..260, any::<bool>()), 600..1500)) {
            let edges: Vec<_> = raw.into_iter().map(|(u, v, k)| (u % n, v % n, k)).collect();
            check(n, &edges)?;
        }
    }

    #[test]
    fn the_same_bits_every_time() {
        let n = 220;
        let edges: Vec<_> = (0..n)
            .flat_map(|i| [(i, (i * 7 + 3) % n, false), (i, (i * 13 + 5) % n, true)])
            .collect();
        let name = |i: usize| format!("a{i:03}");
        let mut es: Vec<_> = (0..n).map(|i| join(&name(i))).collect();
        es.extend(
            edges
                .iter()
                .filter(|(u, v, _)| u != v)
                .map(|&(u, v, k)| rel(&name(u), &name(v), if k { "funding" } else { "trust" })),
        );
        let state = fold(&es);
        let first = compute(&state).1;
        for _ in 0..5 {
            let again = compute(&state).1;
            for (a, m) in &first {
                assert_eq!(m.betweenness.to_bits(), again[a].betweenness.to_bits(), "{a}");
            }
        }
        check(n, &edges).unwrap();
    }
}

// ---- Version 2 of the measures (docs/measures.md), on networks whose answers are known.

fn close(x: f64, want: f64, what: &str) {
    assert!((x - want).abs() < 1e-12, "{what}: {x}, want {want}");
}

fn joined_with_sector(a: &str, sector: &str) -> serde_json::Value {
    json!({"type": "actor_joined", "actor": a, "kind": "group", "sector": sector})
}

#[test]
fn a_star() {
    // c at the centre, four leaves; no trust or value anywhere.
    let mut es: Vec<_> = ["c", "l1", "l2", "l3", "l4"].iter().map(|a| join(a)).collect();
    es.extend(["l1", "l2", "l3", "l4"].iter().map(|l| rel("c", l, "collaboration")));
    let (m, per) = compute(&fold(&es));
    close(m.degree_centralization, 1.0, "a star is fully centralized");
    close(m.transitivity, 0.0, "no triangle");
    close(m.average_path_length, 16.0 / 10.0, "4 pairs at 1 step, 6 at 2");
    assert_eq!(m.diameter, 2);
    close(m.multiplexity, 0.0, "one kind per pair");
    // Any split of a star scores below keeping it whole (Q = 0).
    assert_eq!(m.communities, Some(1));
    close(m.modularity.unwrap(), 0.0, "a star is one community");
    assert_eq!(
        (m.trust_mean, m.value_mean, m.ei_index),
        (None, None, None),
        "nothing rated, no sectors"
    );
    let c = &per[&"c".parse().unwrap()];
    close(c.closeness, 1.0, "the centre reaches all four in one step");
    close(per[&"l1".parse().unwrap()].closeness, (1.0 + 3.0 * 0.5) / 4.0, "a leaf");
    assert!(per.values().all(|a| a.core_number == 1));
    assert_eq!((c.trust_in, c.trust_out, c.value_out), (None, None, None));
}

#[test]
fn a_triangle_with_a_tail() {
    // a, b, c in a triangle; d hangs off c. Trust on two relationships.
    let mut es: Vec<_> = ["a", "b", "c", "d"].iter().map(|a| join(a)).collect();
    es.extend([
        json!({"type": "relationship_formed", "from": "a", "to": "b", "kind": "trust", "trust": 0.2}),
        json!({"type": "relationship_formed", "from": "c", "to": "b", "kind": "trust", "trust": 0.6, "value": 1.0}),
        rel("c", "a", "trust"),
        rel("c", "d", "funding"),
    ]);
    let (m, per) = compute(&fold(&es));
    close(m.transitivity, 3.0 / 5.0, "one triangle, five connected triples");
    close(m.average_path_length, 8.0 / 6.0, "four pairs at 1 step, two at 2");
    assert_eq!(m.diameter, 2);
    close(m.degree_centralization, 4.0 / 6.0, "(1 + 1 + 0 + 2) / (3 x 2)");
    close(m.trust_mean.unwrap(), 0.4, "mean of the two rated");
    close(m.value_mean.unwrap(), 1.0, "one rated");
    let core = |a: &str| per[&a.parse().unwrap()].core_number;
    assert_eq!((core("a"), core("b"), core("c"), core("d")), (2, 2, 2, 1));
    let b = &per[&"b".parse().unwrap()];
    close(b.trust_in.unwrap(), 0.4, "b is trusted by a (0.2) and c (0.6)");
    assert_eq!(b.trust_out, None);
    close(
        per[&"c".parse().unwrap()].value_out.unwrap(),
        1.0,
        "c's one valued relationship",
    );
}

#[test]
fn two_cliques_joined_by_one_edge() {
    // Two groups of four, everyone related within each (public and vcse), a1 - b1 across,
    // and a1 - a2 related in two kinds.
    let a = ["a1", "a2", "a3", "a4"];
    let b = ["b1", "b2", "b3", "b4"];
    let mut es: Vec<_> = a.iter().map(|x| joined_with_sector(x, "public")).collect();
    es.extend(b.iter().map(|x| joined_with_sector(x, "vcse")));
    for group in [a, b] {
        for i in 0..4 {
            for j in i + 1..4 {
                es.push(rel(group[i], group[j], "collaboration"));
            }
        }
    }
    es.push(rel("a1", "b1", "collaboration"));
    es.push(rel("a2", "a1", "information"));
    let (m, per) = compute(&fold(&es));
    close(
        m.transitivity,
        3.0 * 8.0 / 30.0,
        "eight triangles; 30 connected triples",
    );
    assert_eq!(m.diameter, 3, "a2 - a1 - b1 - b2");
    // 13 edges at 1 step; across: a1-b(2..4) and b1-a(2..4) at 2, the other 9 at 3.
    close(m.average_path_length, (13.0 + 6.0 * 2.0 + 9.0 * 3.0) / 28.0, "28 pairs");
    close(
        m.ei_index.unwrap(),
        (1.0 - 12.0) / 13.0,
        "one edge across sectors, twelve within",
    );
    close(m.multiplexity, 1.0 / 13.0, "a1 - a2 in two kinds");
    assert!(per.values().all(|x| x.core_number == 3), "every actor is in the 3-core");
    close(
        per[&"a1".parse().unwrap()].closeness,
        (4.0 + 3.0 * 0.5) / 7.0,
        "a1: four at 1 step, three at 2",
    );
    // The two groups are the communities, numbered by their smallest actor (a1, then b1):
    // 13 edges, 6 inside each group, each group's degrees summing to 13.
    assert_eq!(m.communities, Some(2));
    close(
        m.modularity.unwrap(),
        2.0 * (6.0 / 13.0 - (13.0_f64 / 26.0).powi(2)),
        "Q of the two groups",
    );
    for (group, number) in [(a, 0), (b, 1)] {
        for x in group {
            assert_eq!(per[&x.parse().unwrap()].community, Some(number), "{x}");
        }
    }
}

#[test]
fn communities_leave_isolates_out_and_are_none_without_edges() {
    let es: Vec<_> = ["a", "b", "c"].iter().map(|a| join(a)).collect();
    let (m, per) = compute(&fold(&es));
    assert_eq!(
        (m.modularity, m.communities),
        (Some(0.0), Some(0)),
        "no edge, no community"
    );
    assert!(per.values().all(|x| x.community.is_none()));
    // A single edge: one community of two; its modularity is 1 - (2/2)^2 = 0.
    let mut es = es;
    es.push(rel("b", "c", "collaboration"));
    let (m, per) = compute(&fold(&es));
    assert_eq!(m.communities, Some(1));
    close(m.modularity.unwrap(), 0.0, "one edge in one community: 1 - 1");
    assert_eq!(per[&"a".parse().unwrap()].community, None, "the isolate");
    assert_eq!(per[&"b".parse().unwrap()].community, Some(0));
}

#[test]
fn communities_are_the_same_on_every_thread_and_every_run() {
    // A network with many near-equal partitions (rings of cliques, chords between them),
    // computed on eight threads at once.
    let ids: Vec<String> = (0..60).map(|i| format!("x{i:02}")).collect();
    let mut es: Vec<_> = ids.iter().map(|a| join(a)).collect();
    for i in 0..60 {
        for d in [1, 2, 7] {
            es.push(rel(&ids[i], &ids[(i + d) % 60], "collaboration"));
        }
    }
    let state = fold(&es);
    let first = format!("{:?}", compute(&state));
    let others: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| format!("{:?}", compute(&state)))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(others.iter().all(|o| *o == first));
    assert!(compute(&state).0.communities > Some(1));
}
