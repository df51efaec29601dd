//! A tool that embeds shiftlog: it keeps its own records (here, a partnership register
//! as CSV), turns them into inquiry events with stable ids, feeds them in (re-running is
//! safe: the same ids write nothing twice) and asks for snapshots.
//!
//! Run with `cargo run --example embed_in_tool`.

use serde_json::json;
use shiftlog::{Engine, Event, KnownAt, PlaceId, Timestamp};

/// The tool's own data: who partnered with whom, from when, how closely (fictional).
const REGISTER: &str = "\
place,from,to,since,strength
eastbrook,council,youth-forum,2024-02-01,0.3
eastbrook,health-trust,youth-forum,2024-04-15,0.5
eastbrook,council,health-trust,2024-06-01,0.8
westmoor,council,arts-collective,2024-03-01,0.4
";

/// The register's rows as events: each place and actor joins once, then each row is a
/// relationship. Ids come from the data, so a second import is a no-op.
fn to_events(register: &str) -> Result<Vec<Event>, Box<dyn std::error::Error>> {
    let mut events = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in register.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let [place, from, to, since, strength] = cols[..] else {
            return Err(format!("malformed register row: {line}").into());
        };
        if seen.insert(place.to_string()) {
            events.push(json!({"type":"place_registered","id":format!("reg-{place}"),"occurred_at":"2024-01-01","place":place,"name":place}));
        }
        for actor in [from, to] {
            if seen.insert(format!("{place}/{actor}")) {
                events.push(json!({"type":"actor_joined","id":format!("reg-{place}-{actor}"),"occurred_at":"2024-01-01","place":place,"actor":actor,"kind":"organisation"}));
            }
        }
        events.push(json!({"type":"relationship_formed","id":format!("reg-{place}-{from}-{to}"),"occurred_at":since,"place":place,"from":from,"to":to,"kind":"partnership","strength":strength.parse::<f64>()?}));
    }
    // Events built in code go through the same validation as the interchange format.
    Ok(events
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path())?;
    for run in 1..=2 {
        let outcome = engine
            .append(shiftlog::AppendRequest::new(to_events(REGISTER)?))
            .await?;
        println!(
            "import {run}: {} new events, {} already there",
            outcome.appended(),
            outcome.events.len() - outcome.appended()
        );
    }
    for place in ["eastbrook", "westmoor"] {
        let snap = engine
            .snapshot(
                &PlaceId::new(place)?,
                "2024-12-31".parse::<Timestamp>()?,
                KnownAt::Everything,
            )
            .await?;
        let brokers = &snap.metrics.brokers;
        println!(
            "{place}: {} actors, {} partnerships, density {:.2}, brokers {:?}",
            snap.metrics.actors, snap.metrics.relationships, snap.metrics.density, brokers
        );
    }
    Ok(())
}
