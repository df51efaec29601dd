//! Diffs between two dates, on conformance logs whose stories are known.

use serde_json::Value;
use shiftlog_model::Event;
use shiftlog_projection::{history, KnownAt};
use shiftlog_store::{AppendRequest, EventLog, MemoryLog};

async fn case(n: usize) -> MemoryLog {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/conformance.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let log = MemoryLog::new();
    let events = spec["cases"][n]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Event::from_json(v).unwrap())
        .collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    log
}

#[tokio::test]
async fn power_moved_from_whom_to_whom() {
    let log = case(4).await;
    let h = history(&log, &"northbrook".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let d = h.diff("2023-01-31".parse().unwrap(), "2023-04-15".parse().unwrap());
    let budget: Vec<_> = d.power_changes["budget"]
        .iter()
        .map(|c| (c.actor.as_str(), c.before, c.after))
        .collect();
    assert_eq!(
        budget,
        [("council", 1.0, 0.75), ("vcs-forum", 0.0, 0.25)],
        "tenants passed on all they received"
    );
    let agenda: Vec<_> = d.power_changes["agenda_setting"]
        .iter()
        .map(|c| (c.actor.as_str(), c.after))
        .collect();
    assert_eq!(agenda, [("vcs-forum", 1.0)]);
    let shifts: Vec<_> = d
        .power_shifts
        .iter()
        .map(|s| (s.from.as_deref(), s.to.as_deref()))
        .collect();
    assert_eq!(
        shifts,
        [
            (Some("council"), Some("tenants")),
            (Some("tenants"), Some("vcs-forum")),
            (None, Some("vcs-forum"))
        ]
    );
    assert!((d.metric_deltas["power_gini.agenda_setting"] + 1.0 / 3.0).abs() < 1e-9);
    assert!((d.metric_deltas["power_gini.budget"] + 1.0 / 6.0).abs() < 1e-9);
    assert_eq!(d.metric_deltas["anomalies"], 1.0);
}

#[tokio::test]
async fn relationships_formed_ended_strengthened() {
    let log = case(0).await;
    let h = history(&log, &"northbrook".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let d = h.diff("2023-01-31".parse().unwrap(), "2023-04-01".parse().unwrap());
    assert_eq!(
        d.formed.len(),
        1,
        "council -> vcs-forum (collaboration) formed; the information one came and went"
    );
    assert!(d.ended.is_empty());
    let d = h.diff("2023-02-15".parse().unwrap(), "2023-04-01".parse().unwrap());
    assert_eq!(
        (d.ended[0].from.as_str(), d.ended[0].kind.as_str()),
        ("vcs-forum", "information")
    );
    assert_eq!((d.strengthened[0].before, d.strengthened[0].after), (0.3, 0.8));
    assert!(d.weakened.is_empty() && d.joined.is_empty() && d.left.is_empty());
    assert_eq!(d.metric_deltas["relationships"], -1.0);
}

#[tokio::test]
async fn leaving_shows_up_as_left() {
    let log = case(3).await;
    let h = history(&log, &"northbrook".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let d = h.diff("2023-02-15".parse().unwrap(), "2023-03-10".parse().unwrap());
    assert_eq!(d.left, ["tenants"]);
    assert_eq!(d.ended.len(), 2, "leaving ended both of tenants' relationships");
    let back = h.diff("2023-03-10".parse().unwrap(), "2023-04-02".parse().unwrap());
    assert_eq!(back.joined, ["tenants"]);
}

#[tokio::test]
async fn evolution_steps_count_what_happened_in_their_period() {
    let log = MemoryLog::new();
    let input = r#"
{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
{"type":"actor_joined","id":"a","occurred_at":"2023-01-01","place":"x","actor":"a","kind":"group"}
{"type":"session_held","id":"s1","occurred_at":"2023-01-10","place":"x","session":"s1","participants":["a"],"absent_voices":["young carers","tenants"]}
{"type":"session_held","id":"s2","occurred_at":"2023-01-20","place":"x","session":"s2","participants":["a"],"absent_voices":["young carers"]}
{"type":"session_held","id":"s3","occurred_at":"2023-03-05","place":"x","session":"s3","participants":["a"],"absent_voices":["young carers"]}
"#;
    let events = shiftlog_model::parse_input(input)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    let h = history(&log, &"x".parse().unwrap(), KnownAt::Everything).await.unwrap();
    let steps = shiftlog_projection::steps(
        shiftlog_projection::Every::Month,
        "2023-01-01".parse().unwrap(),
        "2023-03-31".parse().unwrap(),
    )
    .unwrap();
    let periods: Vec<_> = h
        .evolve(&steps)
        .iter()
        .map(|s| (s.period.sessions, s.period.absent_voices))
        .collect();
    assert_eq!(periods, [(2, 2), (0, 0), (1, 1)]);
    let cumulative: Vec<_> = h
        .evolve(&steps)
        .iter()
        .map(|s| (s.metrics.sessions, s.metrics.absent_voices))
        .collect();
    assert_eq!(cumulative, [(2, 2), (2, 2), (3, 2)]);
}

/// An evolution from a date measures its first step's change from the network just before
/// that date's period; each later step's from the step before; and a diff counts what it
/// lists.
#[tokio::test]
async fn the_first_step_changes_from_the_network_before_its_period() {
    let log = MemoryLog::new();
    let input = r#"
{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}
{"type":"actor_joined","id":"a","occurred_at":"2023-01-01","place":"x","actor":"a","kind":"group"}
{"type":"actor_joined","id":"b","occurred_at":"2023-01-05","place":"x","actor":"b","kind":"group"}
{"type":"relationship_formed","id":"r1","occurred_at":"2023-01-06","place":"x","from":"a","to":"b","kind":"trust","strength":0.5}
{"type":"actor_joined","id":"c","occurred_at":"2023-02-03","place":"x","actor":"c","kind":"group"}
{"type":"relationship_changed","id":"r2","occurred_at":"2023-02-04","place":"x","from":"a","to":"b","kind":"trust","strength":0.8}
{"type":"relationship_formed","id":"r3","occurred_at":"2023-02-05","place":"x","from":"a","to":"c","kind":"trust"}
{"type":"actor_left","id":"l","occurred_at":"2023-03-02","place":"x","actor":"b"}
"#;
    let events = shiftlog_model::parse_input(input)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    log.append(AppendRequest::new(events)).await.unwrap();
    let h = history(&log, &"x".parse().unwrap(), KnownAt::Everything).await.unwrap();
    let every = shiftlog_projection::Every::Month;
    let from = "2023-02-14".parse().unwrap();
    let steps = shiftlog_projection::steps(every, from, "2023-03-31".parse().unwrap()).unwrap();
    let series = h.evolve_from(Some(shiftlog_projection::period_start(every, from)), &steps);
    let changes: Vec<_> = series.iter().map(|s| s.metrics.change.unwrap()).collect();
    // February, from the network of 31 January (a, b; a -> b at 0.5): c joins, a -> c
    // forms, a -> b strengthens; one shared of two.
    let feb = changes[0];
    assert_eq!(
        (
            feb.joined,
            feb.left,
            feb.formed,
            feb.ended,
            feb.strengthened,
            feb.weakened
        ),
        (1, 0, 1, 0, 1, 0)
    );
    assert_eq!(feb.tie_stability, 0.5);
    // March: b leaves, ending a -> b; a -> c stays.
    let mar = changes[1];
    assert_eq!((mar.left, mar.ended, mar.formed), (1, 1, 0));
    assert_eq!(mar.tie_stability, 0.5);
    // The change keys are keys of the step's metrics in JSON.
    let json = serde_json::to_value(&series[1].metrics).unwrap();
    assert_eq!(json["tie_stability"], 0.5);
    assert_eq!(json["left"], 1);
    // A diff counts what it lists.
    let d = h.diff("2023-01-31".parse().unwrap(), "2023-03-31".parse().unwrap());
    assert_eq!(
        (d.counts.joined, d.counts.left, d.counts.formed, d.counts.ended),
        (d.joined.len(), d.left.len(), d.formed.len(), d.ended.len())
    );
    assert_eq!((d.counts.joined, d.counts.left, d.counts.ended), (1, 1, 1));
}
