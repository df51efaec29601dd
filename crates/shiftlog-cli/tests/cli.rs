//! The `shiftlog` binary as users run it: exit codes, messages, files and stdin.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> PathBuf {
    root().join("examples/data/generated-inquiry.ndjson")
}

/// Runs `shiftlog --data-dir DIR ARGS`, feeding `stdin` when given.
fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shiftlog"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        // A command that exits early (a usage error) may close its stdin first.
        match child.stdin.take().unwrap().write_all(s.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn log_lines(dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["log"];
    a.extend_from_slice(args);
    let out = run(dir, &a, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ndjson(vs: &[Value]) -> String {
    vs.iter().map(|v| format!("{v}\n")).collect()
}

fn conformance() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/conformance.json")).unwrap()).unwrap()
}

#[test]
fn appending_a_file_twice_appends_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::fs::read_to_string(sample()).unwrap().lines().count();
    let first = run(dir.path(), &["append", sample().to_str().unwrap()], None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout),
        format!("appended {n} events, 0 already present; last position {n}\n")
    );
    let again = run(dir.path(), &["append", sample().to_str().unwrap()], None);
    assert!(again.status.success());
    assert_eq!(
        text(&again.stdout),
        format!("appended 0 events, {n} already present; last position {n}\n")
    );
    assert_eq!(log_lines(dir.path(), &[]).len(), n);
}

#[test]
fn a_rejected_input_writes_nothing_and_names_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"northbrook","name":"N"}"#,
        r#"{"type":"actor_joined","id":"a1","occurred_at":"2023-01-02","place":"northbrook","actor":"council","kind":"organisation"}"#,
        r#"{"type":"relationship_formed","id":"r1","occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"tenants","kind":"trust"}"#,
        "",
        r#"{"type":"relationship_formed","id":"r2","occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"council","kind":"trust"}"#,
        r#"{"type":"learning_recorded","id":"l1","occurred_at":"2023-13-01","place":"northbrook","text":"x"}"#,
        "{not json",
    ]
    .join("\n");
    let out = run(dir.path(), &["append", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let expected_lines = [
        "error: line 3 (event \"r1\"): field `to`: actor `tenants` has not joined `northbrook`",
        "error: line 5 (event \"r2\"): field `to`: `from` and `to` are the same actor (council)",
        "error: line 6 (event \"l1\"): field `occurred_at`:",
        "error: line 7: invalid JSON at column 2",
        "rejected: 4 of 6 events have errors; nothing was written",
    ];
    for l in expected_lines {
        assert!(err.contains(l), "stderr lacks `{l}`:\n{err}");
    }
    assert!(text(&out.stdout).is_empty());
    assert!(log_lines(dir.path(), &[]).is_empty(), "nothing was written");
}

#[test]
fn every_conformance_rejection_is_reported_at_its_line_and_field() {
    for case in conformance()["rejections"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = run(
            dir.path(),
            &["append"],
            Some(&ndjson(case["accepted_first"].as_array().unwrap())),
        );
        assert!(first.status.success(), "{name}: {}", text(&first.stderr));
        let before = log_lines(dir.path(), &[]);
        let out = run(
            dir.path(),
            &["append", "-"],
            Some(&ndjson(case["input"].as_array().unwrap())),
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        let line = case["rejected_index"].as_u64().unwrap() + 1;
        let id = case["input"][line as usize - 1]["id"]
            .as_str()
            .unwrap()
            .chars()
            .take(140)
            .collect::<String>();
        let wanted = match case["field"].as_str() {
            Some(f) => format!("line {line} (event {id:?}): field `{f}`:"),
            None => format!("line {line} (event {id:?}): "),
        };
        assert!(err.contains(&wanted), "{name}: stderr lacks `{wanted}`:\n{err}");
        assert!(err.contains("nothing was written"), "{name}");
        assert_eq!(log_lines(dir.path(), &[]), before, "{name}: the log is unchanged");
    }
}

#[test]
fn json_arrays_are_accepted_and_errors_name_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"[{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"x","name":"X"},
                   {"type":"learning_recorded","id":"l1","occurred_at":"2023-01-02","place":"x","text":"t"}]"#;
    let out = run(dir.path(), &["append"], Some(good));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bad = r#"[{"type":"learning_recorded","id":"l2","occurred_at":"2023-01-02","place":"x","text":"t"},
                  {"type":"learning_recorded","id":"l3","occurred_at":"2023-01-02","place":"y","text":"t"}]"#;
    let out = run(dir.path(), &["append"], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("index 1 (event \"l3\"): field `place`: place `y` is not registered"));
}

#[test]
fn log_output_round_trips_into_append() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert!(run(a.path(), &["append", sample().to_str().unwrap()], None)
        .status
        .success());
    let out = run(a.path(), &["log"], None);
    let dump = text(&out.stdout);
    // Into the same store: every event is already there.
    let again = run(a.path(), &["append", "-"], Some(&dump));
    assert!(
        text(&again.stdout).starts_with("appended 0 events,"),
        "{}",
        text(&again.stderr)
    );
    // Into an empty store: the same log, position for position.
    let restored = run(b.path(), &["append", "-"], Some(&dump));
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("recorded_at");
        v
    };
    let la: Vec<_> = log_lines(a.path(), &[]).into_iter().map(strip).collect();
    let lb: Vec<_> = log_lines(b.path(), &[]).into_iter().map(strip).collect();
    assert_eq!(la, lb);
}

#[test]
fn batch_mode_reports_exactly_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> =
        vec![r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"x","name":"X"}"#.into()];
    for i in 0..9 {
        let place = if i == 5 { "nowhere" } else { "x" };
        lines.push(format!(
            r#"{{"type":"learning_recorded","id":"l{i}","occurred_at":"2023-01-02","place":"{place}","text":"t"}}"#
        ));
    }
    let out = run(dir.path(), &["append", "--batch", "3"], Some(&lines.join("\n")));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line 7 (event \"l5\"): field `place`"), "{err}");
    assert!(
        err.contains("batch 3 (lines 7-9) was not written; the import stopped there"),
        "{err}"
    );
    assert!(
        err.contains("written: lines 1-6 in 2 batches (6 appended, 0 already present; last position 6)"),
        "{err}"
    );
    assert_eq!(log_lines(dir.path(), &[]).len(), 6);

    // Fixed and re-run: what was written is recognised, the rest goes in.
    let fixed = lines.join("\n").replace("nowhere", "x");
    let out = run(dir.path(), &["append", "--batch", "4"], Some(&fixed));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "appended 4 events, 6 already present, in 3 batches; last position 10\n"
    );
}

#[test]
fn log_filters_by_place_position_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["append", sample().to_str().unwrap()], None)
        .status
        .success());
    let all = log_lines(dir.path(), &[]);
    let place: Vec<_> = all.iter().filter(|e| e["place"] == "place-002").cloned().collect();
    assert!(place.len() > 20);
    assert_eq!(log_lines(dir.path(), &["--place", "place-002"]), place);
    let from = place[10]["position"].as_u64().unwrap().to_string();
    assert_eq!(
        log_lines(dir.path(), &["--place", "place-002", "--from", &from, "--limit", "5"]),
        place[10..15].to_vec()
    );
    assert_eq!(
        log_lines(dir.path(), &["--from", "100", "--limit", "3"]),
        all[99..102].to_vec()
    );
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["position"], i as u64 + 1);
        assert!(e["recorded_at"].is_string());
    }
    let missing = run(dir.path(), &["log", "--place", "atlantis"], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("place `atlantis` has no events"));
}

#[test]
fn stats_describe_the_store() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["append", sample().to_str().unwrap()], None)
        .status
        .success());
    let out = run(dir.path(), &["stats", "--json"], None);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = std::fs::read_to_string(sample()).unwrap();
    let actors: std::collections::BTreeSet<_> = input
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "actor_joined")
        .map(|v| v["actor"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(s["events"], input.lines().count() as u64);
    assert_eq!(s["places"], 4);
    assert_eq!(s["actors"], actors.len() as u64);
    assert_eq!(s["first_position"], 1);
    assert!(s["size_on_disk"].as_u64().unwrap() > 0);
    let table = text(&run(dir.path(), &["stats"], None).stdout);
    assert!(table.contains("places          4"), "{table}");
}

#[test]
fn the_data_directory_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("from-env");
    let out = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .args(["append", sample().to_str().unwrap()])
        .env("SHIFTLOG_DATA", &store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(store.join("log").is_dir());
    // With neither flag nor variable: ./shiftlog-data in the working directory.
    let out = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .args(["append", sample().to_str().unwrap()])
        .env_remove("SHIFTLOG_DATA")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("shiftlog-data/log").is_dir());
}

#[test]
fn reading_a_missing_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["log", "stats"] {
        let out = run(&dir.path().join("nothing-here"), &[cmd], None);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("no shiftlog store at"),
            "{}",
            text(&out.stderr)
        );
        assert!(
            !dir.path().join("nothing-here").exists(),
            "`{cmd}` must not create a store"
        );
    }
}

#[test]
fn expected_versions_guard_against_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let reg = r#"{"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"x","name":"X"}"#;
    assert!(run(dir.path(), &["append", "--expect", "x=0"], Some(reg))
        .status
        .success());
    let note = r#"{"type":"learning_recorded","id":"l1","occurred_at":"2023-01-02","place":"x","text":"t"}"#;
    let out = run(dir.path(), &["append", "--expect", "x=0"], Some(note));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("version conflict on place `x`: expected version 0, but it is at 1; nothing was written"),
        "{err}"
    );
    assert!(run(dir.path(), &["append", "--expect", "x=1"], Some(note))
        .status
        .success());
    let bad = run(dir.path(), &["append", "--expect", "x"], Some(note));
    assert_eq!(bad.status.code(), Some(2), "a malformed flag is a usage error");
}

#[test]
fn dry_run_checks_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["append", "--dry-run", sample().to_str().unwrap()], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("would be accepted"));
    let stats: Value = serde_json::from_slice(&run(dir.path(), &["stats", "--json"], None).stdout).unwrap();
    assert_eq!(stats["events"], 0);
    let bad = r#"{"type":"learning_recorded","id":"l1","occurred_at":"2023-01-02","place":"x","text":"t"}"#;
    let out = run(dir.path(), &["append", "--dry-run"], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line 1 (event \"l1\"): field `place`"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["append", sample().to_str().unwrap()], None)
        .status
        .success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("log")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

/// Runs the command under `script`, which gives it a pseudo-terminal, and returns all it
/// wrote there (stdout and stderr together).
fn in_terminal(command: &str) -> Option<String> {
    let out = Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .output()
        .ok()?;
    assert!(out.status.success(), "{}", text(&out.stdout));
    Some(text(&out.stdout))
}

#[test]
fn large_inputs_show_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.ndjson");
    let mut lines =
        vec![r#"{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"x","name":"X"}"#.to_string()];
    lines.extend((0..20_000).map(|i| {
        format!(
            r#"{{"type":"learning_recorded","id":"l{i}","occurred_at":"2023-01-02","place":"x","text":"note {i}"}}"#
        )
    }));
    std::fs::write(&input, lines.join("\n")).unwrap();
    // Not a terminal: nothing but the summary.
    let out = run(&dir.path().join("a"), &["append", input.to_str().unwrap()], None);
    assert!(out.status.success());
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    // A terminal: a progress bar on stderr.
    let cmd = format!(
        "{} --data-dir {} append {}",
        env!("CARGO_BIN_EXE_shiftlog"),
        dir.path().join("b").display(),
        input.display()
    );
    let Some(screen) = in_terminal(&cmd) else {
        eprintln!("`script` is not installed: the terminal half of this test did not run");
        return;
    };
    assert!(screen.contains("appended 20001 events"), "{screen}");
    assert!(
        screen.contains("reading") || screen.contains("writing"),
        "no progress bar in: {screen}"
    );
}

/// The "late recording and as-known-at" conformance case, appended to a fresh store.
fn late_recording_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let case = &conformance()["cases"][1];
    assert_eq!(case["name"], "late recording and as-known-at");
    let out = run(dir.path(), &["append"], Some(&ndjson(case["log"].as_array().unwrap())));
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

fn json_out(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args, None);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn snapshot_json_is_the_contract_and_honours_known_at() {
    let dir = late_recording_store();
    let now = json_out(dir.path(), &["snapshot", "--place", "northbrook", "--at", "2023-02-15"]);
    for key in ["place", "at", "known_at_position", "actors", "relationships", "metrics"] {
        assert!(now.get(key).is_some(), "snapshot JSON lacks `{key}`");
    }
    assert_eq!(now["known_at_position"], 6);
    assert_eq!(now["metrics"]["relationships"], 1);
    assert_eq!(now["relationships"][0]["from"], "tenants");
    let then = json_out(
        dir.path(),
        &[
            "snapshot",
            "--place",
            "northbrook",
            "--at",
            "2023-02-15",
            "--known-at-position",
            "5",
        ],
    );
    assert_eq!(then["known_at_position"], 5);
    assert_eq!(then["metrics"]["relationships"], 0, "the late record was not yet known");
    for m in [
        "actors",
        "connected_actors",
        "relationships",
        "density",
        "components",
        "max_degree",
        "reciprocity",
        "power_gini",
        "brokers",
        "isolates",
        "sessions",
        "absent_voices",
        "anomalies",
    ] {
        assert!(then["metrics"].get(m).is_some(), "metrics lack `{m}`");
    }
    // As known at a recorded time before anything was recorded: an empty network.
    let args = [
        "snapshot",
        "--place",
        "northbrook",
        "--at",
        "2023-02-15",
        "--known-at",
        "2000-01-01",
    ];
    let early = json_out(dir.path(), &args);
    assert_eq!(
        (early["known_at_position"].as_u64(), early["metrics"]["actors"].as_u64()),
        (Some(0), Some(0))
    );
    // As known at a recorded time after everything: all of it.
    let args = [
        "snapshot",
        "--place",
        "northbrook",
        "--at",
        "2023-02-15",
        "--known-at",
        "2999-01-01",
    ];
    assert_eq!(json_out(dir.path(), &args)["known_at_position"], 6);
    let missing = run(
        dir.path(),
        &["snapshot", "--place", "atlantis", "--at", "2023-02-15"],
        None,
    );
    assert!(
        text(&missing.stderr).contains("place `atlantis` has no events"),
        "{}",
        text(&missing.stderr)
    );
    let bad_date = run(
        dir.path(),
        &["snapshot", "--place", "northbrook", "--at", "2023-02-30"],
        None,
    );
    assert_eq!(bad_date.status.code(), Some(2));
}

#[test]
fn evolve_steps_end_each_period_and_match_snapshots() {
    let dir = late_recording_store();
    let series = json_out(
        dir.path(),
        &[
            "evolve",
            "--place",
            "northbrook",
            "--every",
            "month",
            "--measures",
            "all",
        ],
    );
    let steps = series["northbrook"].as_array().unwrap();
    // The standard evolution: the same steps without the communities.
    let standard = json_out(dir.path(), &["evolve", "--place", "northbrook", "--every", "month"]);
    for (all, std) in steps.iter().zip(standard["northbrook"].as_array().unwrap()) {
        let mut all = all["metrics"].clone();
        for key in ["modularity", "communities"] {
            assert!(
                all.as_object_mut().unwrap().remove(key).is_some(),
                "{key} with --measures all"
            );
        }
        assert_eq!(all, std["metrics"]);
    }
    let refused = run(dir.path(), &["evolve", "--every", "month", "--measures", "most"], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("`most` is not"),
        "{}",
        text(&refused.stderr)
    );
    let ats: Vec<_> = steps.iter().map(|s| s["at"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        ats,
        [
            "2023-01-31T23:59:59.999999999Z",
            "2023-02-28T23:59:59.999999999Z",
            "2023-03-31T23:59:59.999999999Z"
        ]
    );
    for s in steps {
        let snap = json_out(
            dir.path(),
            &["snapshot", "--place", "northbrook", "--at", s["at"].as_str().unwrap()],
        );
        // A step's metrics are the snapshot's, with what changed since the step before.
        let mut metrics = s["metrics"].clone();
        for key in [
            "joined",
            "left",
            "formed",
            "ended",
            "strengthened",
            "weakened",
            "tie_stability",
        ] {
            assert!(
                metrics.as_object_mut().unwrap().remove(key).is_some(),
                "{key} in a step"
            );
        }
        assert_eq!(metrics, snap["metrics"]);
    }
    let csv = run(dir.path(), &["evolve", "--every", "quarter", "--format", "csv"], None);
    let csv = text(&csv.stdout);
    assert!(
        csv.starts_with("place,at,actors,connected_actors,relationships,density"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "a header and one quarter: {csv}");
}

#[test]
fn compare_and_anomalies_cover_every_place() {
    let dir = tempfile::tempdir().unwrap();
    for case in conformance()["cases"].as_array().unwrap().iter().skip(3).take(3) {
        // Each case's log into its own place name, so they sit side by side.
        let name = case["name"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let log: Vec<Value> = case["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["id"] = json!(format!("{name}-{}", e["id"].as_str().unwrap()));
                if e.get("place").is_some() {
                    e["place"] = json!(name);
                }
                if let Some(t) = e.get("target").and_then(Value::as_str) {
                    e["target"] = json!(format!("{name}-{t}"));
                }
                e
            })
            .collect();
        let out = run(dir.path(), &["append"], Some(&ndjson(&log)));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let rows = json_out(dir.path(), &["compare", "--at", "2023-12-31", "--format", "json"]);
    assert_eq!(
        rows.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["forming", "leaving", "power"]
    );
    let table = text(&run(dir.path(), &["compare", "--at", "2023-12-31"], None).stdout);
    assert!(table.lines().next().unwrap().starts_with("place"), "{table}");
    assert_eq!(
        table.lines().take_while(|l| !l.is_empty()).count(),
        4,
        "a header and three places"
    );
    assert!(table.contains("actors bridging places:"), "{table}");
    let report = json_out(dir.path(), &["anomalies", "--format", "json"]);
    assert_eq!(report["leaving"][0]["event_id"], "leaving-r3");
    assert_eq!(report["power"][0]["kind"], "power_shortfall");
    assert_eq!(report["forming"].as_array().unwrap().len(), 2);
    let text_report = text(&run(dir.path(), &["anomalies", "--place", "power"], None).stdout);
    assert!(text_report.contains("power: 1 anomalies"), "{text_report}");
}

#[test]
fn diff_and_export_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let case = &conformance()["cases"][4];
    assert_eq!(case["name"], "power moves and concentrates");
    assert!(
        run(dir.path(), &["append"], Some(&ndjson(case["log"].as_array().unwrap())))
            .status
            .success()
    );
    let args = [
        "diff",
        "--place",
        "northbrook",
        "--from",
        "2023-01-31",
        "--to",
        "2023-04-15",
        "--format",
        "json",
    ];
    let d = json_out(dir.path(), &args);
    assert_eq!(d["power_shifts"].as_array().unwrap().len(), 3);
    assert_eq!(d["power_changes"]["agenda_setting"][0]["actor"], "vcs-forum");
    let text_diff = text(&run(dir.path(), &args[..7], None).stdout);
    assert!(
        text_diff.contains("power over budget: council 1.00 to 0.75; vcs-forum 0.00 to 0.25"),
        "{text_diff}"
    );

    let gexf = run(
        dir.path(),
        &["export", "--place", "northbrook", "--format", "gexf"],
        None,
    );
    assert!(gexf.status.success());
    let xml = text(&gexf.stdout);
    assert!(
        xml.starts_with("<?xml") && xml.contains("mode=\"dynamic\"") && xml.contains("<spell start="),
        "{xml}"
    );
    let kumu = json_out(dir.path(), &["export", "--place", "northbrook", "--format", "kumu"]);
    assert_eq!(kumu["elements"].as_array().unwrap().len(), 3);
    // The whole history for Kumu's timeline: every element ever, each with its periods.
    for (format, tag) in [("kumu-quarters", " Q"), ("kumu-years", "20")] {
        let timeline = json_out(dir.path(), &["export", "--place", "northbrook", "--format", format]);
        let elements = timeline["elements"].as_array().unwrap();
        assert!(elements.len() >= 3, "{timeline}");
        for e in elements {
            let tags = e["tags"].as_array().unwrap();
            assert!(
                !tags.is_empty() && tags.iter().all(|t| t.as_str().unwrap().contains(tag)),
                "{e}"
            );
        }
    }
    for format in ["dot", "graphml", "gexf", "csv", "kumu", "text"] {
        let out = run(
            dir.path(),
            &[
                "snapshot",
                "--place",
                "northbrook",
                "--at",
                "2023-03-01",
                "--format",
                format,
            ],
            None,
        );
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{format}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn bridges_show_actors_in_several_places() {
    let dir = tempfile::tempdir().unwrap();
    let case = &conformance()["cases"][6];
    assert_eq!(case["name"], "one funder, two places");
    assert!(
        run(dir.path(), &["append"], Some(&ndjson(case["log"].as_array().unwrap())))
            .status
            .success()
    );
    let before = json_out(dir.path(), &["bridges", "--at", "2023-03-01", "--format", "json"]);
    assert_eq!(before, json!({"trust-fund": ["eastmere", "northbrook"]}));
    let after = json_out(dir.path(), &["bridges", "--at", "2023-06-01", "--format", "json"]);
    assert_eq!(after, json!({}), "the funder left eastmere in May");
    let table = text(&run(dir.path(), &["compare", "--at", "2023-03-01"], None).stdout);
    assert!(table.contains("trust-fund: eastmere, northbrook"), "{table}");
}

#[test]
fn earlier_views_compare_only_the_places_they_knew() {
    let dir = tempfile::tempdir().unwrap();
    let case = &conformance()["cases"][6];
    assert!(
        run(dir.path(), &["append"], Some(&ndjson(case["log"].as_array().unwrap())))
            .status
            .success()
    );
    let rows = json_out(
        dir.path(),
        &[
            "compare",
            "--at",
            "2023-06-01",
            "--known-at-position",
            "4",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        rows.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["northbrook"],
        "eastmere came at position 5"
    );
    assert_eq!(rows["northbrook"]["actors"], 3);
    let rows = json_out(
        dir.path(),
        &[
            "compare",
            "--at",
            "2023-06-01",
            "--known-at-position",
            "7",
            "--format",
            "json",
        ],
    );
    assert_eq!(rows["northbrook"]["actors"], 4);
    assert_eq!(rows["eastmere"]["actors"], 1);
    let bridges = json_out(
        dir.path(),
        &[
            "bridges",
            "--at",
            "2023-03-01",
            "--known-at-position",
            "6",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        bridges,
        json!({}),
        "the funder had joined only eastmere as known at position 6"
    );
    let bridges = json_out(
        dir.path(),
        &[
            "bridges",
            "--at",
            "2023-03-01",
            "--known-at-position",
            "7",
            "--format",
            "json",
        ],
    );
    assert_eq!(bridges, json!({"trust-fund": ["eastmere", "northbrook"]}));
}

/// `token create` prints the token alone; `serve` answers with it, refuses without it,
/// and stops cleanly on SIGTERM (exit 0) with what was appended on disk.
#[test]
fn serve_with_a_token_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["token", "create", "--role", "admin"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("shl_") && !token.contains('\n'), "{token}");
    let out = run(dir.path(), &["serve", "--open", "--addr", "0.0.0.0:0"], None);
    assert!(!out.status.success() && text(&out.stderr).contains("loopback"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let request = |method: &str, path: &str, token: Option<&str>, body: &str| -> String {
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let auth = token
                    .map(|t| format!("Authorization: Bearer {t}\r\n"))
                    .unwrap_or_default();
                write!(
                    s,
                    "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let mut out = String::new();
                std::io::Read::read_to_string(&mut s, &mut out).unwrap();
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the server did not start");
    };
    let event = r#"{"type":"place_registered","id":"p1","occurred_at":"2024-01-01","place":"leeds","name":"Leeds"}"#;
    assert!(request("POST", "/v1/events", None, event).starts_with("HTTP/1.1 401"));
    let reply = request("POST", "/v1/events", Some(&token), event);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    assert!(request("GET", "/v1/places", Some(&token), "").contains(r#"{"place":"leeds","version":1}"#));

    let kill = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopped"), "{err}");
    let lines = log_lines(dir.path(), &[]);
    assert_eq!(lines.len(), 1);
}

#[test]
fn demo_loads_the_worked_example_prints_tables_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(dir.path(), &["demo", "--dir", demo.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let events = std::fs::read_to_string(root().join("examples/data/worked-example.ndjson"))
        .unwrap()
        .lines()
        .count();
    assert!(
        stdout.contains(&format!("{events} events about 6 fictional places")),
        "{stdout}"
    );
    // The comparison table: one row per place; the evolution table: one row per quarter.
    for place in [
        "ashford-vale",
        "brindle-heath",
        "carrow-bridge",
        "dunmere",
        "elmstead",
        "fenwick-cross",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(place)), "{place} row");
    }
    assert!(stdout.lines().any(|l| l.starts_with("2025-12-31")), "{stdout}");
    let report = demo.join("shiftlog-report.html");
    assert!(stdout.contains(report.to_str().unwrap()), "says where the report is");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("Ashford Vale Coordination Team"));
    // The store it made answers the other commands.
    let store = demo.join("store");
    let snap = run(
        &store,
        &["snapshot", "--place", "ashford-vale", "--at", "2025-12-31"],
        None,
    );
    assert!(snap.status.success(), "{}", text(&snap.stderr));
    // A second run into the same directory is refused: the demo needs a fresh store.
    let again = run(dir.path(), &["demo", "--dir", demo.to_str().unwrap()], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("is not empty"), "{}", text(&again.stderr));
}

#[test]
fn report_writes_one_html_file_for_the_places_asked() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("examples/data/worked-example.ndjson");
    assert!(run(dir.path(), &["append", example.to_str().unwrap()], None)
        .status
        .success());
    let file = dir.path().join("out/two-places.html");
    let out = run(
        dir.path(),
        &[
            "report",
            "--place",
            "dunmere",
            "--place",
            "elmstead",
            "--from",
            "2024-06-01",
            "--every",
            "quarter",
            "--size-by",
            "power",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("id=\"place-dunmere\"") && html.contains("id=\"place-elmstead\""));
    assert!(!html.contains("id=\"place-ashford-vale\""));
    assert!(html.contains("one step per quarter"));
    assert!(!dir.path().join("out/two-places.html.partial").exists());
    // Unknown places and bad dates are clear errors, and write nothing.
    let bad = dir.path().join("bad.html");
    let out = run(
        dir.path(),
        &["report", "--place", "atlantis", "--out", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("atlantis"), "{}", text(&out.stderr));
    let out = run(
        dir.path(),
        &["report", "--from", "2024-13-01", "--out", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--from"), "{}", text(&out.stderr));
    assert!(!bad.exists());

    // `--folder`: index.html and one page per place, in a folder named without `.html`.
    let folder = dir.path().join("all.html");
    let out = run(
        dir.path(),
        &["report", "--folder", "--out", folder.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let index = dir.path().join("all/index.html");
    assert!(
        text(&out.stderr).contains("wrote 7 pages") && text(&out.stderr).contains(index.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
    let pages = std::fs::read_dir(dir.path().join("all/places")).unwrap().count();
    assert_eq!(pages, 6);
    let overview = std::fs::read_to_string(&index).unwrap();
    assert!(overview.contains("href=\"places/dunmere.html\""));
    // `--single-file` and `--folder` together are a usage error.
    let out = run(
        dir.path(),
        &["report", "--folder", "--single-file", "--out", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    // A file that is not a report is never written over.
    std::fs::write(&bad, "mine").unwrap();
    let out = run(dir.path(), &["report", "--out", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is a file that is not a shiftlog report"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "mine");
}

#[test]
fn demo_open_without_a_browser_says_so_and_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    // No PATH: no xdg-open or browser to find.
    let out = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .args(["demo", "--open", "--dir", demo.to_str().unwrap()])
        .env("PATH", "")
        .env_remove("BROWSER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(demo.join("shiftlog-report.html").exists());
    assert!(
        text(&out.stderr).contains("could not open a browser"),
        "{}",
        text(&out.stderr)
    );
}

/// `--kind` on every reading command: the answer is the one for a store holding only
/// those kinds' relationship events.
#[test]
fn kind_views_on_the_command_line_equal_a_store_of_those_kinds_only() {
    let whole = tempfile::tempdir().unwrap();
    let only = tempfile::tempdir().unwrap();
    let text_in = std::fs::read_to_string(sample()).unwrap();
    let kept: String = text_in
        .lines()
        .filter(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            !e["type"].as_str().unwrap().starts_with("relationship_")
                || ["trust", "funding"].contains(&e["kind"].as_str().unwrap())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(run(whole.path(), &["append", sample().to_str().unwrap()], None)
        .status
        .success());
    assert!(run(only.path(), &["append"], Some(&kept)).status.success());
    let place = {
        let rows = json_out(only.path(), &["compare", "--at", "2025-01-01", "--format", "json"]);
        rows.as_object().unwrap().keys().next().unwrap().clone()
    };
    fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["--kind", "trust", "--kind", "funding"][..]].concat()
    }
    let unplaced = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("known_at_position"));
        v
    };
    let snapshot = ["snapshot", "--place", place.as_str(), "--at", "2025-01-01"];
    assert_eq!(
        unplaced(json_out(whole.path(), &with(&snapshot))),
        unplaced(json_out(only.path(), &snapshot))
    );
    let diff = [
        "diff",
        "--place",
        place.as_str(),
        "--from",
        "2024-01-01",
        "--to",
        "2025-01-01",
        "--format",
        "json",
    ];
    assert_eq!(
        unplaced(json_out(whole.path(), &with(&diff))),
        unplaced(json_out(only.path(), &diff))
    );
    for args in [
        &["evolve", "--every", "quarter", "--format", "csv"][..],
        &["compare", "--at", "2025-01-01", "--format", "csv"],
        &[
            "export",
            "--place",
            place.as_str(),
            "--format",
            "kumu",
            "--at",
            "2025-01-01",
        ],
    ] {
        let a = run(whole.path(), &with(args), None);
        let b = run(only.path(), args, None);
        assert!(
            a.status.success() && b.status.success(),
            "{args:?}: {}",
            text(&a.stderr)
        );
        assert_eq!(text(&a.stdout), text(&b.stdout), "{args:?}");
    }
    // And the whole view differs (the test would not notice a flag that does nothing).
    let all = run(
        whole.path(),
        &["compare", "--at", "2025-01-01", "--format", "csv"],
        None,
    );
    let some = run(
        whole.path(),
        &with(&["compare", "--at", "2025-01-01", "--format", "csv"]),
        None,
    );
    assert_ne!(text(&all.stdout), text(&some.stdout));
    let report = whole.path().join("report.html");
    let out = run(
        whole.path(),
        &with(&["report", "--place", place.as_str(), "--out", report.to_str().unwrap()]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(report).unwrap();
    assert!(
        html.contains("relationships of kind funding, kind trust only"),
        "the report says which kinds"
    );
}

#[test]
fn synthesis_reads_learning_by_area_and_leaves_texts_out_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("examples/data/worked-example.ndjson");
    assert!(run(dir.path(), &["append", example.to_str().unwrap()], None)
        .status
        .success());
    let out = run(
        dir.path(),
        &["synthesis", "--place", "fenwick-cross", "--every", "year"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("learning by area:"), "{said}");
    assert!(said.contains("The parish council holds the only local money"), "{said}");
    let counts = json_out(
        dir.path(),
        &[
            "synthesis",
            "--place",
            "fenwick-cross",
            "--without-texts",
            "--format",
            "json",
        ],
    );
    assert_eq!(counts["with_texts"], false);
    assert!(!counts.to_string().contains("parish council holds"));
    let bad = run(dir.path(), &["synthesis", "--place", "nowhere"], None);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("nowhere"), "{}", text(&bad.stderr));
}
