//! Properties of the survey import: reading any bytes never panics; and for random networks
//! and random waves, a plan is either refused with problems or accepted by the engine in
//! full, after which the network at the wave's date holds exactly the wave's relationships
//! of the kinds it covers (and the others as they were), and planning the same wave again
//! plans nothing.

use proptest::prelude::*;
use shiftlog::{parse_input, Engine, KnownAt, PlaceId, Timestamp};
use shiftlog_import::{
    plan_wave, read_csv, read_workbook, read_workbook_within, ImportError, Row, SurveyWave, Table, WorkbookLimits,
};
use std::collections::{BTreeMap, BTreeSet};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_csv("any.csv", &bytes);
        let _ = read_workbook("any.xlsx", bytes);
    }

    #[test]
    fn csv_cells_come_back_as_written(rows in proptest::collection::vec(proptest::collection::vec("[a-z0-9 ,\"\n]{0,6}", 3), 1..6)) {
        let mut w = csv_writer();
        w.write_record(["from", "to", "kind"]).unwrap();
        for r in &rows {
            w.write_record(r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let t = read_csv("t.csv", &bytes).unwrap();
        let want: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| c.trim().to_string()).collect::<Vec<_>>())
            .filter(|r| r.iter().any(|c| !c.is_empty()))
            .collect();
        let got: Vec<Vec<String>> = t.rows.iter().map(|r| r.cells.clone()).collect();
        prop_assert_eq!(got, want);
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

const ACTORS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const KINDS: [&str; 3] = ["collaboration", "trust", "funding"];

/// A relationship row of a wave: indexes into ACTORS and KINDS, and the values as cells.
type WaveRow = (usize, usize, usize, Option<u8>, Option<u8>);

fn wave_rows() -> impl Strategy<Value = Vec<WaveRow>> {
    // Mostly rows a wave may hold (distinct ends, each relationship once); now and then a
    // strength out of range, which must refuse the whole wave.
    let strength = prop_oneof![12 => proptest::option::of(0..=10u8), 1 => Just(Some(13u8))];
    proptest::collection::vec(
        (
            0..6usize,
            1..6usize,
            0..3usize,
            strength,
            proptest::option::of(0..=10u8),
        ),
        1..10,
    )
    .prop_map(|rows| {
        let mut seen = BTreeSet::new();
        rows.into_iter()
            .map(|(f, d, k, s, t)| (f, (f + d) % 6, k, s, t))
            .filter(|r| seen.insert((r.0, r.1, r.2)))
            .collect()
    })
}

fn table(rows: &[WaveRow]) -> Table {
    Table {
        file: "wave.csv".into(),
        sheet: None,
        columns: ["from", "to", "kind", "strength", "trust"].map(String::from).to_vec(),
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, &(f, t, k, s, tr))| Row {
                number: i + 2,
                cells: vec![
                    ACTORS[f].into(),
                    ACTORS[t].into(),
                    KINDS[k].into(),
                    // Strengths above 10 tenths are out of range on purpose.
                    s.map_or(String::new(), |s| format!("{}", s as f64 / 10.0)),
                    tr.map_or(String::new(), |t| format!("{}", t as f64 / 10.0)),
                ],
            })
            .collect(),
        labels: None,
    }
}

fn roster() -> Table {
    Table {
        file: "actors.csv".into(),
        sheet: None,
        columns: vec!["id".into(), "kind".into()],
        rows: ACTORS
            .iter()
            .enumerate()
            .map(|(i, a)| Row {
                number: i + 2,
                cells: vec![a.to_string(), "group".into()],
            })
            .collect(),
        labels: None,
    }
}

type Net = BTreeMap<(String, String, String), (f64, Option<f64>)>;

async fn network(engine: &Engine, at: Timestamp) -> Net {
    let place = PlaceId::new("p").unwrap();
    let s = engine.snapshot(&place, at, KnownAt::Everything).await.unwrap();
    s.relationships
        .iter()
        .map(|r| ((r.from.clone(), r.to.clone(), r.kind.clone()), (r.strength, r.trust)))
        .collect()
}

async fn apply(engine: &Engine, rows: &[WaveRow], wave: Timestamp, with_roster: bool) -> Result<usize, ImportError> {
    let place = PlaceId::new("p").unwrap();
    let (t, r) = (table(rows), roster());
    let at = engine.snapshot(&place, wave, KnownAt::Everything).await.unwrap();
    let plan = plan_wave(
        &SurveyWave {
            place: &place,
            wave,
            relationships: &t,
            actors: with_roster.then_some(&r),
            recorded_by: None,
            source: "survey",
        },
        &at,
    )?;
    let n = plan.events.len();
    let out = engine
        .ingest(parse_input(&plan.ndjson()), &[])
        .await
        .unwrap_or_else(|e| panic!("the engine refused a plan: {e}\n{}", plan.ndjson()));
    assert_eq!(out.appended(), n);
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_planned_wave_is_accepted_whole_and_leaves_exactly_the_wave(first in wave_rows(), second in wave_rows(), roster_first in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let engine = Engine::in_memory();
            engine
                .ingest(parse_input(r#"{"type":"place_registered","id":"r","occurred_at":"2024-01-01","place":"p","name":"P"}"#), &[])
                .await
                .unwrap();
            let waves: [Timestamp; 2] = ["2024-03-01".parse().unwrap(), "2024-06-01".parse().unwrap()];
            for (i, rows) in [&first, &second].into_iter().enumerate() {
                let before = network(&engine, waves[i]).await;
                // Without the roster, only the first wave's actors are known at the second.
                let with_roster = i == 0 || roster_first;
                match apply(&engine, rows, waves[i], with_roster).await {
                    Err(ImportError::Problems(ps)) => {
                        // Refused for a reason the rows hold: a value out of range, a
                        // relationship with itself, a repeat, or an actor not yet known.
                        assert!(!ps.is_empty());
                        assert_eq!(network(&engine, waves[i]).await, before);
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                    Ok(_) => {}
                }
                let after = network(&engine, waves[i]).await;
                let kinds: BTreeSet<&str> = rows.iter().map(|r| KINDS[r.2]).collect();
                let mut want: Net = before.clone();
                want.retain(|k, _| !kinds.contains(k.2.as_str()));
                for &(f, t, k, s, tr) in rows.iter() {
                    let key = (ACTORS[f].to_string(), ACTORS[t].to_string(), KINDS[k].to_string());
                    let old = before.get(&key);
                    let strength = s.map(|s| s as f64 / 10.0).or(old.map(|o| o.0)).unwrap_or(0.5);
                    let trust = tr.map(|t| t as f64 / 10.0).or(old.and_then(|o| o.1));
                    want.insert(key, (strength, trust));
                }
                assert_eq!(after, want, "wave {i}");
                // The same wave again plans nothing.
                assert_eq!(apply(&engine, rows, waves[i], true).await.unwrap(), 0, "wave {i} again");
            }
        });
    }
}

#[test]
fn rows_are_numbered_as_people_see_them() {
    // The header is row 1; blank lines are skipped but counted; a cell spanning lines
    // keeps its row's number; lone-CR line endings count records.
    let t = read_csv("t.csv", b"from,to,kind\r\na,b,k\r\n\r\n\"c\nd\",e,k\r\nf,g,k\r\n").unwrap();
    let numbers: Vec<usize> = t.rows.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 4, 6]);
    let t = read_csv("t.csv", b"from,to,kind\ra,b,k\rc,d,k\r").unwrap();
    let numbers: Vec<usize> = t.rows.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 3]);
    // A byte order mark before the header is not part of the first column's name.
    let t = read_csv("t.csv", "\u{feff}From,To,Kind\na,b,k\n".as_bytes()).unwrap();
    assert_eq!(t.column("from"), Some(0));
    assert_eq!(t.column_label(2), "C (Kind)");
}

#[test]
fn a_workbook_that_crashes_the_reader_is_reported_as_damaged() {
    // Found by the fuzz target: calamine 0.38 overflows on this file's cell reference.
    let bytes = include_bytes!("../../../fuzz/regressions/import_table/calamine-overflow.xlsx");
    let e = read_workbook("survey.xlsx", bytes.to_vec()).unwrap_err();
    assert!(e.to_string().starts_with("cannot read survey.xlsx: is damaged"), "{e}");
}

/// Hostile workbooks (made by `tests/data/survey/make-hostile.py`): each is refused with
/// what is wrong, in bounded memory, where calamine's whole-sheet reader would try to hold
/// gigabytes and abort the process.
#[test]
fn hostile_workbooks_are_refused_not_unpacked() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/survey");
    let read = |name: &str| match read_workbook(name, std::fs::read(data.join(name)).unwrap()).unwrap_err() {
        ImportError::Problems(ps) => ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        e => e.to_string(),
    };
    // 0.9 MB that unpacks to 300 MiB of cells.
    let e = read("bomb.xlsx");
    assert!(e.contains("unpacks to more than 256 MiB"), "{e}");
    // Two cells, at A1 and XFD1048576: the rectangle between them is 17 billion cells.
    let e = read("far-corners.xlsx");
    assert!(e.contains("row 1048576, column XFD: a value beyond column ALL"), "{e}");
    // 101,000 cells, against a limit of 100,000 (the default's 4 million take a minute
    // to read in a test build).
    let limits = WorkbookLimits {
        cells: 100_000,
        ..WorkbookLimits::default()
    };
    let e = read_workbook_within(
        "many-cells.xlsx",
        std::fs::read(data.join("many-cells.xlsx")).unwrap(),
        &limits,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("has more than 100000 cells"), "{e}");
}

/// Cells are read one by one, sparse: a sheet whose rows come out of order, with gaps and
/// a value far right of the others, reads as a spreadsheet shows it.
#[test]
fn sparse_cells_keep_their_rows_and_columns() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("wave").unwrap();
    for (c, h) in ["from", "to", "kind"].iter().enumerate() {
        sheet.write_string(2, c as u16 + 1, *h).unwrap();
    }
    sheet.write_string(9, 1, "a").unwrap();
    sheet.write_string(9, 3, "k").unwrap();
    sheet.write_number(4, 2, 7).unwrap();
    sheet.write_string(4, 40, "far").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let tables = read_workbook("w.xlsx", bytes).unwrap();
    assert_eq!(tables.len(), 1);
    let t = &tables[0];
    assert_eq!(t.columns, ["", "from", "to", "kind"]);
    let rows: Vec<(usize, Vec<&str>)> = t
        .rows
        .iter()
        .map(|r| (r.number, r.cells.iter().map(String::as_str).collect()))
        .collect();
    let mut far = vec![""; 41];
    far[2] = "7";
    far[40] = "far";
    assert_eq!(rows, [(5, far), (10, vec!["", "a", "", "k"])]);
}

/// A workbook keeps every name as text: one that looks like a formula is not one.
#[tokio::test]
async fn a_workbook_writes_names_as_text_never_formulas() {
    let engine = Engine::in_memory();
    let input = r#"{"type":"place_registered","id":"1","occurred_at":"2024-01-01","place":"p","name":"P"}
{"type":"actor_joined","id":"2","occurred_at":"2024-01-02","place":"p","actor":"=cmd|' /C calc'!A0","name":"=HYPERLINK(\"http://x\")","kind":"group","sector":"+vcse"}
{"type":"actor_joined","id":"3","occurred_at":"2024-01-02","place":"p","actor":"b","kind":"person"}
{"type":"relationship_formed","id":"4","occurred_at":"2024-01-03","place":"p","from":"b","to":"=cmd|' /C calc'!A0","kind":"@sum","trust":0.5}"#;
    engine.ingest(parse_input(input), &[]).await.unwrap();
    let place = PlaceId::new("p").unwrap();
    let snap = engine
        .snapshot(&place, "2024-02-01".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let bytes = shiftlog_import::write_workbook(&snap).unwrap();
    let sheets = read_workbook("out.xlsx", bytes).unwrap();
    let actors = sheets.iter().find(|t| t.is_named("Actors")).unwrap();
    let rels = sheets.iter().find(|t| t.is_named("Relationships")).unwrap();
    let a = actors.rows.iter().find(|r| r.cells[0].starts_with('=')).unwrap();
    assert_eq!(a.cells[0], "=cmd|' /C calc'!A0");
    assert_eq!(a.cells[1], "=HYPERLINK(\"http://x\")");
    assert_eq!(a.cells[3], "+vcse");
    assert_eq!(
        rels.rows[0].cells[..3],
        ["b".to_string(), "=cmd|' /C calc'!A0".into(), "@sum".into()]
    );
    assert_eq!(rels.rows[0].cells[4], "0.5");
}

/// The workbook's actors sheet has a column per actor measure of the registry, each
/// actor's values as the snapshot's, empty where undefined, and power after them.
#[tokio::test]
async fn a_workbook_has_every_actor_measure() {
    use shiftlog::projection::ActorMeasure;
    let engine = Engine::in_memory();
    let input = r#"{"type":"place_registered","id":"1","occurred_at":"2024-01-01","place":"p","name":"P"}
{"type":"actor_joined","id":"2","occurred_at":"2024-01-02","place":"p","actor":"a","kind":"group","power":{"budget":1}}
{"type":"actor_joined","id":"3","occurred_at":"2024-01-02","place":"p","actor":"b","kind":"person"}
{"type":"actor_joined","id":"5","occurred_at":"2024-01-02","place":"p","actor":"c","kind":"person"}
{"type":"relationship_formed","id":"4","occurred_at":"2024-01-03","place":"p","from":"b","to":"a","kind":"k","trust":0.5}"#;
    engine.ingest(parse_input(input), &[]).await.unwrap();
    let place = PlaceId::new("p").unwrap();
    let snap = engine
        .snapshot(&place, "2024-02-01".parse().unwrap(), KnownAt::Everything)
        .await
        .unwrap();
    let sheets = read_workbook("out.xlsx", shiftlog_import::write_workbook(&snap).unwrap()).unwrap();
    let actors = sheets.iter().find(|t| t.is_named("Actors")).unwrap();
    let keys: Vec<&str> = ActorMeasure::ALL.iter().map(|m| m.key()).collect();
    let header: Vec<&str> = actors.columns.iter().map(String::as_str).collect();
    assert_eq!(header[6..6 + keys.len()], keys[..]);
    assert_eq!(header[6 + keys.len()], "power: budget");
    for view in &snap.actors {
        let row = actors.rows.iter().find(|r| r.cells[0] == view.id).unwrap();
        for (j, m) in ActorMeasure::ALL.iter().enumerate() {
            let cell = row.cells.get(6 + j).map(String::as_str).unwrap_or("");
            match m.value(view) {
                None => assert_eq!(cell, "", "{} of {}", m.key(), view.id),
                Some(v) => assert_eq!(cell.parse::<f64>().unwrap(), v, "{} of {}", m.key(), view.id),
            }
        }
    }
}
