//! The registry of a snapshot's measures: the one table that says which measures there are,
//! their JSON keys, their words for people and how to read each from [`Metrics`]. The CLI's
//! CSV, the diff's deltas and the server's `/v1/measures` (which the dashboard reads) list
//! them from here; a new measure is a field of `Metrics`, its computation, and one line below.
//! Power concentration (`power_gini`, one value per domain) is not a single number and is
//! listed beside these where it is shown.

use crate::metrics::Metrics;
use serde::Serialize;

macro_rules! measures {
    ($( $variant:ident: $key:literal, $label:literal, $shape:ident, $about:literal, |$m:ident| $value:expr; )*) => {
        /// One measure of a snapshot (version 1 of the definitions in the interchange
        /// format, version 2 in `docs/measures.md`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Measure {
            $(
                #[doc = $about]
                $variant,
            )*
        }

        impl Measure {
            /// Every measure, in the order tables list them.
            pub const ALL: &'static [Measure] = &[$(Measure::$variant),*];

            /// Its key in `metrics` (the JSON contract).
            pub fn key(self) -> &'static str {
                match self {
                    $(Measure::$variant => $key,)*
                }
            }

            /// Its name for people.
            pub fn label(self) -> &'static str {
                match self {
                    $(Measure::$variant => $label,)*
                }
            }

            /// What it is, in one sentence.
            pub fn about(self) -> &'static str {
                match self {
                    $(Measure::$variant => $about,)*
                }
            }

            /// A count, a ratio (0 to 1, or -1 to 1) or a mean.
            pub fn shape(self) -> Shape {
                match self {
                    $(Measure::$variant => Shape::$shape,)*
                }
            }

            /// Its value in `m`; `None` where the definition leaves it undefined.
            pub fn value(self, m: &Metrics) -> Option<f64> {
                match self {
                    $(Measure::$variant => { let $m = m; $value })*
                }
            }
        }
    };
}

/// What kind of number a measure is: how it is printed and charted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A whole number.
    Count,
    /// A share, index or mean.
    Ratio,
}

measures! {
    Actors: "actors", "actors", Count, "Actors active in the place.", |m| Some(m.actors as f64);
    ConnectedActors: "connected_actors", "connected actors", Count,
        "Active actors with at least one active relationship.", |m| Some(m.connected_actors as f64);
    Relationships: "relationships", "relationships", Count,
        "Active (from, to, kind) relationships.", |m| Some(m.relationships as f64);
    Density: "density", "density", Ratio,
        "Distinct ordered pairs joined by a relationship, over n(n - 1).", |m| Some(m.density);
    Components: "components", "components", Count,
        "Connected groups among the connected actors.", |m| Some(m.components as f64);
    MaxDegree: "max_degree", "max degree", Count,
        "The most distinct neighbours any actor has.", |m| Some(m.max_degree as f64);
    Reciprocity: "reciprocity", "reciprocity", Ratio,
        "The share of related ordered pairs related both ways.", |m| Some(m.reciprocity);
    TrustMean: "trust_mean", "mean trust", Ratio,
        "Mean trust over the relationships that have a trust score.", |m| m.trust_mean;
    ValueMean: "value_mean", "mean value", Ratio,
        "Mean value over the relationships that have a value score.", |m| m.value_mean;
    DegreeCentralization: "degree_centralization", "degree centralization", Ratio,
        "Freeman's degree centralization: how far the network is from a star (1) towards evenness (0).",
        |m| Some(m.degree_centralization);
    Transitivity: "transitivity", "transitivity", Ratio,
        "3 x triangles over connected triples: how often partners of a partner are partners.",
        |m| Some(m.transitivity);
    AveragePathLength: "average_path_length", "average path length", Ratio,
        "Mean number of steps between the pairs of actors a path joins.", |m| Some(m.average_path_length);
    Diameter: "diameter", "diameter", Count,
        "The most steps between two actors a path joins.", |m| Some(m.diameter as f64);
    EiIndex: "ei_index", "E-I index (sectors)", Ratio,
        "Krackhardt's E-I index by sector: -1 when every tie stays within a sector, 1 when every tie crosses.",
        |m| m.ei_index;
    Multiplexity: "multiplexity", "multiplexity", Ratio,
        "The share of connected pairs joined by relationships of two kinds or more.", |m| Some(m.multiplexity);
    Modularity: "modularity", "modularity", Ratio,
        "How strongly the network divides into communities (the better of Leiden's and the greedy partition; 0 without relationships).", |m| m.modularity;
    Communities: "communities", "communities", Count,
        "Communities in that partition of the connected actors.", |m| m.communities.map(|c| c as f64);
    Sessions: "sessions", "sessions", Count, "Sessions held up to the date.", |m| Some(m.sessions as f64);
    AbsentVoices: "absent_voices", "absent voices", Count,
        "Distinct voices recorded as still missing, up to the date.", |m| Some(m.absent_voices as f64);
    LearningRecords: "learning_records", "learning records", Count,
        "Learning notes recorded up to the date.", |m| Some(m.learning_records as f64);
    Outcomes: "outcomes", "outcomes", Count, "Outcomes harvested up to the date.", |m| Some(m.outcomes as f64);
    Anomalies: "anomalies", "anomalies", Count,
        "Events that made no sense at their moment (late recording).", |m| Some(m.anomalies as f64);
}

/// One measure of an actor in a snapshot (`actors` of its JSON): what exports that carry
/// per-actor values (Kumu's elements, the workbook's actors sheet) list, from this one
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorMeasure {
    /// Distinct neighbours.
    Degree,
    /// Degree centrality.
    DegreeCentrality,
    /// Betweenness centrality.
    Betweenness,
    /// Harmonic closeness.
    Closeness,
    /// Core number.
    CoreNumber,
    /// Community in the engine's partition.
    Community,
    /// Mean trust of the relationships to it.
    TrustIn,
    /// Mean trust of the relationships from it.
    TrustOut,
    /// Mean value of the relationships to it.
    ValueIn,
    /// Mean value of the relationships from it.
    ValueOut,
}

impl ActorMeasure {
    /// Every actor measure, in the order exports list them (degree and betweenness first,
    /// where the exports had them before the others came).
    pub const ALL: &'static [ActorMeasure] = &[
        ActorMeasure::Degree,
        ActorMeasure::Betweenness,
        ActorMeasure::DegreeCentrality,
        ActorMeasure::Closeness,
        ActorMeasure::CoreNumber,
        ActorMeasure::Community,
        ActorMeasure::TrustIn,
        ActorMeasure::TrustOut,
        ActorMeasure::ValueIn,
        ActorMeasure::ValueOut,
    ];

    /// Its key in a snapshot's `actors` (the JSON contract), and its column name.
    pub fn key(self) -> &'static str {
        match self {
            ActorMeasure::Degree => "degree",
            ActorMeasure::DegreeCentrality => "degree_centrality",
            ActorMeasure::Betweenness => "betweenness",
            ActorMeasure::Closeness => "closeness",
            ActorMeasure::CoreNumber => "core_number",
            ActorMeasure::Community => "community",
            ActorMeasure::TrustIn => "trust_in",
            ActorMeasure::TrustOut => "trust_out",
            ActorMeasure::ValueIn => "value_in",
            ActorMeasure::ValueOut => "value_out",
        }
    }

    /// Its value for `a`; `None` where undefined (no rated relationship, an isolate's
    /// community).
    pub fn value(self, a: &crate::ActorView) -> Option<f64> {
        match self {
            ActorMeasure::Degree => Some(a.degree as f64),
            ActorMeasure::DegreeCentrality => Some(a.degree_centrality),
            ActorMeasure::Betweenness => Some(a.betweenness),
            ActorMeasure::Closeness => Some(a.closeness),
            ActorMeasure::CoreNumber => Some(a.core_number as f64),
            ActorMeasure::Community => a.community.map(|c| c as f64),
            ActorMeasure::TrustIn => a.trust_in,
            ActorMeasure::TrustOut => a.trust_out,
            ActorMeasure::ValueIn => a.value_in,
            ActorMeasure::ValueOut => a.value_out,
        }
    }
}

/// The registry as JSON: `[{"key", "label", "shape", "about"}]`, in table order.
pub fn registry_json() -> serde_json::Value {
    Measure::ALL
        .iter()
        .map(|m| serde_json::json!({"key": m.key(), "label": m.label(), "shape": m.shape(), "about": m.about()}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Measure;

    /// Every registered measure is a key of the metrics' JSON, read back as the registry
    /// reads it, and every numeric key of that JSON is registered (or is `power_gini`, or
    /// a list).
    #[test]
    fn the_registry_and_the_json_agree() {
        let state = crate::fold::PlaceState::default();
        let m = crate::compute_metrics(&state);
        let json = serde_json::to_value(&m).unwrap();
        let object = json.as_object().unwrap();
        for measure in Measure::ALL {
            let v = &object[measure.key()];
            assert_eq!(v.as_f64(), measure.value(&m), "{}", measure.key());
        }
        for (k, v) in object {
            if v.is_number() || v.is_null() {
                assert!(Measure::ALL.iter().any(|m| m.key() == k), "{k} is not in the registry");
            }
        }
        let keys: std::collections::BTreeSet<_> = Measure::ALL.iter().map(|m| m.key()).collect();
        assert_eq!(keys.len(), Measure::ALL.len(), "keys repeat");
    }

    /// Every actor measure is a key of a snapshot's actors, read back as the registry
    /// reads it, and every numeric key of an actor is registered (or is in `power`).
    #[test]
    fn the_actor_registry_and_the_json_agree() {
        use super::ActorMeasure;
        let events = shiftlog_model::parse_input(
            r#"{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
{"type":"actor_joined","id":"a","occurred_at":"2023-01-02","place":"x","actor":"a","kind":"group"}
{"type":"actor_joined","id":"b","occurred_at":"2023-01-02","place":"x","actor":"b","kind":"group"}
{"type":"relationship_formed","id":"r","occurred_at":"2023-01-03","place":"x","from":"a","to":"b","kind":"trust","trust":0.5}"#,
        );
        let mut state = crate::fold::PlaceState::default();
        for (i, e) in events.events.iter().enumerate() {
            state.apply(&e.event, shiftlog_store::Position(i as u64 + 1));
        }
        let place = shiftlog_model::PlaceId::new("x").unwrap();
        let snap = crate::Snapshot::new(&place, "2023-02-01".parse().unwrap(), 4, &state, &Default::default());
        let json = serde_json::to_value(&snap).unwrap();
        for (view, a) in snap.actors.iter().zip(json["actors"].as_array().unwrap()) {
            for m in ActorMeasure::ALL {
                assert_eq!(a[m.key()].as_f64(), m.value(view), "{}", m.key());
            }
            for (k, v) in a.as_object().unwrap() {
                if v.is_number() || v.is_null() && k != "name" && k != "sector" {
                    assert!(
                        ActorMeasure::ALL.iter().any(|m| m.key() == k),
                        "{k} is not in the actor registry"
                    );
                }
            }
        }
    }
}
