//! What changed in a place between two dates.

use crate::fold::PlaceState;
use crate::metrics::compute_metrics;
use crate::query::PlaceHistory;
use crate::snapshot::RelationshipView;
use serde::Serialize;
use shiftlog_model::{EventBody, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// A relationship whose strength changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrengthChange {
    /// From this actor.
    pub from: String,
    /// To this actor.
    pub to: String,
    /// Its kind.
    pub kind: String,
    /// Strength at the start.
    pub before: f64,
    /// Strength at the end.
    pub after: f64,
}

/// How one actor's holding in one domain changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldingChange {
    /// The actor.
    pub actor: String,
    /// Holding at the start (0 when it had none or was not active).
    pub before: f64,
    /// Holding at the end (0 when it has none or is not active).
    pub after: f64,
}

/// A power shift recorded between the two dates, as it applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftView {
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The domain.
    pub domain: String,
    /// The giver, if inside the system.
    pub from: Option<String>,
    /// The receiver, if inside the system.
    pub to: Option<String>,
    /// The amount recorded.
    pub amount: f64,
}

/// The difference between a place's network at two dates (same view of the log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The place.
    pub place: String,
    /// The earlier date.
    pub from: Timestamp,
    /// The later date.
    pub to: Timestamp,
    /// The last log position the view includes.
    pub known_at_position: u64,
    /// Actors active at the end but not at the start.
    pub joined: Vec<String>,
    /// Actors active at the start but not at the end.
    pub left: Vec<String>,
    /// Relationships active at the end but not at the start.
    pub formed: Vec<RelationshipView>,
    /// Relationships active at the start but not at the end.
    pub ended: Vec<RelationshipView>,
    /// Relationships active at both whose strength rose.
    pub strengthened: Vec<StrengthChange>,
    /// Relationships active at both whose strength fell.
    pub weakened: Vec<StrengthChange>,
    /// Per domain, the actors whose holding changed.
    pub power_changes: BTreeMap<String, Vec<HoldingChange>>,
    /// The power shifts that occurred after the start and up to the end (not retracted).
    pub power_shifts: Vec<ShiftView>,
    /// Each numeric metric's change (end minus start); `power_gini.<domain>` for
    /// concentration, 0 standing in for a domain absent at one end.
    pub metric_deltas: BTreeMap<String, f64>,
    /// The lists above as counts, and the tie stability between the two dates.
    pub counts: crate::Change,
}

fn holdings(s: &PlaceState) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (a, st) in s.actors.iter().filter(|(_, st)| st.active) {
        for (d, x) in &st.power {
            out.entry(d.clone()).or_default().insert(a.to_string(), *x);
        }
    }
    out
}

fn view(k: &crate::fold::RelationshipKey, r: &crate::fold::RelationshipState) -> RelationshipView {
    RelationshipView {
        from: k.0.to_string(),
        to: k.1.to_string(),
        kind: k.2.clone(),
        strength: r.strength,
        trust: r.trust,
        value: r.value,
        directed: r.directed,
        since: r.since,
    }
}

impl PlaceHistory {
    /// What changed between valid times `from` and `to`.
    pub fn diff(&self, from: Timestamp, to: Timestamp) -> Diff {
        let between = self
            .events()
            .filter(|(_, e)| e.occurred_at > from && e.occurred_at <= to)
            .map(|(_, e)| e);
        diff_states(
            self.place(),
            from,
            to,
            self.known_at_position(),
            &self.state_at(from),
            &self.state_at(to),
            between,
        )
    }
}

/// The difference between two states of one place: `a` at `from`, `b` at `to`, and the
/// (non-retracted) events that occurred in between, in fold order.
pub(crate) fn diff_states<'e>(
    place: &shiftlog_model::PlaceId,
    from: Timestamp,
    to: Timestamp,
    known_at_position: u64,
    a: &PlaceState,
    b: &PlaceState,
    between: impl Iterator<Item = &'e shiftlog_model::Event>,
) -> Diff {
    let active = |s: &PlaceState| -> BTreeSet<String> {
        s.actors
            .iter()
            .filter(|(_, st)| st.active)
            .map(|(x, _)| x.to_string())
            .collect()
    };
    let (aa, ba) = (active(a), active(b));
    let mut d = Diff {
        place: place.to_string(),
        from,
        to,
        known_at_position,
        joined: ba.difference(&aa).cloned().collect(),
        left: aa.difference(&ba).cloned().collect(),
        formed: b
            .relationships
            .iter()
            .filter(|(k, _)| !a.relationships.contains_key(*k))
            .map(|(k, r)| view(k, r))
            .collect(),
        ended: a
            .relationships
            .iter()
            .filter(|(k, _)| !b.relationships.contains_key(*k))
            .map(|(k, r)| view(k, r))
            .collect(),
        strengthened: Vec::new(),
        weakened: Vec::new(),
        power_changes: BTreeMap::new(),
        power_shifts: Vec::new(),
        metric_deltas: BTreeMap::new(),
        counts: crate::change(a, b),
    };
    for (k, rb) in &b.relationships {
        if let Some(ra) = a.relationships.get(k) {
            let change = StrengthChange {
                from: k.0.to_string(),
                to: k.1.to_string(),
                kind: k.2.clone(),
                before: ra.strength,
                after: rb.strength,
            };
            if rb.strength > ra.strength {
                d.strengthened.push(change);
            } else if rb.strength < ra.strength {
                d.weakened.push(change);
            }
        }
    }
    let (ha, hb) = (holdings(a), holdings(b));
    let domains: BTreeSet<&String> = ha.keys().chain(hb.keys()).collect();
    for dom in domains {
        let empty = BTreeMap::new();
        let (xa, xb) = (ha.get(dom).unwrap_or(&empty), hb.get(dom).unwrap_or(&empty));
        let actors: BTreeSet<&String> = xa.keys().chain(xb.keys()).collect();
        let changes: Vec<HoldingChange> = actors
            .into_iter()
            .map(|x| HoldingChange {
                actor: x.clone(),
                before: xa.get(x).copied().unwrap_or(0.0),
                after: xb.get(x).copied().unwrap_or(0.0),
            })
            .filter(|c| c.before != c.after)
            .collect();
        if !changes.is_empty() {
            d.power_changes.insert(dom.clone(), changes);
        }
    }
    d.power_shifts = between
        .filter_map(|e| match &e.body {
            EventBody::PowerShifted {
                domain,
                amount,
                from,
                to,
                ..
            } => Some(ShiftView {
                occurred_at: e.occurred_at,
                domain: domain.clone(),
                from: from.as_ref().map(|x| x.to_string()),
                to: to.as_ref().map(|x| x.to_string()),
                amount: *amount,
            }),
            _ => None,
        })
        .collect();
    let (ma, mb) = (compute_metrics(a), compute_metrics(b));
    // Every registered measure's change; one that is undefined at either end (a mean
    // with nothing to average) has no delta.
    for m in crate::Measure::ALL {
        if let (Some(x), Some(y)) = (m.value(&ma), m.value(&mb)) {
            d.metric_deltas.insert(m.key().to_string(), y - x);
        }
    }
    let gini_domains: BTreeSet<&String> = ma.power_gini.keys().chain(mb.power_gini.keys()).collect();
    for g in gini_domains {
        let x = ma.power_gini.get(g).copied().unwrap_or(0.0);
        let y = mb.power_gini.get(g).copied().unwrap_or(0.0);
        d.metric_deltas.insert(format!("power_gini.{g}"), y - x);
    }
    d
}
