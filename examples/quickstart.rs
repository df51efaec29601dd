//! Quickstart: open a store, record a small inquiry, print a snapshot and an evolution.
//!
//! Run with `cargo run --example quickstart`.

use shiftlog::{parse_input, Engine, Every, KnownAt, PlaceId, Timestamp};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path())?;

    // A fictional place over one year: a council, a funder and a community group; a
    // relationship that forms and strengthens; budget decisions handed to the group.
    let inquiry = r#"
{"type":"place_registered","id":"q1","occurred_at":"2024-01-01","place":"riverside","name":"Riverside (fictional)"}
{"type":"actor_joined","id":"q2","occurred_at":"2024-01-05","place":"riverside","actor":"council","kind":"organisation","sector":"public","power":{"budget":0.7,"agenda":1.0}}
{"type":"actor_joined","id":"q3","occurred_at":"2024-01-05","place":"riverside","actor":"funder","kind":"organisation","sector":"philanthropy","power":{"budget":0.3}}
{"type":"actor_joined","id":"q4","occurred_at":"2024-02-10","place":"riverside","actor":"tenants-group","kind":"group","sector":"community"}
{"type":"relationship_formed","id":"q5","occurred_at":"2024-03-01","place":"riverside","from":"funder","to":"tenants-group","kind":"funds","strength":0.4}
{"type":"relationship_formed","id":"q6","occurred_at":"2024-04-01","place":"riverside","from":"council","to":"tenants-group","kind":"collaboration","strength":0.2}
{"type":"session_held","id":"q7","occurred_at":"2024-05-01","place":"riverside","session":"s1","participants":["council","funder","tenants-group"],"absent_voices":["young people","private landlords"]}
{"type":"relationship_changed","id":"q8","occurred_at":"2024-07-01","place":"riverside","from":"council","to":"tenants-group","kind":"collaboration","strength":0.7}
{"type":"power_shifted","id":"q9","occurred_at":"2024-09-01","place":"riverside","domain":"budget","amount":0.3,"from":"funder","to":"tenants-group","space":"invited"}
"#;
    let outcome = engine.ingest(parse_input(inquiry), &[]).await?;
    println!("recorded {} events", outcome.appended());

    let place = PlaceId::new("riverside")?;
    let snap = engine
        .snapshot(&place, "2024-12-31".parse::<Timestamp>()?, KnownAt::Everything)
        .await?;
    println!("\nriverside at {}:", snap.at);
    for a in &snap.actors {
        println!("  {:<14} degree {}  power {:?}", a.id, a.degree, a.power);
    }
    println!(
        "  {} relationships, density {:.2}, budget Gini {:.2}",
        snap.metrics.relationships, snap.metrics.density, snap.metrics.power_gini["budget"]
    );

    println!("\nquarter by quarter:");
    let series = engine
        .evolve(Some(&place), Every::Quarter, None, None, KnownAt::Everything)
        .await?;
    for step in &series["riverside"] {
        let m = &step.metrics;
        println!(
            "  {}  actors {}  relationships {}  components {}  absent voices {}",
            step.at.as_datetime().format("%Y-%m-%d"),
            m.actors,
            m.relationships,
            m.components,
            m.absent_voices
        );
    }
    Ok(())
}
