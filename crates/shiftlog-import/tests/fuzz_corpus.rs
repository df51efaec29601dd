//! The `import_table` fuzz target's corpus and regressions (under `fuzz/`), replayed on the
//! stable compiler in every test run with the target's own checks: reading any of them as
//! CSV, as a workbook or as a Kumu blueprint never panics, rows are numbered in order, and
//! a plan made from what was read is refused with problems or made of events the format
//! accepts.

use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Snapshot};
use shiftlog_import::{
    as_wave, plan_wave, read_blueprint, read_csv, read_workbook, ImportError, KumuFields, SurveyWave, Table,
};
use std::path::{Path, PathBuf};

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in [root.join("corpus/import_table"), root.join("regressions/import_table")] {
        files.extend(std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()));
    }
    files.sort();
    files
}

fn check(at_wave: &Snapshot, relationships: &Table, actors: &Table) -> usize {
    let mut last = 0;
    for row in &relationships.rows {
        assert!(row.number > last, "row numbers increase");
        last = row.number;
    }
    let place = PlaceId::new("p").unwrap();
    let wave = SurveyWave {
        place: &place,
        wave: "2024-03-01".parse().unwrap(),
        relationships,
        actors: Some(actors),
        recorded_by: Some("fuzz"),
        source: "fuzz",
    };
    match plan_wave(&wave, at_wave) {
        Ok(plan) => {
            let parsed = parse_input(&plan.ndjson());
            assert!(parsed.rejections.is_empty(), "{:?}", parsed.rejections);
            assert_eq!(parsed.events.len(), plan.events.len());
            plan.events.len()
        }
        Err(ImportError::Problems(ps)) => {
            assert!(!ps.is_empty());
            0
        }
        Err(e) => panic!("planning failed other than with problems: {e}"),
    }
}

#[tokio::test]
async fn the_import_corpus_reads_and_plans_without_panicking() {
    let engine = Engine::in_memory();
    let input = r#"{"type":"place_registered","id":"1","occurred_at":"2024-01-01","place":"p","name":"P"}
{"type":"actor_joined","id":"2","occurred_at":"2024-01-02","place":"p","actor":"a","kind":"group"}
{"type":"actor_joined","id":"3","occurred_at":"2024-01-02","place":"p","actor":"b","kind":"group"}
{"type":"relationship_formed","id":"4","occurred_at":"2024-01-03","place":"p","from":"a","to":"b","kind":"trust"}"#;
    engine.ingest(parse_input(input), &[]).await.unwrap();
    let place = PlaceId::new("p").unwrap();
    let at_wave = engine
        .snapshot(&place, "2024-02-01".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let files = inputs();
    assert!(files.len() >= 10, "the corpus is there: {files:?}");
    let (mut read, mut planned) = (0, 0);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Ok(t) = read_csv("fuzz.csv", &data) {
            read += 1;
            planned += check(&at_wave, &t, &t);
        }
        if let Ok(ts) = read_workbook("fuzz.xlsx", data.clone()) {
            for t in &ts {
                read += 1;
                planned += check(&at_wave, t, t);
            }
        }
        if let Ok(map) = read_blueprint("fuzz.json", &data) {
            if let Ok((r, a)) = as_wave(&map, &KumuFields::default()) {
                read += 1;
                planned += check(&at_wave, &r, &a);
            }
        }
    }
    // The seeds (the survey and Kumu fixtures) read and plan.
    assert!(
        read >= 10 && planned > 0,
        "read {read} sheets, planned {planned} events"
    );
}
