//! Embedding shiftlog: open a store, record a small inquiry (idempotently, with an
//! optimistic version check), and read it back by place and by id.
//!
//! Run with `cargo run --example record_and_read`.

use shiftlog::{parse_input, AppendRequest, Engine, EventOutcome, Position, Stream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path())?;

    // What a learning partner wrote down after the first months in Gateshead.
    let notes = r#"
{"type":"place_registered","id":"g1","occurred_at":"2023-01-01","place":"gateshead","name":"Gateshead"}
{"type":"actor_joined","id":"g2","occurred_at":"2023-01-10","place":"gateshead","actor":"council","kind":"organisation","sector":"public","power":{"budget":1.0}}
{"type":"actor_joined","id":"g3","occurred_at":"2023-02-01","place":"gateshead","actor":"coordination-team","kind":"group","sector":"community"}
{"type":"relationship_formed","id":"g4","occurred_at":"2023-03-01","place":"gateshead","from":"council","to":"coordination-team","kind":"collaboration","strength":0.3}
{"type":"power_shifted","id":"g5","occurred_at":"2023-09-01","place":"gateshead","from":"council","to":"coordination-team","domain":"budget","amount":0.6,"space":"claimed","tags":["power_dynamics","delegated_power"]}
"#;
    let outcome = engine.ingest(parse_input(notes), &[]).await?;
    println!(
        "recorded {} events; the log ends at position {}",
        outcome.appended(),
        outcome.head
    );

    // Sending the same notes again (a retry after a lost connection) writes nothing.
    let again = engine.ingest(parse_input(notes), &[]).await?;
    println!(
        "again: {} appended, {} already present",
        again.appended(),
        again.already_present()
    );

    // A late record, appended only if nobody else has written to Gateshead meanwhile.
    let place = Stream::Place("gateshead".parse()?);
    let version = engine.version(&place).await?;
    let late = parse_input(
        r#"{"type":"session_held","id":"g6","occurred_at":"2023-06-15","place":"gateshead","session":"s1","participants":["council","coordination-team"],"absent_voices":["young carers"]}"#,
    );
    let events = late.events.into_iter().map(|e| e.event).collect();
    let out = engine
        .append(AppendRequest::new(events).expect(place.clone(), version))
        .await?;
    if let EventOutcome::Appended(p) = out.events[0] {
        println!("the June session, recorded late, is at position {p}");
    }

    for e in engine.read_stream(&place, Position(1), 100).await? {
        println!("{:>3}  {}  {}", e.position, e.event.occurred_at, e.event.event_type());
    }
    let shift = engine.event(&"g5".parse()?).await?.expect("g5 is in the log");
    println!("g5 as stored: {}", serde_json::to_string(&shift)?);
    Ok(())
}
