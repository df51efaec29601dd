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
