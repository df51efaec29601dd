//! Network metrics of a place's state, as `spec/event-format.md` defines them.

use crate::fold::{ActorState, PlaceState};
use petgraph::graph::{NodeIndex, UnGraph};
use rustc_hash::FxHashMap;
use serde::Serialize;
use shiftlog_model::ActorId;
use std::collections::{BTreeMap, BTreeSet};

/// The metrics of one snapshot. Field names are the JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Active actors.
    pub actors: usize,
    /// Active actors with at least one active relationship.
    pub connected_actors: usize,
    /// Active (from, to, kind) relationships.
    pub relationships: usize,
    /// Distinct ordered pairs (u, v) with a relationship from u to v, over n(n-1).
    pub density: f64,
    /// Weakly connected components among connected actors (isolates are not components).
    pub components: usize,
    /// The most distinct neighbours any actor has, either direction, any kind.
    pub max_degree: usize,
    /// Share of related ordered pairs whose reverse pair is also related.
    pub reciprocity: f64,
    /// Gini coefficient of holdings over active actors, per domain any of them holds.
    pub power_gini: BTreeMap<String, f64>,
    /// Articulation points of the undirected network of active actors.
    pub brokers: Vec<String>,
    /// Active actors with no active relationship.
    pub isolates: Vec<String>,
    /// Sessions held up to the snapshot's date.
    pub sessions: u64,
    /// Distinct voices recorded as absent up to the snapshot's date.
    pub absent_voices: usize,
    /// Learning records up to the snapshot's date.
    pub learning_records: u64,
    /// Outcomes harvested up to the snapshot's date.
    pub outcomes: u64,
    /// Anomalies among the events folded.
    pub anomalies: usize,
}

/// Per-actor measures in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorMeasures {
    /// Distinct neighbours, either direction.
    pub degree: usize,
    /// Degree over n - 1 (rustworkx-core).
    pub degree_centrality: f64,
    /// Normalised betweenness on the undirected network (Brandes; see `centrality.rs`).
    pub betweenness: f64,
    /// Whether removing it would split a component.
    pub broker: bool,
}

/// The Gini coefficient of `xs`: sum over i, j of |x_i - x_j| / (2 n^2 mean); 0 when the
/// total is 0.
pub fn gini(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let total: f64 = xs.iter().sum();
    if xs.is_empty() || total == 0.0 {
        return 0.0;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    // Sum over i < j of (x_j - x_i), from the sorted order.
    let pairs: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| x * (2.0 * i as f64 - n + 1.0))
        .sum();
    pairs / (n * total)
}

/// Computes a snapshot's metrics and per-actor measures.
pub fn compute(state: &PlaceState) -> (Metrics, BTreeMap<ActorId, ActorMeasures>) {
    compute_with(state, true)
}

/// Computes only the metrics: what an evolution series needs. Skips the per-actor
/// centralities, betweenness above all, which cost more than everything else together.
pub fn compute_metrics(state: &PlaceState) -> Metrics {
    compute_with(state, false).0
}

fn compute_with(state: &PlaceState, per_actor: bool) -> (Metrics, BTreeMap<ActorId, ActorMeasures>) {
    // Actors by index (in id order), and relationships as index pairs: an evolution
    // computes this hundreds of times, and id lookups in ordered maps dominated it.
    let active: Vec<(&ActorId, &ActorState)> = state.actors.iter().filter(|(_, s)| s.active).collect();
    let index: FxHashMap<&str, usize> = active.iter().enumerate().map(|(i, (a, _))| (a.as_str(), i)).collect();
    let n = active.len();
    // Distinct ordered pairs (u, v) with a relationship from u to v. Relationships are
    // ordered by (from, to) ids and indices follow id order, so the pairs come out sorted.
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(state.relationships.len());
    for (from, to, _) in state.relationships.keys() {
        if let (Some(&u), Some(&v)) = (index.get(from.as_str()), index.get(to.as_str())) {
            pairs.push((u, v));
        }
    }
    debug_assert!(pairs.is_sorted());
    pairs.dedup();
    // Distinct neighbours either way, as sorted runs of one vector (compressed rows): the
    // successors of u are a sorted run of `pairs`, its predecessors arrive in order as
    // `pairs` is walked, and the two runs are merged.
    let (starts, adjacency) = undirected_neighbours(n, &pairs);
    let neighbours = |u: usize| adjacency[starts[u]..starts[u + 1]].iter().copied();
    let degree = |u: usize| starts[u + 1] - starts[u];

    let mut graph = UnGraph::<(), ()>::with_capacity(n, pairs.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|_| graph.add_node(())).collect();
    for u in 0..n {
        for v in neighbours(u).filter(|&v| v > u) {
            graph.add_edge(nodes[u], nodes[v], ());
        }
    }
    let (betweenness, degree_centrality) = if per_actor {
        (
            crate::centrality::betweenness(&starts, &adjacency),
            // Degree over n - 1 is undefined for a lone actor: 0, as density is.
            if n < 2 {
                vec![0.0; n]
            } else {
                rustworkx_core::centrality::degree_centrality(&graph, None)
            },
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let mut brokers = vec![false; n];
    for i in rustworkx_core::connectivity::articulation_points(&graph, None) {
        brokers[i.index()] = true;
    }

    let connected: Vec<usize> = (0..n).filter(|&i| degree(i) > 0).collect();
    let mut components = 0;
    let mut seen = vec![false; n];
    for &start in &connected {
        if seen[start] {
            continue;
        }
        components += 1;
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(u) = stack.pop() {
            for v in neighbours(u) {
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
    }

    let reciprocated = pairs
        .iter()
        .filter(|&&(u, v)| pairs.binary_search(&(v, u)).is_ok())
        .count();
    let domains: BTreeSet<&String> = active.iter().flat_map(|(_, s)| s.power.keys()).collect();
    let power_gini = domains
        .into_iter()
        .map(|d| {
            let xs: Vec<f64> = active
                .iter()
                .map(|(_, s)| s.power.get(d).copied().unwrap_or(0.0))
                .collect();
            (d.clone(), gini(&xs))
        })
        .collect();

    let measures = active
        .iter()
        .enumerate()
        .filter(|_| per_actor)
        .map(|(i, (a, _))| {
            let m = ActorMeasures {
                degree: degree(i),
                degree_centrality: degree_centrality.get(i).copied().unwrap_or(0.0),
                betweenness: betweenness.get(i).copied().unwrap_or(0.0),
                broker: brokers[i],
            };
            ((*a).clone(), m)
        })
        .collect();

    let metrics = Metrics {
        actors: n,
        connected_actors: connected.len(),
        relationships: state.relationships.len(),
        density: if n < 2 {
            0.0
        } else {
            pairs.len() as f64 / (n * (n - 1)) as f64
        },
        components,
        max_degree: (0..n).map(degree).max().unwrap_or(0),
        reciprocity: if pairs.is_empty() {
            0.0
        } else {
            reciprocated as f64 / pairs.len() as f64
        },
        power_gini,
        brokers: (0..n)
            .filter(|&i| brokers[i])
            .map(|i| active[i].0.to_string())
            .collect(),
        isolates: (0..n)
            .filter(|&i| degree(i) == 0)
            .map(|i| active[i].0.to_string())
            .collect(),
        sessions: state.sessions,
        absent_voices: state.absent_voices.len(),
        learning_records: state.learning_records,
        outcomes: state.outcomes,
        anomalies: state.anomalies.len(),
    };
    (metrics, measures)
}

/// The neighbours of each of `n` nodes, either direction, without repeats and in
/// ascending order, as (row starts, concatenated rows), from `pairs` sorted and distinct.
fn undirected_neighbours(n: usize, pairs: &[(usize, usize)]) -> (Vec<usize>, Vec<usize>) {
    let mut out_starts = vec![0; n + 1];
    let mut in_starts = vec![0; n + 1];
    for &(u, v) in pairs {
        out_starts[u + 1] += 1;
        in_starts[v + 1] += 1;
    }
    for i in 0..n {
        out_starts[i + 1] += out_starts[i];
        in_starts[i + 1] += in_starts[i];
    }
    // Predecessors, bucketed by node; each bucket fills in ascending order.
    let mut preds = vec![0; pairs.len()];
    let mut fill = in_starts.clone();
    for &(u, v) in pairs {
        preds[fill[v]] = u;
        fill[v] += 1;
    }
    let mut starts = Vec::with_capacity(n + 1);
    let mut adjacency = Vec::with_capacity(2 * pairs.len());
    starts.push(0);
    for u in 0..n {
        let succ = pairs[out_starts[u]..out_starts[u + 1]].iter().map(|&(_, v)| v);
        let pred = &preds[in_starts[u]..in_starts[u + 1]];
        let (mut a, mut b) = (succ.peekable(), pred.iter().copied().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&x), Some(&y)) if x == y => {
                    b.next();
                    a.next()
                }
                (Some(&x), Some(&y)) if x < y => a.next(),
                (Some(_), None) => a.next(),
                (_, Some(_)) => b.next(),
                (None, None) => break,
            };
            adjacency.extend(next);
        }
        starts.push(adjacency.len());
    }
    (starts, adjacency)
}

#[cfg(test)]
mod tests {
    use super::{gini, undirected_neighbours};

    #[test]
    fn neighbours_either_way_without_repeats() {
        // 0 -> 1, 1 -> 0, 0 -> 2, 3 -> 0, 2 -> 3; 4 alone.
        let pairs = [(0, 1), (0, 2), (1, 0), (2, 3), (3, 0)];
        let (starts, adj) = undirected_neighbours(5, &pairs);
        let rows: Vec<&[usize]> = (0..5).map(|u| &adj[starts[u]..starts[u + 1]]).collect();
        assert_eq!(rows, [&[1, 2, 3][..], &[0], &[0, 3], &[0, 2], &[]]);
    }

    #[test]
    fn gini_matches_the_definition() {
        let naive = |xs: &[f64]| {
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let s: f64 = xs.iter().flat_map(|a| xs.iter().map(move |b| (a - b).abs())).sum();
            s / (2.0 * n * n * mean)
        };
        for xs in [
            vec![1.0, 0.0, 0.0],
            vec![0.75, 0.0, 0.25],
            vec![1.0, 2.0, 0.0, 0.0],
            vec![3.0, 3.0],
        ] {
            assert!((gini(&xs) - naive(&xs)).abs() < 1e-12, "{xs:?}");
        }
        assert_eq!(gini(&[0.0, 0.0]), 0.0);
        assert_eq!(gini(&[]), 0.0);
    }
}
