//! A live projection kept current by a subscription: one task records events over time
//! (as learning partners do), another follows the log and keeps a running picture of
//! each place's network, printing it whenever it changes.
//!
//! Run with `cargo run --example subscribe`.

use shiftlog::projection::{compute_metrics, PlaceState};
use shiftlog::{parse_input, Engine, Position, Stream};
use std::collections::BTreeMap;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::in_memory();
    let notes = [
        r#"{"type":"place_registered","id":"s1","occurred_at":"2024-01-01","place":"hillside","name":"Hillside (fictional)"}"#,
        r#"{"type":"actor_joined","id":"s2","occurred_at":"2024-01-02","place":"hillside","actor":"council","kind":"organisation","sector":"public"}"#,
        r#"{"type":"actor_joined","id":"s3","occurred_at":"2024-01-03","place":"hillside","actor":"food-bank","kind":"organisation","sector":"voluntary"}"#,
        r#"{"type":"relationship_formed","id":"s4","occurred_at":"2024-02-01","place":"hillside","from":"council","to":"food-bank","kind":"funds"}"#,
        r#"{"type":"actor_joined","id":"s5","occurred_at":"2024-03-01","place":"hillside","actor":"gp-practice","kind":"organisation","sector":"health"}"#,
        r#"{"type":"relationship_formed","id":"s6","occurred_at":"2024-03-15","place":"hillside","from":"gp-practice","to":"food-bank","kind":"refers"}"#,
    ];
    let total = notes.len() as u64;

    // The follower: starts from the beginning of the log (catch-up), then goes live.
    let follower = {
        let mut sub = engine.subscribe(Position(1));
        tokio::spawn(async move {
            let mut places: BTreeMap<String, PlaceState> = BTreeMap::new();
            loop {
                let e = sub.next().await?;
                if let Stream::Place(p) = &e.stream {
                    let state = places.entry(p.to_string()).or_default();
                    // Folding in log order: the picture "as recorded so far".
                    state.apply(&e.event, e.position);
                    let m = compute_metrics(state);
                    println!(
                        "position {:>2}: {p} now has {} actors and {} relationships",
                        e.position, m.actors, m.relationships
                    );
                }
                if e.position.0 == total {
                    return Ok::<_, shiftlog::StoreError>(places.len());
                }
            }
        })
    };

    // The recorder: a note every few milliseconds.
    for note in notes {
        engine.ingest(parse_input(note), &[]).await?;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let places = follower.await??;
    println!("the follower saw all {total} events, in order, for {places} place(s)");
    Ok(())
}
