//! The report of the worked example: well-formed, self-contained, and every network
//! drawing shows exactly the snapshot it says it shows.

mod common;

use common::{parse, worked_example};
use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Timestamp};
use shiftlog_report::{report, ReportOptions, SizeBy};
use std::collections::BTreeSet;

#[tokio::test]
async fn the_worked_example_report_is_self_contained_and_draws_the_right_networks() {
    let engine = worked_example().await;
    let html = report(&engine, &ReportOptions::default()).await.unwrap();

    // Well-formed: the whole document parses as XML (its SVGs included).
    let doc = parse(&html);

    // Self-contained: nothing to fetch. Links only point inside the page; no scripts,
    // external styles, images, frames or fonts.
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed", "image", "use"].contains(&tag),
            "the report has a <{tag}>"
        );
        for attr in node.attributes() {
            if ["href", "src", "srcset", "poster", "action"].contains(&attr.name()) {
                assert!(attr.value().starts_with('#'), "{tag} {}={}", attr.name(), attr.value());
            }
            if attr.value().contains("url(") {
                assert!(
                    attr.value().starts_with("url(#"),
                    "{tag} {}={}",
                    attr.name(),
                    attr.value()
                );
            }
        }
    }
    for needle in [
        "@import",
        "@font-face",
        "url(http",
        "url(//",
        "src=",
        "href=\"http",
        "href=\"//",
    ] {
        assert!(
            !html.contains(needle),
            "the report references something outside: {needle}"
        );
    }

    // Every network drawing shows exactly its snapshot's actors and relationships.
    let mut drawings = 0;
    let mut places = BTreeSet::new();
    for svg in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "svg" && n.attribute("class") == Some("network"))
    {
        let place = PlaceId::new(svg.attribute("data-place").unwrap()).unwrap();
        let at: Timestamp = svg.attribute("data-at").unwrap().parse().unwrap();
        let snap = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
        let drawn: BTreeSet<&str> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("actor"))
            .map(|n| n.attribute("data-actor").unwrap())
            .collect();
        let expected: BTreeSet<&str> = snap.actors.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(drawn, expected, "actors drawn for {place} at {at}");
        let lines: BTreeSet<(&str, &str, &str)> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("relationship"))
            .map(|n| {
                (
                    n.attribute("data-from").unwrap(),
                    n.attribute("data-to").unwrap(),
                    n.attribute("data-kind").unwrap(),
                )
            })
            .collect();
        let expected: BTreeSet<(&str, &str, &str)> = snap
            .relationships
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(lines, expected, "relationships drawn for {place} at {at}");
        // Names are drawn as labels (a redacted actor's is not).
        for a in snap.actors.iter().filter(|a| !a.redacted) {
            let name = a.name.as_deref().unwrap_or(&a.id);
            let label: String = name.chars().take(24).collect();
            assert!(
                svg.descendants()
                    .any(|n| n.text().is_some_and(|t| t.starts_with(&label))),
                "{name} is labelled in {place} at {at}"
            );
        }
        drawings += 1;
        places.insert(place);
    }
    assert_eq!(places.len(), 6, "every place is drawn");
    assert!(
        drawings >= 6 * 3,
        "start, end and moments of change: {drawings} drawings"
    );

    // The stories the example was written to show are told in words.
    assert!(
        html.contains(
            "Power over budget moved from Northern Futures Fund (1.00 → 0.30) to Ashford Vale Coordination Team (0.00 → 0.70)"
        ),
        "the budget story of Ashford Vale"
    );
    assert!(html.contains("Power over agenda setting moved from Brindle Heath District Council (1.00 → 0.40)"));
    // Absent voices and the anomaly of Carrow Bridge are listed.
    assert!(html.contains("<td>asylum seekers</td>"));
    assert!(html.contains("event <code>cb-034</code>"));
    // The erased resident appears nowhere in the report.
    assert!(!html.contains("Kowalczyk"), "a redacted name leaked into the report");
    // The comparison has one row per place.
    assert_eq!(html.matches("<tr data-place=").count(), 6);
}

#[tokio::test]
async fn the_layout_keeps_actors_in_place_across_dates_and_options_are_honoured() {
    let engine = worked_example().await;
    let place = PlaceId::new("brindle-heath").unwrap();
    let options = ReportOptions {
        places: vec![place.clone()],
        from: Some("2024-03-01".parse().unwrap()),
        to: Some("2025-06-30".parse().unwrap()),
        known: KnownAt::Position(120),
        size_by: SizeBy::Power,
        ..ReportOptions::default()
    };
    let html = report(&engine, &options).await.unwrap();
    let doc = parse(&html);
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("network"))
        .collect();
    assert!(svgs.len() >= 3);
    assert!(svgs.iter().all(|s| s.attribute("data-place") == Some("brindle-heath")));
    // The first drawing is at the end of March 2024, the last at the end of June 2025.
    assert!(svgs[0].attribute("data-at").unwrap().starts_with("2024-03-31"));
    assert!(svgs
        .last()
        .unwrap()
        .attribute("data-at")
        .unwrap()
        .starts_with("2025-06-30"));
    // An actor sits at the same spot in every drawing it appears in.
    let mut spots: std::collections::BTreeMap<&str, (String, String)> = Default::default();
    let mut seen_twice = 0;
    for svg in &svgs {
        for g in svg.descendants().filter(|n| n.attribute("class") == Some("actor")) {
            let c = g.children().find(|n| n.tag_name().name() == "circle").unwrap();
            let spot = (
                c.attribute("cx").unwrap().to_string(),
                c.attribute("cy").unwrap().to_string(),
            );
            let id = g.attribute("data-actor").unwrap();
            if let Some(before) = spots.insert(id, spot.clone()) {
                assert_eq!(before, spot, "{id} moved between drawings");
                seen_twice += 1;
            }
        }
    }
    assert!(seen_twice > 5);
    // As known at position 120: later events are absent from the drawing.
    let k = engine
        .snapshot(&place, "2025-06-30".parse().unwrap(), KnownAt::Position(120))
        .await
        .unwrap();
    let now = engine
        .snapshot(&place, "2025-06-30".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    assert_ne!(k.actors.len(), now.actors.len(), "the view as known at 120 differs");
    let last = svgs.last().unwrap();
    assert_eq!(last.attribute("data-actors").unwrap(), k.actors.len().to_string());
    assert_eq!(html.matches("<tr data-place=").count(), 1);
}

#[tokio::test]
async fn bad_requests_are_errors_not_empty_reports() {
    let engine = Engine::in_memory();
    let e = report(&engine, &ReportOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("no places"), "{e}");
    let engine = worked_example().await;
    let e = report(
        &engine,
        &ReportOptions {
            places: vec![PlaceId::new("atlantis").unwrap()],
            ..ReportOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("atlantis"), "{e}");
    let e = report(
        &engine,
        &ReportOptions {
            from: Some("2025-01-01".parse().unwrap()),
            to: Some("2024-01-01".parse().unwrap()),
            ..ReportOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("after"), "{e}");
}

#[tokio::test]
async fn hostile_names_are_escaped_and_the_report_stays_well_formed() {
    let engine = Engine::in_memory();
    let name = "Tom & \"Jerry's\" <script>alert(1)</script> \u{1} café";
    let events = [
        serde_json::json!({"type":"place_registered","occurred_at":"2024-01-01","place":"p","name":"<b>Place</b> & co"}),
        serde_json::json!({"type":"actor_joined","occurred_at":"2024-01-02","place":"p","actor":"a","name":name,"kind":"group","sector":"<i>x</i>","power":{"<bad>":1.0}}),
        serde_json::json!({"type":"actor_joined","occurred_at":"2024-01-02","place":"p","actor":"b","kind":"group"}),
        serde_json::json!({"type":"relationship_formed","occurred_at":"2024-02-03","place":"p","from":"a","to":"b","kind":"\"><script>\u{2}"}),
    ];
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    engine.ingest(parse_input(&text), &[]).await.unwrap();
    let html = report(&engine, &ReportOptions::default()).await.unwrap();
    let doc = parse(&html);
    assert!(!html.contains("<script"), "markup from the log was not escaped");
    assert!(!html.contains("<b>Place"));
    let svg = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("network") && n.attribute("data-actors") == Some("2"))
        .expect("a drawing with both actors");
    // What people read (the tooltip) is the name itself, the control character replaced.
    assert!(svg.descendants().any(|n| n
        .text()
        .is_some_and(|t| t.starts_with("Tom & \"Jerry's\" <script>alert(1)</script> \u{fffd} café"))));
}

/// Each place's table of the whole network lists every registered measure at the first
/// and last step of its evolution, as the engine computes them; the synthesis tables add
/// up to the engine's synthesis.
#[tokio::test]
async fn each_place_lists_every_measure_at_the_start_and_end_and_the_synthesis_counts() {
    use shiftlog::projection::{Measure, Shape};
    let engine = worked_example().await;
    let html = report(&engine, &ReportOptions::default()).await.unwrap();
    let doc = parse(&html);
    let shown = |m: Measure, x: Option<f64>| match (x, m.shape()) {
        (None, _) => "—".to_string(),
        (Some(x), Shape::Count) => format!("{x:.0}"),
        (Some(x), Shape::Ratio) => format!("{x:.3}"),
    };
    let mut places = 0;
    for section in doc
        .descendants()
        .filter(|n| n.has_tag_name("section") && n.attribute("class") == Some("place"))
    {
        let place = PlaceId::new(section.attribute("id").unwrap().strip_prefix("place-").unwrap()).unwrap();
        let series = engine
            .evolve_with(
                Some(&place),
                shiftlog::Every::Month,
                None,
                None,
                KnownAt::Everything,
                shiftlog::EvolutionMeasures::All,
                u64::MAX,
            )
            .await
            .unwrap();
        let steps = &series[place.as_str()];
        let (first, last) = (&steps[0].metrics, &steps[steps.len() - 1].metrics);
        let rows: Vec<_> = section
            .descendants()
            .filter(|n| n.has_tag_name("tr") && n.attribute("data-measure").is_some())
            .collect();
        assert_eq!(rows.len(), Measure::ALL.len(), "{place}: one row per measure");
        for (row, &m) in rows.iter().zip(Measure::ALL) {
            assert_eq!(row.attribute("data-measure"), Some(m.key()));
            let cells: Vec<String> = row
                .children()
                .filter(|c| c.has_tag_name("td"))
                .map(|c| c.text().unwrap_or("").to_string())
                .collect();
            assert_eq!(cells[0], shown(m, m.value(first)), "{place}: {} at the start", m.key());
            assert_eq!(cells[1], shown(m, m.value(last)), "{place}: {} at the end", m.key());
        }
        // The learning table's cells add up to the synthesis's learning counts.
        let synthesis = engine
            .synthesis(
                std::slice::from_ref(&place),
                shiftlog::Every::Month,
                None,
                None,
                KnownAt::Everything,
                false,
            )
            .await
            .unwrap();
        let want: u64 = synthesis.places[0]
            .periods
            .iter()
            .flat_map(|p| p.learning.values())
            .sum();
        let table = section.descendants().find(|n| {
            n.has_tag_name("table")
                && n.descendants()
                    .any(|c| c.has_tag_name("caption") && c.text() == Some("Learning records by inquiry area"))
        });
        let got: u64 = table
            .map(|t| {
                t.descendants()
                    .filter(|r| r.has_tag_name("tr"))
                    // The first cell is the period.
                    .flat_map(|r| r.children().filter(|c| c.has_tag_name("td")).skip(1))
                    .filter_map(|c| c.text().and_then(|x| x.parse::<u64>().ok()))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(got, want, "{place}: learning records by area");
        places += 1;
    }
    assert_eq!(places, 6);
    // Power shifts by the three dimensions of the power cube.
    for caption in [
        "Power shifts by space",
        "Power shifts by form",
        "Power shifts by expression",
    ] {
        assert!(html.contains(caption), "{caption}");
    }
    // The overview lists every measure for every place too.
    let overview = html
        .find("Every measure, side by side")
        .expect("the overview's table of every measure");
    assert!(html[overview..].contains("modularity"));
}
