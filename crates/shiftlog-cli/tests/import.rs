//! `shiftlog import survey` on the hand-made three-wave survey in `tests/data/survey/`
//! (CSV, and the same waves as XLSX workbooks with a Relationships and an Actors sheet):
//! the snapshot at each wave's date holds exactly the wave's relationships (and, of the
//! kinds the wave does not cover, what was there before); importing again writes nothing;
//! a corrected file writes only the correction; every bad file names its row and column
//! and writes nothing.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/survey")
        .join(name)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A store with the place registered, and nothing else.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("place.ndjson");
    std::fs::write(
        &input,
        r#"{"type":"place_registered","id":"mb-0","occurred_at":"2024-01-01","place":"millbrook","name":"Millbrook"}"#,
    )
    .unwrap();
    ok(dir.path(), &["append", input.to_str().unwrap()]);
    dir
}

fn head(dir: &Path) -> u64 {
    let out = ok(dir, &["stats", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["events"].as_u64().unwrap()
}

const WAVES: [&str; 3] = ["2024-03-31", "2024-09-30", "2025-03-31"];

type Key = (String, String, String);
/// (strength, trust, value)
type Values = (f64, Option<f64>, Option<f64>);

/// What the network should hold after each wave, worked out from the CSV files by the
/// rules of a wave, independently of the importer: the wave's kinds are replaced by the
/// wave's rows; a value left empty keeps the one before (for a relationship already
/// there) or is unrated (for a new one).
fn expected() -> Vec<BTreeMap<Key, Values>> {
    let mut state: BTreeMap<Key, Values> = BTreeMap::new();
    let mut out = Vec::new();
    for n in 1..=3 {
        let csv = std::fs::read_to_string(data(&format!("wave-{n}.csv"))).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r[2]).collect();
        let before = state.clone();
        state.retain(|k, _| !kinds.contains(&k.2.as_str()));
        for r in rows {
            let key = (r[0].to_string(), r[1].to_string(), r[2].to_string());
            let num = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
            let old = before.get(&key);
            let strength = num(r[3]).or(old.map(|o| o.0)).unwrap_or(0.5);
            let trust = num(r[4]).or(old.and_then(|o| o.1));
            let value = num(r[5]).or(old.and_then(|o| o.2));
            state.insert(key, (strength, trust, value));
        }
        out.push(state.clone());
    }
    out
}

/// The relationships (key → strength, trust, value) and actor ids of Millbrook at `at`.
fn network(dir: &Path, at: &str) -> (BTreeMap<Key, Values>, Vec<String>) {
    let (actors, rels) = picture(dir, "millbrook", at);
    (
        rels.into_iter().map(|(k, (s, t, v, _))| (k, (s, t, v))).collect(),
        actors.into_iter().map(|a| a.0).collect(),
    )
}

fn import(dir: &Path, n: usize, xlsx: bool) -> String {
    let wave = WAVES[n - 1];
    if xlsx {
        ok(
            dir,
            &[
                "import",
                "survey",
                "--place",
                "millbrook",
                "--wave",
                wave,
                data(&format!("wave-{n}.xlsx")).to_str().unwrap(),
            ],
        )
    } else {
        ok(
            dir,
            &[
                "import",
                "survey",
                "--place",
                "millbrook",
                "--wave",
                wave,
                "--actors",
                data(&format!("actors-{n}.csv")).to_str().unwrap(),
                data(&format!("wave-{n}.csv")).to_str().unwrap(),
            ],
        )
    }
}

#[test]
fn three_waves_from_csv_and_from_xlsx_record_exactly_the_waves() {
    let expected = expected();
    let (csv, xlsx) = (store(), store());
    for n in 1..=3 {
        let said = import(csv.path(), n, false);
        import(xlsx.path(), n, true);
        let at = WAVES[n - 1];
        let (rels, actors) = network(csv.path(), at);
        assert_eq!(rels, expected[n - 1], "the network after wave {n} (CSV)\n{said}");
        assert_eq!(
            network(xlsx.path(), at),
            (rels, actors.clone()),
            "XLSX and CSV agree at wave {n}"
        );
        // Every actor on the wave's roster is in the place; nobody left.
        let roster = std::fs::read_to_string(data(&format!("actors-{n}.csv"))).unwrap();
        let ids: Vec<&str> = roster.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        assert!(
            ids.iter().all(|id| actors.iter().any(|a| a == id)),
            "{ids:?} in {actors:?}"
        );
        // Between waves nothing is recorded: the day before a wave, the network is the
        // previous wave's.
        if n > 1 {
            let (prev, _) = network(csv.path(), WAVES[n - 2]);
            assert_eq!(prev, expected[n - 2], "wave {n} did not change the past");
        }
    }
    // The second wave: one relationship ended, one changed, one formed, and the food
    // bank joined; what was said matches.
    let said = text(&run(csv.path(), &["log", "--place", "millbrook"]).stdout);
    assert!(said.contains("\"actor\":\"mb-foodbank\""));

    // Importing again writes nothing, whatever the order.
    let before = head(csv.path());
    for n in [3, 1, 2] {
        let again = import(csv.path(), n, false);
        assert!(again.contains("nothing to record"), "{again}");
        let again = import(csv.path(), n, true);
        assert!(again.contains("nothing to record"), "{again}");
    }
    assert_eq!(head(csv.path()), before);
}

#[test]
fn a_corrected_wave_records_only_the_correction_and_a_dry_run_writes_nothing() {
    let dir = store();
    for n in 1..=3 {
        import(dir.path(), n, false);
    }
    let before = head(dir.path());
    // The third wave again, with one trust score corrected.
    let corrected = dir.path().join("wave-3-corrected.csv");
    let original = std::fs::read_to_string(data("wave-3.csv")).unwrap();
    let fixed = original.replace(
        "mb-health,mb-foodbank,collaboration,0.3,0.4,0.5",
        "mb-health,mb-foodbank,collaboration,0.3,0.45,0.5",
    );
    assert_ne!(fixed, original);
    std::fs::write(&corrected, fixed).unwrap();
    let args = [
        "import",
        "survey",
        "--place",
        "millbrook",
        "--wave",
        WAVES[2],
        corrected.to_str().unwrap(),
    ];
    let dry = ok(dir.path(), &[&args[..], &["--dry-run"]].concat());
    assert!(
        dry.contains("would record 0 actors joining, 0 relationships formed, 1 changed, 0 ended"),
        "{dry}"
    );
    assert!(
        dry.contains("~ mb-health → mb-foodbank (collaboration): trust 0.4 → 0.45"),
        "{dry}"
    );
    assert!(dry.contains("dry run: nothing written"));
    assert_eq!(head(dir.path()), before, "a dry run writes nothing");
    let said = ok(dir.path(), &args);
    assert!(said.contains("1 events appended"), "{said}");
    assert_eq!(head(dir.path()), before + 1);
    let (rels, _) = network(dir.path(), WAVES[2]);
    let key = (
        "mb-health".to_string(),
        "mb-foodbank".to_string(),
        "collaboration".to_string(),
    );
    assert_eq!(rels[&key], (0.3, Some(0.45), Some(0.5)));
}

/// Each bad input is an error naming where it is wrong, and writes nothing.
#[test]
fn every_bad_file_names_its_row_and_column_and_writes_nothing() {
    let dir = store();
    import(dir.path(), 1, false);
    let before = head(dir.path());
    let header = "from,to,kind,strength,trust,value,directed";
    let cases: Vec<(&str, String, &str)> = vec![
        ("no-to.csv", "from,kind\nmb-council,collaboration\n".into(), "no column `to` (the header row has: from, kind)"),
        (
            "ghost.csv",
            format!("{header}\nmb-council,mb-cvs,collaboration,0.5,,,\nmb-council,ghost,collaboration,0.5,,,\n"),
            "row 3, column B (to): actor `ghost` is not in the place at the wave's date and not on the actors sheet",
        ),
        (
            "range.csv",
            format!("{header}\nmb-council,mb-cvs,collaboration,1.5,,,\n"),
            "row 2, column D (strength): strength 1.5 is out of range: it must be between 0 and 1",
        ),
        (
            "nan.csv",
            format!("{header}\nmb-council,mb-cvs,collaboration,0.5,high,,\n"),
            "row 2, column E (trust): `high` is not a number",
        ),
        (
            "dup.csv",
            format!("{header}\nmb-council,mb-cvs,collaboration,0.5,,,\nmb-cvs,mb-youth,trust,0.5,,,\nmb-council,mb-cvs,collaboration,0.7,,,\n"),
            "row 4: repeats row 2 (mb-council → mb-cvs, collaboration)",
        ),
        (
            "self.csv",
            format!("{header}\nmb-council,mb-council,collaboration,0.5,,,\n"),
            "row 2, column B (to): a relationship of `mb-council` with itself",
        ),
        (
            "directed.csv",
            format!("{header}\nmb-council,mb-cvs,collaboration,0.5,,,sometimes\n"),
            "row 2, column G (directed): `sometimes` is not true or false",
        ),
        ("empty-kind.csv", format!("{header}\nmb-council,mb-cvs,,0.5,,,\n"), "row 2, column C (kind): is empty"),
        ("notes.txt.pdf", "x".into(), "unknown kind of file"),
        ("broken.xlsx", "not a zip".into(), "is not a workbook calamine can read"),
    ];
    for (name, body, want) in &cases {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let out = run(
            dir.path(),
            &[
                "import",
                "survey",
                "--place",
                "millbrook",
                "--wave",
                "2024-06-30",
                f.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(want), "{name}: wanted `{want}` in:\n{err}");
        assert!(err.contains(name), "{name}: the file is named:\n{err}");
        assert_eq!(head(dir.path()), before, "{name} wrote something");
    }
    // Several problems are all reported, not only the first.
    let f = dir.path().join("many.csv");
    std::fs::write(
        &f,
        format!("{header}\nmb-council,ghost,collaboration,2,,,\nmb-cvs,,trust,0.5,x,,\n"),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "survey",
            "--place",
            "millbrook",
            "--wave",
            "2024-06-30",
            f.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    for want in [
        "row 2, column B (to)",
        "row 2, column D (strength)",
        "row 3, column B (to): is empty",
        "row 3, column E (trust)",
    ] {
        assert!(err.contains(want), "wanted `{want}` in:\n{err}");
    }
    assert!(err.contains("4 problems in the input; nothing was written"), "{err}");
    // An actors sheet with a bad kind, and an unregistered place.
    let actors = dir.path().join("actors.csv");
    std::fs::write(&actors, "id,name,kind\nmb-new,New group,club\n").unwrap();
    let wave = dir.path().join("w.csv");
    std::fs::write(&wave, format!("{header}\nmb-council,mb-new,collaboration,0.5,,,\n")).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "survey",
            "--place",
            "millbrook",
            "--wave",
            "2024-06-30",
            "--actors",
            actors.to_str().unwrap(),
            wave.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("actors.csv, row 2, column C (kind): `club` is not a kind of actor"),
        "{err}"
    );
    let out = run(
        dir.path(),
        &[
            "import",
            "survey",
            "--place",
            "atlantis",
            "--wave",
            "2024-06-30",
            wave.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("place `atlantis` is not registered"),
        "{}",
        text(&out.stderr)
    );
    // A workbook sheet that is not there.
    let out = run(
        dir.path(),
        &[
            "import",
            "survey",
            "--place",
            "millbrook",
            "--wave",
            "2024-06-30",
            "--sheet",
            "Wave 9",
            data("wave-2.xlsx").to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("has no sheet `Wave 9` (its sheets: Relationships, Actors)"),
        "{err}"
    );
    assert_eq!(head(dir.path()), before);
}

fn kumu_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/kumu")
        .join(name)
}

type Actor = (String, String, Option<String>, Option<String>);
/// (strength, trust, value, directed)
type Drawn = BTreeMap<Key, (f64, Option<f64>, Option<f64>, bool)>;

/// The actors (id, kind, sector, name) and relationships (key, strength, trust, value,
/// directed) of `place` at `at`.
fn picture(dir: &Path, place: &str, at: &str) -> (Vec<Actor>, Drawn) {
    let snap: Value = serde_json::from_str(&ok(dir, &["snapshot", "--place", place, "--at", at])).unwrap();
    let actors = snap["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
                a["sector"].as_str().map(str::to_string),
                a["name"].as_str().map(str::to_string),
            )
        })
        .collect();
    let rels = snap["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["from"].as_str().unwrap().to_string(),
                    r["to"].as_str().unwrap().to_string(),
                    r["kind"].as_str().unwrap().to_string(),
                ),
                (
                    r["strength"].as_f64().unwrap(),
                    r["trust"].as_f64(),
                    r["value"].as_f64(),
                    r["directed"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    (actors, rels)
}

#[test]
fn a_kumu_map_as_a_blueprint_a_workbook_or_two_csvs_records_the_same_network() {
    let at = "2024-05-01";
    let mut pictures = Vec::new();
    for files in [
        vec![kumu_data("blueprint.json")],
        vec![kumu_data("map.xlsx")],
        vec![kumu_data("elements.csv"), kumu_data("connections.csv")],
    ] {
        let dir = store();
        let mut args = vec![
            "import",
            "kumu",
            "--place",
            "millbrook",
            "--at",
            at,
            files[0].to_str().unwrap(),
        ];
        if let Some(c) = files.get(1) {
            args.extend(["--connections", c.to_str().unwrap()]);
        }
        let said = ok(dir.path(), &args);
        assert!(
            said.contains("recorded 5 actors joining, 4 relationships formed"),
            "{said}"
        );
        let again = ok(dir.path(), &args);
        assert!(again.contains("nothing to record"), "{again}");
        pictures.push(picture(dir.path(), "millbrook", at));
    }
    let (actors, rels) = &pictures[0];
    let council = "Millbrook Town Council".to_string();
    assert!(actors.contains(&(
        council.clone(),
        "organisation".into(),
        Some("public".into()),
        Some(council.clone())
    )));
    assert!(actors.contains(&(
        "Amira Hassan".into(),
        "person".into(),
        Some("community".into()),
        Some("Amira Hassan".into())
    )));
    // A Type shiftlog has no kind for is an organisation (--element-kind).
    assert!(actors
        .iter()
        .any(|a| a.0 == "Northern Futures Fund" && a.1 == "organisation" && a.2.as_deref() == Some("funder")));
    let key = |a: &str, b: &str, k: &str| (a.to_string(), b.to_string(), k.to_string());
    assert_eq!(
        rels[&key(&council, "Millbrook CVS", "collaboration")],
        (0.7, Some(0.8), None, false)
    );
    assert_eq!(
        rels[&key("Northern Futures Fund", "Millbrook CVS", "funding")],
        (0.9, None, Some(0.9), true)
    );
    // No Type: the default kind; no strength: the format's default.
    assert_eq!(
        rels[&key("Amira Hassan", "Riverside Youth Club", "connection")],
        (0.5, None, None, true)
    );
    assert_eq!(rels.len(), 4);
    assert_eq!(pictures[1], pictures[0], "the workbook and the blueprint agree");
    assert_eq!(pictures[2], pictures[0], "the CSVs and the blueprint agree");
}

#[test]
fn the_kumu_round_trip_gives_the_same_actors_and_relationships() {
    let from = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/worked-example.ndjson");
    ok(from.path(), &["append", example.to_str().unwrap()]);
    for (place, at) in [("ashford-vale", "2025-06-30"), ("carrow-bridge", "2024-12-31")] {
        let map = from.path().join(format!("{place}.json"));
        let json = ok(
            from.path(),
            &["snapshot", "--place", place, "--at", at, "--format", "kumu"],
        );
        std::fs::write(&map, json).unwrap();
        let to = tempfile::tempdir().unwrap();
        let register = to.path().join("p.ndjson");
        std::fs::write(
            &register,
            format!(
                r#"{{"type":"place_registered","id":"r","occurred_at":"2024-01-01","place":"{place}","name":"P"}}"#
            ),
        )
        .unwrap();
        ok(to.path(), &["append", register.to_str().unwrap()]);
        ok(
            to.path(),
            &["import", "kumu", "--place", place, "--at", at, map.to_str().unwrap()],
        );
        let (mut a0, r0) = picture(from.path(), place, at);
        let (mut a1, r1) = picture(to.path(), place, at);
        // Names: the export writes an actor's id where it has no name (a redacted one).
        for a in a0.iter_mut() {
            a.3 = Some(a.3.clone().unwrap_or_else(|| a.0.clone()));
        }
        a0.sort();
        a1.sort();
        assert_eq!(a1, a0, "the actors of {place}");
        assert_eq!(r1, r0, "the relationships of {place}");
    }
}

#[test]
fn bad_kumu_maps_name_where_they_are_wrong_and_write_nothing() {
    let dir = store();
    let before = head(dir.path());
    let cases: Vec<(&str, &str, &str)> = vec![
        ("notjson.json", "{\"elements\": [", "is not JSON"),
        (
            "nolabel.json",
            r#"{"elements":[{"type":"Person"}],"connections":[]}"#,
            "no column `Label`",
        ),
        (
            "ghost.json",
            r#"{"elements":[{"label":"A"},{"label":"B"}],"connections":[{"from":"A","to":"C"}]}"#,
            "ghost.json, sheet connections, row 1, column to: actor `C` is not in the place",
        ),
        (
            "direction.json",
            r#"{"elements":[{"label":"A"},{"label":"B"}],"connections":[{"from":"A","to":"B","direction":"sideways"}]}"#,
            "row 1, column direction: `sideways` is not a direction",
        ),
        (
            "strength.json",
            r#"{"elements":[{"label":"A"},{"label":"B"}],"connections":[{"from":"A","to":"B","strength":7}]}"#,
            "row 1, column strength: strength 7 is out of range",
        ),
    ];
    for (name, body, want) in &cases {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let out = run(
            dir.path(),
            &[
                "import",
                "kumu",
                "--place",
                "millbrook",
                "--at",
                "2024-05-01",
                f.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{name}: wanted `{want}` in:\n{err}");
        assert_eq!(head(dir.path()), before, "{name} wrote something");
    }
    // Kumu-style sheets: the connections' columns as the user named them.
    let elements = dir.path().join("e.csv");
    std::fs::write(&elements, "Label,Type\nA,Person\nB,Group\n").unwrap();
    let connections = dir.path().join("c.csv");
    std::fs::write(&connections, "From,To,Type,Weight\nA,B,Trust,1.5\n").unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "kumu",
            "--place",
            "millbrook",
            "--at",
            "2024-05-01",
            "--strength-field",
            "Weight",
            elements.to_str().unwrap(),
            "--connections",
            connections.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("c.csv, row 2, column D (Weight): strength 1.5 is out of range"),
        "{err}"
    );
    // One CSV without --connections, and a workbook without an Elements sheet.
    let out = run(
        dir.path(),
        &[
            "import",
            "kumu",
            "--place",
            "millbrook",
            "--at",
            "2024-05-01",
            elements.to_str().unwrap(),
        ],
    );
    assert!(
        text(&out.stderr).contains("give the connections too, with --connections"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        dir.path(),
        &[
            "import",
            "kumu",
            "--place",
            "millbrook",
            "--at",
            "2024-05-01",
            data("wave-1.xlsx").to_str().unwrap(),
        ],
    );
    assert!(
        text(&out.stderr).contains("has no sheet `Elements` (its sheets: Relationships, Actors)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(head(dir.path()), before);
}

/// A snapshot exported as a workbook reads back, as a survey wave into an empty store, as
/// the same actors and relationships.
#[test]
fn the_workbook_round_trip_gives_the_same_actors_and_relationships() {
    let from = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/worked-example.ndjson");
    ok(from.path(), &["append", example.to_str().unwrap()]);
    let out = run(from.path(), &["export", "--place", "ashford-vale", "--format", "xlsx"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("give the file with --out"),
        "{}",
        text(&out.stderr)
    );
    for (place, at) in [("ashford-vale", "2025-06-30"), ("brindle-heath", "2024-09-30")] {
        let book = from.path().join(format!("{place}.xlsx"));
        ok(
            from.path(),
            &[
                "export",
                "--place",
                place,
                "--format",
                "xlsx",
                "--at",
                at,
                "--out",
                book.to_str().unwrap(),
            ],
        );
        let to = tempfile::tempdir().unwrap();
        let register = to.path().join("p.ndjson");
        std::fs::write(
            &register,
            format!(
                r#"{{"type":"place_registered","id":"r","occurred_at":"2024-01-01","place":"{place}","name":"P"}}"#
            ),
        )
        .unwrap();
        ok(to.path(), &["append", register.to_str().unwrap()]);
        ok(
            to.path(),
            &[
                "import",
                "survey",
                "--place",
                place,
                "--wave",
                at,
                book.to_str().unwrap(),
            ],
        );
        let (mut a0, r0) = picture(from.path(), place, at);
        let (mut a1, r1) = picture(to.path(), place, at);
        a0.sort();
        a1.sort();
        assert_eq!(a1, a0, "the actors of {place}");
        assert_eq!(r1, r0, "the relationships of {place}");
    }
}
