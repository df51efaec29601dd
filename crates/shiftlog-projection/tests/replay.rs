//! Property test: for random logs (late records, retractions, leaving and rejoining),
//! the snapshot at any T as known at any K equals a naive replay of the whole log
//! filtered to K and T; and an evolution series (and a one-pass series of snapshots)
//! equals the snapshots taken one by one.

mod common;

use common::*;
use proptest::prelude::*;
use shiftlog_model::Timestamp;
use shiftlog_projection::{compute, history, Change, KnownAt, Metrics, Snapshot};
use std::collections::{BTreeMap, BTreeSet};

fn without_change(m: &Metrics) -> Metrics {
    Metrics {
        change: None,
        ..m.clone()
    }
}

/// The change between two snapshots straight from `docs/measures.md`: sets of ids and of
/// (from, to, kind) triples (the step before the first is the empty network).
fn naive_change(before: Option<&Snapshot>, now: &Snapshot) -> Change {
    let actors = |s: Option<&Snapshot>| -> BTreeSet<String> {
        s.map(|s| s.actors.iter().map(|a| a.id.clone()).collect())
            .unwrap_or_default()
    };
    let ties = |s: Option<&Snapshot>| -> BTreeMap<(String, String, String), f64> {
        s.map(|s| {
            s.relationships
                .iter()
                .map(|r| ((r.from.clone(), r.to.clone(), r.kind.clone()), r.strength))
                .collect()
        })
        .unwrap_or_default()
    };
    let (a0, a1) = (actors(before), actors(Some(now)));
    let (r0, r1) = (ties(before), ties(Some(now)));
    let shared: Vec<_> = r1.keys().filter(|k| r0.contains_key(*k)).collect();
    let either = r0.len() + r1.len() - shared.len();
    Change {
        joined: a1.difference(&a0).count(),
        left: a0.difference(&a1).count(),
        formed: r1.keys().filter(|k| !r0.contains_key(*k)).count(),
        ended: r0.keys().filter(|k| !r1.contains_key(*k)).count(),
        strengthened: shared.iter().filter(|k| r1[**k] > r0[**k]).count(),
        weakened: shared.iter().filter(|k| r1[**k] < r0[**k]).count(),
        tie_stability: if either == 0 {
            1.0
        } else {
            shared.len() as f64 / either as f64
        },
    }
}
use shiftlog_store::{EventLog, MemoryLog, Position, SledLog};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_equal_a_naive_replay(values in log_values(), probes in prop::collection::vec((0u32..220, 0.0f64..=1.0), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let sled = SledLog::open(dir.path()).unwrap();
            let mem = MemoryLog::new();
            append_each(&sled, &values).await;
            append_each(&mem, &values).await;
            let all = mem.read(Position(1), usize::MAX).await.unwrap();
            let head = all.len() as u64;
            let place = "x".parse().unwrap();
            for (day, share) in probes {
                let at: Timestamp = date(day).parse().unwrap();
                let k = ((head as f64) * share).round() as u64;
                let want = compute(&naive(&all, at, k)).0;
                for log in [&sled as &dyn EventLog, &mem] {
                    let h = history(log, &place, KnownAt::Position(k)).await;
                    match h {
                        Ok(h) => {
                            assert_eq!(h.snapshot(at).metrics, want, "at {at} known at {k}");
                            assert_eq!(
                                without_change(
                                    &h.evolve_measuring(None, &[at], shiftlog_projection::EvolutionMeasures::All)[0]
                                        .metrics
                                ),
                                want
                            );
                        }
                        // Known before the place was registered: nothing to show.
                        Err(_) => assert!(k == 0, "history failed at k={k}"),
                    }
                }
            }
            // Reopened, the sled log answers the same.
            drop(sled);
            let sled = SledLog::open(dir.path()).unwrap();
            let h = history(&sled, &place, KnownAt::Everything).await.unwrap();
            // Every third day: many steps have nothing folded since the one before (their
            // metrics are carried over), some have several events.
            let steps: Vec<Timestamp> = (0..74).map(|d| date(d * 3).parse().unwrap()).collect();
            let series = h.evolve_measuring(None, &steps, shiftlog_projection::EvolutionMeasures::All);
            // The standard evolution is the same without the communities.
            let standard = h.evolve(&steps);
            for (a, s) in series.iter().zip(&standard) {
                let mut a = a.metrics.clone();
                (a.modularity, a.communities) = (None, None);
                assert_eq!(a, s.metrics);
            }
            let snapshots = h.snapshots(&steps);
            let mut before: Option<&Snapshot> = None;
            for ((s, snap), at) in series.iter().zip(&snapshots).zip(&steps) {
                assert_eq!(without_change(&s.metrics), h.snapshot(*at).metrics, "evolution step {at}");
                assert_eq!(snap, &h.snapshot(*at), "one-pass snapshot at {at}");
                assert_eq!(without_change(&s.metrics), compute(&naive(&all, *at, head)).0);
                assert_eq!(s.metrics.change, Some(naive_change(before, snap)), "change at {at}");
                before = Some(snap);
            }
        });
    }
}
