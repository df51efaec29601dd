//! What the report's tests share: the worked example in an engine, and a strict parse.

use shiftlog::{parse_input, Engine};

/// The worked example, in a fresh in-memory engine.
pub async fn worked_example() -> Engine {
    let engine = Engine::in_memory();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/worked-example.ndjson"
    ))
    .unwrap();
    engine.ingest(parse_input(&text), &[]).await.unwrap();
    engine
}

/// Parses a page as XML (its SVGs included), failing the test if it is not well-formed.
pub fn parse(html: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("not well-formed: {e}"))
}
