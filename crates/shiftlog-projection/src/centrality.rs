//! Betweenness centrality (Brandes 2001) over the compact adjacency that [`crate::metrics`]
//! builds, normalised as rustworkx-core's `betweenness_centrality(g, false, true, _)` is.
//!
//! Why not rustworkx-core's own: a snapshot of a 500-actor place spent more than half its
//! time there. It keeps a predecessor list per node per source (an allocation each), and
//! its parallel mode adds sources' contributions in whatever order threads finish, so a
//! snapshot's values could differ in their last bits between two runs. This one walks the
//! adjacency again instead of keeping predecessors, reuses its buffers, and splits the
//! sources into a fixed number of contiguous chunks whose sums are added in chunk order:
//! the result is the same bit for bit on any number of threads. It is checked against
//! rustworkx-core on random graphs (tests/metrics.rs).

use rayon::prelude::*;

/// Below this many node-edge steps (sources × adjacency entries) one thread is faster than
/// handing out chunks.
const PARALLEL_WORK: usize = 200_000;

/// The number of source chunks: a function of `n` only, so that the order of additions
/// never depends on the machine.
fn chunks(n: usize) -> usize {
    n.div_ceil(16).clamp(1, 64)
}

/// Normalised betweenness of every node of the undirected graph whose neighbours of `u`
/// are `adj[starts[u]..starts[u + 1]]` (each edge listed from both ends, no self-loops).
pub(crate) fn betweenness(starts: &[usize], adj: &[usize]) -> Vec<f64> {
    let n = starts.len().saturating_sub(1);
    if n == 0 {
        return Vec::new();
    }
    let k = chunks(n);
    let range = |c: usize| (c * n / k)..((c + 1) * n / k);
    let partial = |c: usize| {
        let mut work = Work::new(n);
        for s in range(c) {
            work.add_source(s, starts, adj);
        }
        work.total
    };
    let partials: Vec<Vec<f64>> = if n.saturating_mul(adj.len()) >= PARALLEL_WORK {
        (0..k).into_par_iter().map(partial).collect()
    } else {
        (0..k).map(partial).collect()
    };
    let mut total = vec![0.0; n];
    for p in &partials {
        for (t, x) in total.iter_mut().zip(p) {
            *t += x;
        }
    }
    // Each unordered pair is counted from both of its ends; this is the scale networkx and
    // rustworkx-core use for normalised, undirected betweenness without endpoints.
    if n > 2 {
        let scale = 1.0 / ((n - 1) * (n - 2)) as f64;
        for t in &mut total {
            *t *= scale;
        }
    }
    total
}

/// One thread's buffers, reused from source to source.
struct Work {
    total: Vec<f64>,
    dist: Vec<u32>,
    sigma: Vec<f64>,
    delta: Vec<f64>,
    /// Nodes in the order they are reached; the first `reached` are this source's.
    order: Vec<usize>,
}

const UNSEEN: u32 = u32::MAX;

impl Work {
    fn new(n: usize) -> Work {
        Work {
            total: vec![0.0; n],
            dist: vec![UNSEEN; n],
            sigma: vec![0.0; n],
            delta: vec![0.0; n],
            order: vec![0; n],
        }
    }

    /// Adds source `s`'s dependencies to `total`.
    fn add_source(&mut self, s: usize, starts: &[usize], adj: &[usize]) {
        // Plain slices, so that the compiler keeps their addresses in registers.
        let total = self.total.as_mut_slice();
        let dist = self.dist.as_mut_slice();
        let sigma = self.sigma.as_mut_slice();
        let delta = self.delta.as_mut_slice();
        let order = self.order.as_mut_slice();
        let neighbours = |u: usize| &adj[starts[u]..starts[u + 1]];
        // Breadth-first from s; `order` is also the queue. The inner loops avoid
        // data-dependent branches where they can (a 0/1 factor instead of an `if`):
        // whether a neighbour is one step on is unpredictable, and mispredictions were
        // most of their cost.
        order[0] = s;
        let mut reached = 1;
        dist[s] = 0;
        sigma[s] = 1.0;
        let mut head = 0;
        while head < reached {
            let v = order[head];
            head += 1;
            let next = dist[v] + 1;
            let sigma_v = sigma[v];
            for &w in neighbours(v) {
                if dist[w] == UNSEEN {
                    dist[w] = next;
                    order[reached] = w;
                    reached += 1;
                }
                sigma[w] += sigma_v * f64::from(u8::from(dist[w] == next));
            }
        }
        // Dependencies, farthest first: a predecessor of w is a neighbour one step closer.
        for &w in order[..reached].iter().rev() {
            let coeff = (1.0 + delta[w]) / sigma[w];
            let closer = dist[w].wrapping_sub(1);
            for &v in neighbours(w) {
                delta[v] += sigma[v] * coeff * f64::from(u8::from(dist[v] == closer));
            }
            if w != s {
                total[w] += delta[w];
            }
        }
        for &w in &order[..reached] {
            dist[w] = UNSEEN;
            sigma[w] = 0.0;
            delta[w] = 0.0;
        }
    }
}
