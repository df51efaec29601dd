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
    // Version 2 of the measures (`docs/measures.md`).
    /// Mean `trust` over the relationships that have one (`None` when none has).
    pub trust_mean: Option<f64>,
    /// Mean `value` over the relationships that have one (`None` when none has).
    pub value_mean: Option<f64>,
    /// Freeman's degree centralization of the undirected network U.
    pub degree_centralization: f64,
    /// 3 x triangles / connected triples of U.
    pub transitivity: f64,
    /// Mean shortest-path length over the pairs a path joins in U.
    pub average_path_length: f64,
    /// The longest of those shortest paths.
    pub diameter: usize,
    /// Krackhardt's E-I index by sector over U's edges whose two actors have a sector.
    pub ei_index: Option<f64>,
    /// Share of U's edges joined by relationships of at least two kinds.
    pub multiplexity: f64,
    /// Modularity of the engine's partition of U's connected actors into communities.
    /// Always in snapshots, diffs and comparisons; in an evolution only when asked for
    /// ([`EvolutionMeasures::All`]): it doubles an evolution's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modularity: Option<f64>,
    /// How many communities that partition has (as `modularity`, only when computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communities: Option<usize>,
    /// In an evolution step, what changed since the step before (its keys are added to
    /// the metrics); `None` in a snapshot.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::Change>,
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
    /// Harmonic centrality in U over n - 1 (version 2).
    pub closeness: f64,
    /// The largest k whose k-core of U holds it (version 2).
    pub core_number: usize,
    /// Mean trust of the relationships to it (`None` when none is rated).
    pub trust_in: Option<f64>,
    /// Mean trust of the relationships from it.
    pub trust_out: Option<f64>,
    /// Mean value of the relationships to it.
    pub value_in: Option<f64>,
    /// Mean value of the relationships from it.
    pub value_out: Option<f64>,
    /// Its community (numbered from 0 in order of each community's smallest actor id);
    /// `None` for an isolate.
    pub community: Option<usize>,
}

/// The seed of the community detection: fixed, so a network always gets the same
/// partition.
const COMMUNITY_SEED: u64 = 0x005e_edc0_ffee;

/// How many seeded runs of Leiden a partition is the best of.
const COMMUNITY_RUNS: u64 = 2;

/// A partition of U's connected actors into communities, with the best modularity
/// (resolution 1) of two methods: Leiden (the `leiden-rs` crate, sequential and seeded,
/// so the answer depends neither on the number of threads nor on the run) and the greedy
/// agglomerative method of Clauset, Newman and Moore (`greedy_partition`). Leiden is a
/// local search and on small, dense networks can stop short of what the greedy method
/// finds (a 20-actor, 54-edge place of the generated log: 0.178 against 0.196); the
/// greedy method alone is weak on large sparse ones. Returns each actor's community
/// (`None` for isolates), renumbered in order of smallest actor, the partition's
/// modularity (networkx's definition, computed here) and the count.
fn communities(n: usize, starts: &[usize], adjacency: &[usize]) -> (Vec<Option<usize>>, f64, usize) {
    let degree = |u: usize| starts[u + 1] - starts[u];
    let mut of = vec![None; n];
    if adjacency.is_empty() {
        return (of, 0.0, 0);
    }
    let connected: Vec<usize> = (0..n).filter(|&u| degree(u) > 0).collect();
    let mut compact = vec![usize::MAX; n];
    for (i, &u) in connected.iter().enumerate() {
        compact[u] = i;
    }
    // U's edges once each, between compact indices.
    let edges: Vec<(usize, usize)> = connected
        .iter()
        .flat_map(|&u| {
            let compact = &compact;
            adjacency[starts[u]..starts[u + 1]]
                .iter()
                .filter(move |&&v| v > u)
                .map(move |&v| (compact[u], compact[v]))
        })
        .collect();
    let k = connected.len();
    let mut candidates = leiden_partitions(k, &edges);
    candidates.push(greedy_partition(k, &edges));
    let (raw, q) = candidates
        .into_iter()
        .map(|p| {
            let q = modularity(&p, &edges);
            (p, q)
        })
        // The first of equals: Leiden's before the greedy one.
        .fold(None, |best: Option<(Vec<usize>, f64)>, (p, q)| match best {
            Some(b) if b.1 >= q => Some(b),
            _ => Some((p, q)),
        })
        .expect("the greedy method always gives a partition");
    // Renumbered in order of each community's smallest actor (actors are in id order).
    let mut number = FxHashMap::default();
    for (i, &u) in connected.iter().enumerate() {
        let next = number.len();
        of[u] = Some(*number.entry(raw[i]).or_insert(next));
    }
    (of, q, number.len())
}

/// Seeded, sequential runs of Leiden over `k` actors (none if the crate refuses the
/// network, which it should not).
fn leiden_partitions(k: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut builder = leiden_rs::GraphDataBuilder::new(k);
    if edges.iter().any(|&(u, v)| builder.add_edge(u, v, 1.0).is_err()) {
        return Vec::new();
    }
    let Ok(graph) = builder.build() else {
        return Vec::new();
    };
    (0..COMMUNITY_RUNS)
        .filter_map(|r| {
            let config = leiden_rs::LeidenConfig {
                seed: Some(COMMUNITY_SEED + r),
                ..Default::default()
            };
            leiden_rs::Leiden::new(config).run(&graph).ok()
        })
        .map(|out| (0..k).map(|i| out.partition.community_of(i)).collect())
        .collect()
}

/// Clauset-Newman-Moore: start from one community per actor and merge, again and again,
/// the two joined communities whose merge raises modularity most (the first such pair in
/// index order among equals, so the answer is fixed), until no merge raises it.
/// Written here because no maintained Rust crate has it. Each community keeps its best
/// merge; a merge changes only the gains of pairs with the merged community, so only its
/// neighbours' best merges are found again (an evolution runs this at every step).
fn greedy_partition(k: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    use std::collections::BTreeMap;
    let two_m = 2.0 * edges.len() as f64;
    // e[i][j]: the share of edge ends between communities i and j (each direction);
    // a[i]: the share of edge ends in community i.
    let mut e: Vec<BTreeMap<usize, f64>> = vec![BTreeMap::new(); k];
    let mut a = vec![0.0; k];
    for &(u, v) in edges {
        *e[u].entry(v).or_default() += 1.0 / two_m;
        *e[v].entry(u).or_default() += 1.0 / two_m;
        a[u] += 1.0 / two_m;
        a[v] += 1.0 / two_m;
    }
    // Community i's best merge: the largest gain, the smallest partner among equals.
    let best_of = |i: usize, e: &[BTreeMap<usize, f64>], a: &[f64]| -> Option<(f64, usize)> {
        e[i].iter().fold(None, |best, (&l, &w)| {
            let dq = 2.0 * (w - a[i] * a[l]);
            match best {
                Some((b, _)) if b >= dq => best,
                _ => Some((dq, l)),
            }
        })
    };
    let mut best: Vec<Option<(f64, usize)>> = (0..k).map(|i| best_of(i, &e, &a)).collect();
    let mut community: Vec<usize> = (0..k).collect();
    loop {
        // The largest gain of all; among equals the pair first in index order.
        let mut chosen: Option<(f64, usize, usize)> = None;
        for (i, b) in best.iter().enumerate() {
            let Some((dq, l)) = *b else { continue };
            let pair = (i.min(l), i.max(l));
            let better = match chosen {
                None => true,
                Some((c, ci, cj)) => dq > c || (dq == c && pair < (ci, cj)),
            };
            if better {
                chosen = Some((dq, pair.0, pair.1));
            }
        }
        let Some((_, i, j)) = chosen.filter(|&(dq, _, _)| dq > 1e-12) else {
            break;
        };
        // j into i.
        let joined = std::mem::take(&mut e[j]);
        for (l, w) in joined {
            e[l].remove(&j);
            if l != i {
                *e[i].entry(l).or_default() += w;
                *e[l].entry(i).or_default() += w;
            }
        }
        a[i] += a[j];
        a[j] = 0.0;
        best[j] = None;
        best[i] = best_of(i, &e, &a);
        let neighbours: Vec<usize> = e[i].keys().copied().collect();
        for l in neighbours {
            best[l] = best_of(l, &e, &a);
        }
        for c in community.iter_mut().filter(|c| **c == j) {
            *c = i;
        }
    }
    community
}

/// Newman's modularity (resolution 1) of a partition of `edges`' actors.
fn modularity(partition: &[usize], edges: &[(usize, usize)]) -> f64 {
    let m = edges.len() as f64;
    let mut inner = FxHashMap::<usize, f64>::default();
    let mut total = FxHashMap::<usize, f64>::default();
    for &(u, v) in edges {
        *total.entry(partition[u]).or_default() += 1.0;
        *total.entry(partition[v]).or_default() += 1.0;
        if partition[u] == partition[v] {
            *inner.entry(partition[u]).or_default() += 1.0;
        }
    }
    // Summed in community order, so equal partitions score exactly equal.
    let mut keys: Vec<usize> = total.keys().copied().collect();
    keys.sort_unstable();
    keys.iter()
        .map(|c| inner.get(c).copied().unwrap_or(0.0) / m - (total[c] / (2.0 * m)).powi(2))
        .sum()
}

/// The mean of what was summed, `None` for nothing.
fn mean((sum, count): (f64, usize)) -> Option<f64> {
    (count > 0).then(|| sum / count as f64)
}

/// What all-pairs shortest paths in U give (breadth first from every actor).
struct Paths {
    /// Sum of d(u, v) over ordered pairs a path joins, and how many such pairs.
    total: u64,
    joined: u64,
    diameter: usize,
    /// Per actor: sum of 1 / d(u, v) over the others it reaches.
    harmonic: Vec<f64>,
}

/// Breadth first from 64 actors at once (multi-source BFS, Then et al., VLDB 2014): each
/// actor keeps a 64-bit mask of the sources that have reached it, and one pass over the
/// edges advances all 64 searches a step. An evolution computes this at every step of
/// every place, where one search per actor cost three times the rest of the metrics.
fn shortest_paths(n: usize, starts: &[usize], adjacency: &[usize], per_actor: bool) -> Paths {
    let mut out = Paths {
        total: 0,
        joined: 0,
        diameter: 0,
        harmonic: vec![0.0; if per_actor { n } else { 0 }],
    };
    let (mut seen, mut frontier, mut next) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    for batch in (0..n).step_by(64) {
        let width = (n - batch).min(64);
        seen.fill(0);
        frontier.fill(0);
        for i in 0..width {
            seen[batch + i] = 1 << i;
            frontier[batch + i] = 1 << i;
        }
        for level in 1.. {
            // Each frontier actor passes its searches on to its neighbours.
            for u in 0..n {
                let f = frontier[u];
                if f != 0 {
                    for &v in &adjacency[starts[u]..starts[u + 1]] {
                        next[v] |= f;
                    }
                }
            }
            let mut reached = false;
            for v in 0..n {
                let m = next[v] & !seen[v];
                next[v] = m;
                if m == 0 {
                    continue;
                }
                reached = true;
                seen[v] |= m;
                out.total += u64::from(m.count_ones()) * level as u64;
                out.joined += u64::from(m.count_ones());
                out.diameter = out.diameter.max(level);
                if per_actor {
                    let mut bits = m;
                    while bits != 0 {
                        out.harmonic[batch + bits.trailing_zeros() as usize] += 1.0 / level as f64;
                        bits &= bits - 1;
                    }
                }
            }
            if !reached {
                break;
            }
            std::mem::swap(&mut frontier, &mut next);
            next.fill(0);
        }
    }
    out
}

/// Whether each node of U is an articulation point (removing it splits its component):
/// Hopcroft and Tarjan's depth-first search, without recursion, over the compressed rows
/// an evolution already has (building a petgraph graph for rustworkx-core's version cost
/// more than the search at every step). The set is defined by the graph alone, so it is
/// the one rustworkx-core and networkx give (`tests/networkx.rs` checks).
fn articulation_points(n: usize, starts: &[usize], adjacency: &[usize]) -> Vec<bool> {
    const NONE: usize = usize::MAX;
    let mut cut = vec![false; n];
    // Discovery times from 1 (0: not yet reached), and the lowest reachable through one
    // back edge from each node's subtree.
    let (mut disc, mut low) = (vec![0usize; n], vec![0usize; n]);
    let mut time = 0;
    // (node, its parent, its next neighbour to look at).
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    for root in 0..n {
        if disc[root] != 0 || starts[root] == starts[root + 1] {
            continue;
        }
        time += 1;
        (disc[root], low[root]) = (time, time);
        let mut children = 0;
        stack.push((root, NONE, starts[root]));
        while let Some(top) = stack.last_mut() {
            let (u, parent, next) = *top;
            if next < starts[u + 1] {
                top.2 += 1;
                let v = adjacency[next];
                if disc[v] == 0 {
                    time += 1;
                    (disc[v], low[v]) = (time, time);
                    if u == root {
                        children += 1;
                    }
                    stack.push((v, u, starts[v]));
                } else if v != parent {
                    low[u] = low[u].min(disc[v]);
                }
            } else {
                stack.pop();
                if parent != NONE {
                    low[parent] = low[parent].min(low[u]);
                    if parent != root && low[u] >= disc[parent] {
                        cut[parent] = true;
                    }
                }
            }
        }
        cut[root] = children > 1;
    }
    cut
}

/// The core number of each node of U (Batagelj and Zaversnik's bucket algorithm).
fn core_numbers(n: usize, starts: &[usize], adjacency: &[usize]) -> Vec<usize> {
    let mut degree: Vec<usize> = (0..n).map(|u| starts[u + 1] - starts[u]).collect();
    let max = degree.iter().copied().max().unwrap_or(0);
    // Nodes sorted by degree, with where each degree's run begins.
    let mut bin = vec![0usize; max + 2];
    for &d in &degree {
        bin[d + 1] += 1;
    }
    for d in 0..=max {
        bin[d + 1] += bin[d];
    }
    let mut pos = vec![0; n];
    let mut order = vec![0; n];
    let mut fill = bin.clone();
    for u in 0..n {
        pos[u] = fill[degree[u]];
        order[pos[u]] = u;
        fill[degree[u]] += 1;
    }
    for i in 0..n {
        let u = order[i];
        for &v in &adjacency[starts[u]..starts[u + 1]] {
            if degree[v] > degree[u] {
                // Move v to the front of its degree's run, then shrink its degree.
                let dv = degree[v];
                let (pv, pw) = (pos[v], bin[dv]);
                let w = order[pw];
                if v != w {
                    order.swap(pv, pw);
                    pos[v] = pw;
                    pos[w] = pv;
                }
                bin[dv] += 1;
                degree[v] -= 1;
            }
        }
    }
    degree
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

/// Which measures an evolution computes at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvolutionMeasures {
    /// Every measure but the communities (`modularity`, `communities`), which cost about
    /// as much as all the others together (docs/performance.md): what funders run most
    /// stays fast.
    #[default]
    Standard,
    /// Every measure, as a snapshot has them (`--measures all`).
    All,
}

impl std::str::FromStr for EvolutionMeasures {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "standard" => Ok(EvolutionMeasures::Standard),
            "all" => Ok(EvolutionMeasures::All),
            _ => Err(format!(
                "`{s}` is not `standard` (every measure but the communities) or `all`"
            )),
        }
    }
}

/// Computes a snapshot's metrics and per-actor measures.
pub fn compute(state: &PlaceState) -> (Metrics, BTreeMap<ActorId, ActorMeasures>) {
    compute_with(state, true, true)
}

/// Computes only the metrics (every one, communities included), without the per-actor
/// centralities, betweenness above all, which cost more than everything else together.
pub fn compute_metrics(state: &PlaceState) -> Metrics {
    compute_with(state, false, true).0
}

/// The metrics of an evolution step: [`compute_metrics`], with the communities only
/// when `measures` asks for them.
pub fn compute_step_metrics(state: &PlaceState, measures: EvolutionMeasures) -> Metrics {
    compute_with(state, false, measures == EvolutionMeasures::All).0
}

fn compute_with(
    state: &PlaceState,
    per_actor: bool,
    with_communities: bool,
) -> (Metrics, BTreeMap<ActorId, ActorMeasures>) {
    // Actors by index (in id order), and relationships as index pairs: an evolution
    // computes this hundreds of times, and id lookups in ordered maps dominated it.
    let active: Vec<(&ActorId, &ActorState)> = state.actors.iter().filter(|(_, s)| s.active).collect();
    let mut index: FxHashMap<&str, usize> = FxHashMap::with_capacity_and_hasher(active.len(), Default::default());
    index.extend(active.iter().enumerate().map(|(i, (a, _))| (a.as_str(), i)));
    let n = active.len();
    // Each relationship's ends as indices, looked up once (`None` for an actor not active,
    // which the fold never leaves in a relationship, but a hand-made state may).
    let ends: Vec<Option<(usize, usize)>> = state
        .relationships
        .keys()
        .map(|(from, to, _)| Some((*index.get(from.as_str())?, *index.get(to.as_str())?)))
        .collect();
    // Distinct ordered pairs (u, v) with a relationship from u to v. Relationships are
    // ordered by (from, to) ids and indices follow id order, so the pairs come out sorted.
    let mut pairs: Vec<(usize, usize)> = ends.iter().flatten().copied().collect();
    debug_assert!(pairs.is_sorted());
    pairs.dedup();
    // Distinct neighbours either way, as sorted runs of one vector (compressed rows): the
    // successors of u are a sorted run of `pairs`, its predecessors arrive in order as
    // `pairs` is walked, and the two runs are merged.
    let (starts, adjacency) = undirected_neighbours(n, &pairs);
    let neighbours = |u: usize| adjacency[starts[u]..starts[u + 1]].iter().copied();
    let degree = |u: usize| starts[u + 1] - starts[u];

    let (betweenness, degree_centrality) = if per_actor {
        // Degree over n - 1 (rustworkx-core's definition, on petgraph).
        let mut graph = UnGraph::<(), ()>::with_capacity(n, pairs.len());
        let nodes: Vec<NodeIndex> = (0..n).map(|_| graph.add_node(())).collect();
        for u in 0..n {
            for v in neighbours(u).filter(|&v| v > u) {
                graph.add_edge(nodes[u], nodes[v], ());
            }
        }
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
    let brokers = articulation_points(n, &starts, &adjacency);

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

    // The pairs from each actor are a sorted run of `pairs`: (v, u) is looked for in v's
    // run (a few entries) rather than in all of them.
    let mut runs = vec![0usize; n + 1];
    for &(u, _) in &pairs {
        runs[u + 1] += 1;
    }
    for u in 0..n {
        runs[u + 1] += runs[u];
    }
    let reciprocated = pairs
        .iter()
        .filter(|&&(u, v)| pairs[runs[v]..runs[v + 1]].binary_search_by_key(&u, |p| p.1).is_ok())
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

    // Version 2 (`docs/measures.md`). Trust and value, over R and per actor.
    let (mut trust, mut value) = ((0.0, 0), (0.0, 0));
    let mut per = vec![[(0.0, 0usize); 4]; n]; // trust in, trust out, value in, value out
                                               // The kinds joining each edge of U, for multiplexity: (first kind, more than one).
                                               // U's edges with the kind of each relationship along them, sorted so that an edge's
                                               // relationships are neighbours: multiplexity counts the edges with two kinds or more.
    let mut edge_kinds: Vec<((usize, usize), &str)> = Vec::with_capacity(ends.len());
    for (((_, _, kind), r), ends) in state.relationships.iter().zip(&ends) {
        for (x, total, (into, out_of)) in [(r.trust, &mut trust, (0, 1)), (r.value, &mut value, (2, 3))] {
            let Some(x) = x else { continue };
            total.0 += x;
            total.1 += 1;
            if let Some((u, v)) = *ends {
                per[v][into].0 += x;
                per[v][into].1 += 1;
                per[u][out_of].0 += x;
                per[u][out_of].1 += 1;
            }
        }
        if let Some((u, v)) = *ends {
            if u != v {
                edge_kinds.push(((u.min(v), u.max(v)), kind.as_str()));
            }
        }
    }
    edge_kinds.sort_unstable();
    let multiplex = edge_kinds
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.iter().any(|(_, k)| *k != run[0].1))
        .count();
    let edges = adjacency.len() / 2;
    let max_degree = (0..n).map(degree).max().unwrap_or(0);
    // Triangles, each counted once from its lowest-ranked corner (rank: degree, then
    // index) along edges to higher ranks only, so that a hub's long list of neighbours is
    // never walked from each of them (the "forward" algorithm, O(m^1.5)); and the
    // connected triples centred on each actor.
    let rank = |u: usize| (degree(u), u);
    let mut up_starts = Vec::with_capacity(n + 1);
    let mut up = Vec::with_capacity(adjacency.len() / 2);
    up_starts.push(0);
    for u in 0..n {
        up.extend(neighbours(u).filter(|&v| rank(v) > rank(u)));
        up_starts.push(up.len());
    }
    let higher = |u: usize| &up[up_starts[u]..up_starts[u + 1]];
    let mut mark = vec![usize::MAX; n];
    let (mut triangles, mut triples) = (0u64, 0u64);
    for v in 0..n {
        for &w in higher(v) {
            mark[w] = v;
        }
        for &w in higher(v) {
            triangles += higher(w).iter().filter(|&&x| mark[x] == v).count() as u64;
        }
        let d = degree(v) as u64;
        triples += d * d.saturating_sub(1) / 2;
    }
    let paths = shortest_paths(n, &starts, &adjacency, per_actor);
    let (mut within, mut between) = (0usize, 0usize);
    for u in 0..n {
        for v in neighbours(u).filter(|&v| v > u) {
            match (&active[u].1.sector, &active[v].1.sector) {
                (Some(a), Some(b)) if a == b => within += 1,
                (Some(_), Some(_)) => between += 1,
                _ => {}
            }
        }
    }
    let cores = if per_actor {
        core_numbers(n, &starts, &adjacency)
    } else {
        Vec::new()
    };
    let (community, modularity, community_count) = if with_communities || per_actor {
        let (c, q, k) = communities(n, &starts, &adjacency);
        (c, Some(q), Some(k))
    } else {
        (vec![None; n], None, None)
    };

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
                closeness: if n < 2 { 0.0 } else { paths.harmonic[i] / (n - 1) as f64 },
                core_number: cores[i],
                trust_in: mean(per[i][0]),
                trust_out: mean(per[i][1]),
                value_in: mean(per[i][2]),
                value_out: mean(per[i][3]),
                community: community[i],
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
        max_degree,
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
        trust_mean: mean(trust),
        value_mean: mean(value),
        degree_centralization: if n < 3 {
            0.0
        } else {
            (0..n).map(|v| max_degree - degree(v)).sum::<usize>() as f64 / ((n - 1) * (n - 2)) as f64
        },
        transitivity: if triangles == 0 {
            0.0
        } else {
            (3 * triangles) as f64 / triples as f64
        },
        average_path_length: if paths.joined == 0 {
            0.0
        } else {
            paths.total as f64 / paths.joined as f64
        },
        diameter: paths.diameter,
        ei_index: (within + between > 0).then(|| (between as f64 - within as f64) / (between + within) as f64),
        multiplexity: if edges == 0 {
            0.0
        } else {
            multiplex as f64 / edges as f64
        },
        modularity,
        communities: community_count,
        change: None,
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
    use super::{articulation_points, gini, undirected_neighbours};
    use petgraph::graph::{NodeIndex, UnGraph};
    use proptest::prelude::*;

    proptest! {
        /// The search written here finds the articulation points rustworkx-core finds, on
        /// random networks of up to 40 actors, sparse to dense, isolates included.
        #[test]
        fn articulation_points_are_rustworkx_s(
            n in 1usize..40,
            raw in proptest::collection::vec((0usize..40, 0usize..40), 0..120),
        ) {
            let mut pairs: Vec<(usize, usize)> =
                raw.into_iter().map(|(u, v)| (u % n, v % n)).filter(|(u, v)| u != v).collect();
            pairs.sort_unstable();
            pairs.dedup();
            let (starts, adjacency) = undirected_neighbours(n, &pairs);
            let mut graph = UnGraph::<(), ()>::new_undirected();
            let nodes: Vec<NodeIndex> = (0..n).map(|_| graph.add_node(())).collect();
            for u in 0..n {
                for &v in adjacency[starts[u]..starts[u + 1]].iter().filter(|&&v| v > u) {
                    graph.add_edge(nodes[u], nodes[v], ());
                }
            }
            let mut expected = vec![false; n];
            for i in rustworkx_core::connectivity::articulation_points(&graph, None) {
                expected[i.index()] = true;
            }
            prop_assert_eq!(articulation_points(n, &starts, &adjacency), expected);
        }
    }

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
