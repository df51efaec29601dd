//! The worked example (examples/data/worked-example.ndjson) is valid, and the stories it
//! was written to show hold when the engine reads it.

use shiftlog::{parse_input, Engine, EventBody, KnownAt, PlaceId, Snapshot, Timestamp};
use std::collections::BTreeSet;

const EXAMPLE: &str = include_str!("../examples/data/worked-example.ndjson");

async fn engine() -> Engine {
    let engine = Engine::in_memory();
    let input = parse_input(EXAMPLE);
    assert!(input.rejections.is_empty(), "{:?}", input.rejections);
    let lines = EXAMPLE.lines().filter(|l| !l.trim().is_empty()).count();
    let outcome = engine.ingest(input, &[]).await.expect("every event is accepted");
    assert_eq!(outcome.appended(), lines);
    engine
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn snap(engine: &Engine, place: &str, at: &str, known: KnownAt) -> Snapshot {
    engine
        .snapshot(&PlaceId::new(place).unwrap(), t(at), known)
        .await
        .unwrap()
}

fn power(s: &Snapshot, actor: &str, domain: &str) -> f64 {
    let a = s
        .actors
        .iter()
        .find(|a| a.id == actor)
        .unwrap_or_else(|| panic!("{actor} active"));
    a.power.get(domain).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn budget_power_moves_from_the_funder_to_the_coordination_team_in_ashford_vale() {
    let e = engine().await;
    let before = snap(&e, "ashford-vale", "2024-06-30", KnownAt::Everything).await;
    let after = snap(&e, "ashford-vale", "2025-12-31", KnownAt::Everything).await;
    let (fund, team) = ("northern-futures-fund", "av-coord");
    assert!(power(&before, fund, "budget") > power(&before, team, "budget"));
    assert!(power(&after, team, "budget") > power(&after, fund, "budget"));
    let d = e
        .diff(
            &PlaceId::new("ashford-vale").unwrap(),
            t("2024-06-30"),
            t("2025-12-31"),
            KnownAt::Everything,
        )
        .await
        .unwrap();
    let budget: Vec<_> = d.power_shifts.iter().filter(|s| s.domain == "budget").collect();
    assert!(!budget.is_empty());
    assert!(budget
        .iter()
        .all(|s| s.from.as_deref() == Some(fund) && s.to.as_deref() == Some(team)));
}

#[tokio::test]
async fn the_council_opens_agenda_setting_to_the_forum_in_brindle_heath() {
    let e = engine().await;
    let before = snap(&e, "brindle-heath", "2024-03-31", KnownAt::Everything).await;
    let after = snap(&e, "brindle-heath", "2025-12-31", KnownAt::Everything).await;
    assert!(power(&before, "bh-council", "agenda_setting") > power(&before, "bh-forum", "agenda_setting"));
    assert!(power(&after, "bh-forum", "agenda_setting") > power(&after, "bh-council", "agenda_setting"));
}

#[tokio::test]
async fn places_differ_so_the_comparison_tells_a_story() {
    let e = engine().await;
    let rows = e.compare(t("2025-12-31"), KnownAt::Everything).await.unwrap();
    assert_eq!(rows.len(), 6);
    let most = rows.iter().max_by_key(|(_, m)| m.relationships).unwrap().0;
    assert_eq!(most, "ashford-vale", "the place where power was shared grew the most");
    // Carrow Bridge frays: its anchor left, relationships fell from their peak and the
    // network split.
    let carrow: Vec<_> = e
        .evolve(
            Some(&PlaceId::new("carrow-bridge").unwrap()),
            shiftlog::Every::Month,
            None,
            None,
            KnownAt::Everything,
        )
        .await
        .unwrap()
        .remove("carrow-bridge")
        .unwrap();
    let peak = carrow.iter().map(|s| s.metrics.relationships).max().unwrap();
    let end = &carrow.last().unwrap().metrics;
    assert!(end.relationships * 2 < peak, "{} vs peak {peak}", end.relationships);
    assert!(end.components > 1);
    assert_eq!(rows.iter().filter(|(_, m)| m.components > 1).count(), 1);
    assert!(rows["carrow-bridge"].relationships * 2 < rows["ashford-vale"].relationships);
}

#[tokio::test]
async fn one_funder_and_one_learning_partner_bridge_every_place() {
    let e = engine().await;
    let bridges = e.bridges(t("2025-12-31"), KnownAt::Everything).await.unwrap();
    assert_eq!(bridges["northern-futures-fund"].len(), 6);
    assert_eq!(bridges["kestrel-learning"].len(), 6);
    // Associates each work in two places.
    assert_eq!(bridges.keys().filter(|a| a.starts_with("assoc-")).count(), 3);
}

#[tokio::test]
async fn late_records_a_retraction_a_redaction_and_an_anomaly() {
    let e = engine().await;
    let events: Vec<_> = parse_input(EXAMPLE).events.into_iter().map(|l| l.event).collect();
    // Recorded late: valid time earlier than the line before it.
    let late = events
        .windows(2)
        .filter(|w| w[1].occurred_at < w[0].occurred_at)
        .count();
    assert!(late >= 4, "{late} late events");

    // Dunmere's first session was written up in November: as known before that, the
    // June network had no session; now it has one.
    let pos = e
        .event(&"dm-032".parse().unwrap())
        .await
        .unwrap()
        .expect("dm-032 is in the log")
        .position
        .0;
    let then = snap(&e, "dunmere", "2024-06-30", KnownAt::Position(pos - 1)).await;
    let now = snap(&e, "dunmere", "2024-06-30", KnownAt::Everything).await;
    assert_eq!((then.metrics.sessions, now.metrics.sessions), (0, 1));

    // Fenwick Cross: a collaboration recorded against the wrong group was retracted.
    let pos = e.event(&"fc-020".parse().unwrap()).await.unwrap().unwrap().position.0;
    let has = |s: &Snapshot| {
        s.relationships
            .iter()
            .any(|r| r.from == "fc-parish" && r.to == "fc-youth" && r.kind == "collaboration")
    };
    assert!(has(&snap(
        &e,
        "fenwick-cross",
        "2024-12-31",
        KnownAt::Position(pos - 1)
    )
    .await));
    assert!(!has(&snap(&e, "fenwick-cross", "2024-12-31", KnownAt::Everything).await));

    // Elmstead: the resident who asked to be forgotten stays as an anonymous node with
    // her relationships, so the network's shape is still true.
    let el = snap(&e, "elmstead", "2025-12-31", KnownAt::Everything).await;
    let mk = el.actors.iter().find(|a| a.id == "el-resident-mk").unwrap();
    assert!(mk.redacted && mk.name.is_none() && mk.attributes.is_empty());
    assert!(mk.degree >= 2);

    // Carrow Bridge: one anomaly, the late change to a relationship that had ended.
    let anomalies = e
        .anomalies(Some(&PlaceId::new("carrow-bridge").unwrap()), KnownAt::Everything)
        .await
        .unwrap();
    let ids: Vec<&str> = anomalies["carrow-bridge"].iter().map(|a| a.event_id.as_str()).collect();
    assert_eq!(ids, ["cb-034"]);
}

#[tokio::test]
async fn who_is_still_not_here_changes_and_the_inquiry_vocabularies_are_used() {
    let e = engine().await;
    let events: Vec<_> = parse_input(EXAMPLE).events.into_iter().map(|l| l.event).collect();
    // In Elmstead young people were missing at first; they joined (Young Makers), and the
    // later sessions no longer note them.
    let absent_in = |place: &str| -> Vec<(Timestamp, Vec<String>)> {
        events
            .iter()
            .filter(|ev| ev.place.as_ref().is_some_and(|p| p.as_str() == place))
            .filter_map(|ev| match &ev.body {
                EventBody::SessionHeld { absent_voices, .. } => Some((ev.occurred_at, absent_voices.clone())),
                _ => None,
            })
            .collect()
    };
    let el = absent_in("elmstead");
    assert!(el[0].1.contains(&"young people".to_string()));
    assert!(!el.last().unwrap().1.contains(&"young people".to_string()));
    let joined = snap(&e, "elmstead", "2025-12-31", KnownAt::Everything).await;
    assert!(joined.actors.iter().any(|a| a.id == "el-youth"));

    // The five learning areas and the six conditions all appear as tags.
    let tags: BTreeSet<&str> = events
        .iter()
        .flat_map(|ev| ev.tags.iter().map(String::as_str))
        .collect();
    for area in [
        "goals_paradigms_perspectives",
        "structures_actors_networks",
        "power_participation_relationships",
        "learning_journey",
        "roles_functions",
    ] {
        assert!(tags.contains(area), "learning area {area}");
    }
    for condition in [
        "policies",
        "practices",
        "resource_flows",
        "relationships_connections",
        "power_dynamics",
    ] {
        assert!(tags.contains(condition), "condition {condition}");
    }
    // Councils, voluntary groups, health bodies, a funder, associates, a learning partner.
    let s = snap(&e, "dunmere", "2025-12-31", KnownAt::Everything).await;
    let sectors: BTreeSet<&str> = s.actors.iter().filter_map(|a| a.sector.as_deref()).collect();
    for sector in ["public", "vcse", "health", "funder", "community", "academic"] {
        assert!(sectors.contains(sector), "{sector} in Dunmere");
    }
    let roles: BTreeSet<&str> = s
        .actors
        .iter()
        .flat_map(|a| a.roles.iter().map(String::as_str))
        .collect();
    for role in ["funder", "associate", "learning_partner"] {
        assert!(roles.contains(role), "{role} in Dunmere");
    }
}
