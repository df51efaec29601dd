//! Where each actor sits in a drawing: one layout per place, over its whole history, so
//! that an actor keeps its position in every drawing of that place, whatever the date.

use fa2::{FA2Data, FA2Settings};
use shiftlog::{EventBody, PlaceHistory};
use std::collections::HashMap;

/// Iterations of ForceAtlas2: enough for a few hundred actors to settle.
const ITERATIONS: usize = 400;

/// Positions of a place's actors in the unit square, from ForceAtlas2 (the `fa2` crate,
/// the algorithm Gephi uses) run over every actor that ever joined the place and every
/// relationship that ever formed there, weighted by strength.
///
/// The layout is deterministic: the same history gives the same positions.
///
/// ```
/// use shiftlog_report::Layout;
/// let layout = Layout::new(
///     ["council", "forum", "library"].map(String::from),
///     [("council".to_string(), "forum".to_string(), 0.5)],
/// );
/// let (x, y) = layout.position("forum");
/// assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
/// assert_eq!(layout.position("forum"), layout.position("forum"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Layout {
    positions: HashMap<String, (f64, f64)>,
}

impl Layout {
    /// The layout of a place over the whole history the view holds (retracted events do
    /// not count).
    pub fn of_history(history: &PlaceHistory) -> Layout {
        let mut actors = Vec::new();
        let mut edges = Vec::new();
        for (_, event) in history.events() {
            match &event.body {
                EventBody::ActorJoined { actor, .. } => actors.push(actor.to_string()),
                EventBody::RelationshipFormed { from, to, strength, .. } => {
                    edges.push((from.to_string(), to.to_string(), strength.unwrap_or(0.5)))
                }
                _ => {}
            }
        }
        Layout::new(actors, edges)
    }

    /// The layout of `actors` (duplicates ignored; the first mention sets the order the
    /// deterministic start uses) linked by weighted `edges`. Edges naming actors not in
    /// `actors` are ignored.
    pub fn new(
        actors: impl IntoIterator<Item = String>,
        edges: impl IntoIterator<Item = (String, String, f64)>,
    ) -> Layout {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut order = Vec::new();
        for a in actors {
            if !index.contains_key(&a) {
                index.insert(a.clone(), order.len());
                order.push(a);
            }
        }
        let n = order.len();
        if n == 0 {
            return Layout::default();
        }
        if n == 1 {
            return Layout {
                positions: HashMap::from([(order.swap_remove(0), (0.5, 0.5))]),
            };
        }
        let mut data = FA2Data::<f64>::with_node_capacity(n);
        for _ in 0..n {
            data.add_node();
        }
        // A circle in first-joined order: a deterministic start.
        data.apply_circular_layout();
        let mut seen = std::collections::HashSet::new();
        for (a, b, w) in edges {
            let (Some(&i), Some(&j)) = (index.get(&a), index.get(&b)) else {
                continue;
            };
            let key = (i.min(j), i.max(j));
            if i != j && seen.insert(key) {
                data.add_edge_with_weight(key.0, key.1, w.max(0.05));
            }
        }
        let mut fa2 = FA2Settings::from_graph_order(n).parallel(false).build(data);
        fa2.run(ITERATIONS);
        let raw: Vec<(f64, f64)> = fa2.data().positions().collect();
        Layout {
            positions: order.into_iter().zip(normalise(&raw)).collect(),
        }
    }

    /// The actor's position, both coordinates in [0, 1]. An actor the layout does not
    /// know (one that joined after the layout was made) gets a fixed spot on the rim
    /// derived from its id, so it too keeps its place across drawings.
    pub fn position(&self, actor: &str) -> (f64, f64) {
        if let Some(p) = self.positions.get(actor) {
            return *p;
        }
        // FNV-1a: stable across runs and platforms, unlike the std hasher.
        let h = actor.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let angle = (h % 3600) as f64 / 3600.0 * std::f64::consts::TAU;
        (0.5 + 0.5 * angle.cos(), 0.5 + 0.5 * angle.sin())
    }

    /// How many actors it places.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether it places none.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// Scales positions into [0, 1] keeping the aspect ratio, centred.
fn normalise(raw: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in raw {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let span = (x1 - x0).max(y1 - y0);
    if !span.is_finite() || span <= f64::EPSILON {
        return vec![(0.5, 0.5); raw.len()];
    }
    let (dx, dy) = ((span - (x1 - x0)) / 2.0, (span - (y1 - y0)) / 2.0);
    raw.iter()
        .map(|&(x, y)| ((x - x0 + dx) / span, (y - y0 + dy) / span))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn positions_are_in_the_unit_square_and_repeatable() {
        let actors: Vec<String> = (0..30).map(|i| format!("a{i}")).collect();
        let edges: Vec<_> = (0..29).map(|i| (format!("a{i}"), format!("a{}", i + 1), 0.5)).collect();
        let one = Layout::new(actors.clone(), edges.clone());
        let two = Layout::new(actors.clone(), edges);
        assert_eq!(one.len(), 30);
        for a in &actors {
            let (x, y) = one.position(a);
            assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y), "{a}: {x},{y}");
            assert_eq!(one.position(a), two.position(a));
        }
        // Not everyone in one spot.
        assert_ne!(one.position("a0"), one.position("a15"));
    }

    #[test]
    fn linked_actors_sit_closer_than_unlinked_ones() {
        // Two tight triangles joined by nothing: within-triangle distances are shorter.
        let actors = ["a", "b", "c", "x", "y", "z"].map(s);
        let edges =
            [("a", "b"), ("b", "c"), ("a", "c"), ("x", "y"), ("y", "z"), ("x", "z")].map(|(a, b)| (s(a), s(b), 1.0));
        let l = Layout::new(actors, edges);
        let d = |p: &str, q: &str| {
            let ((x1, y1), (x2, y2)) = (l.position(p), l.position(q));
            ((x1 - x2).powi(2) + (y1 - y2).powi(2)).sqrt()
        };
        assert!(d("a", "b") < d("a", "x"), "{} vs {}", d("a", "b"), d("a", "x"));
        assert!(d("y", "z") < d("c", "z"));
    }

    #[test]
    fn unknown_actors_get_a_stable_spot_and_tiny_layouts_work() {
        assert!(Layout::new(Vec::new(), Vec::new()).is_empty());
        assert_eq!(Layout::new([s("only")], Vec::new()).position("only"), (0.5, 0.5));
        let l = Layout::new([s("a"), s("b")], Vec::new());
        assert_eq!(l.position("late-joiner"), l.position("late-joiner"));
        let (x, y) = l.position("late-joiner");
        assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
    }
}
