//! Erasure, backup and integrity through the `shiftlog` binary, as users run them.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

mod common;
use common::{damaged_backups, files_containing, open_to_others};
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// Personal data about Jo, and about Sam (who is not redacted).
const JO_NAME: &str = "Josephine Q. Bloggs";
const JO_PHONE: &str = "07700-900-123";
const JO_TEXT: &str = "Josephine spoke about the allotment eviction";
const JO_TITLE: &str = "Kitchen table with Josephine";
const SAM_NAME: &str = "Samuel Z. Otherton";

/// A place with two people, enough other events that checkpoints are written (the
/// default is one per 1,024 events), and personal data in every field that can hold it.
fn inquiry() -> String {
    let mut evs = vec![
        json!({"type":"place_registered","id":"p","occurred_at":"2024-01-01","place":"vale","name":"Vale"}),
        json!({"type":"actor_joined","id":"jo","occurred_at":"2024-01-02","place":"vale","actor":"jo","kind":"person",
               "name":JO_NAME,"attributes":{"phone":JO_PHONE}}),
        json!({"type":"actor_joined","id":"sam","occurred_at":"2024-01-02","place":"vale","actor":"sam","kind":"person",
               "name":SAM_NAME,"attributes":{"ward":"East"}}),
        json!({"type":"actor_joined","id":"c","occurred_at":"2024-01-02","place":"vale","actor":"council","kind":"organisation","name":"Vale Council"}),
        json!({"type":"relationship_formed","id":"r1","occurred_at":"2024-01-03","place":"vale","from":"jo","to":"council","kind":"trust","strength":0.5}),
        json!({"type":"relationship_formed","id":"r2","occurred_at":"2024-01-03","place":"vale","from":"sam","to":"council","kind":"trust","strength":0.5}),
        json!({"type":"learning_recorded","id":"l1","occurred_at":"2024-01-04","place":"vale","text":JO_TEXT,"actors":["jo","council"]}),
        json!({"type":"session_held","id":"s1","occurred_at":"2024-01-05","place":"vale","session":"s1","title":JO_TITLE,"participants":["jo","sam"]}),
        json!({"type":"actor_updated","id":"u1","occurred_at":"2024-01-06","place":"vale","actor":"jo","name":JO_NAME,"attributes":{"phone":JO_PHONE}}),
    ];
    for i in 0..2500 {
        let day = 7 + i / 100;
        evs.push(json!({"type":"relationship_changed","id":format!("x{i}"),"occurred_at":format!("2024-02-{:02}", day.min(28)),
                        "place":"vale","from":"jo","to":"council","kind":"trust","strength":(i % 10) as f64 / 10.0}));
    }
    evs.iter().map(|v| format!("{v}\n")).collect()
}

fn outputs(dir: &Path, work: &Path) -> String {
    let mut all = ok(dir, &["log"]);
    for format in ["json", "dot", "graphml", "gexf", "csv", "kumu"] {
        all += &ok(
            dir,
            &["snapshot", "--place", "vale", "--at", "2024-03-01", "--format", format],
        );
    }
    all += &ok(dir, &["export", "--place", "vale", "--format", "gexf"]);
    all += &ok(
        dir,
        &[
            "diff",
            "--place",
            "vale",
            "--from",
            "2024-01-01",
            "--to",
            "2024-03-01",
            "--format",
            "json",
        ],
    );
    let report = work.join("report.html");
    ok(dir, &["report", "--out", report.to_str().unwrap()]);
    all += &std::fs::read_to_string(report).unwrap();
    all
}

#[test]
fn after_redact_returns_the_actors_data_is_nowhere_in_the_data_directory_outputs_or_backups() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&dir, &["append", input.to_str().unwrap()]);
    // Queries write checkpoints (which hold names) into the derived data.
    let before = outputs(&dir, work.path());
    for s in [JO_NAME, JO_PHONE, JO_TEXT, JO_TITLE, SAM_NAME] {
        assert!(before.contains(s), "`{s}` should be readable before the redaction");
    }
    let old_backup = work.path().join("before.bak");
    ok(&dir, &["backup", "--out", old_backup.to_str().unwrap()]);

    let said = ok(&dir, &["redact", "--actor", "jo", "--reason", "erasure request"]);
    assert!(said.contains("redacted `jo`"), "{said}");

    for s in [JO_NAME, JO_PHONE, JO_TEXT, JO_TITLE] {
        assert_eq!(
            files_containing(&dir, s),
            Vec::<PathBuf>::new(),
            "`{s}` is still in the data directory"
        );
    }
    let after = outputs(&dir, work.path());
    let new_backup = work.path().join("after.bak");
    ok(&dir, &["backup", "--out", new_backup.to_str().unwrap()]);
    let backup_bytes = String::from_utf8_lossy(&std::fs::read(&new_backup).unwrap()).into_owned();
    let restored = work.path().join("restored");
    ok(&restored, &["restore", new_backup.to_str().unwrap()]);
    let from_restored = outputs(&restored, work.path());
    for s in [JO_NAME, JO_PHONE, JO_TEXT, JO_TITLE] {
        assert!(!after.contains(s), "`{s}` is still in the outputs");
        assert!(
            !backup_bytes.contains(s),
            "`{s}` is in a backup taken after the redaction"
        );
        assert!(!from_restored.contains(s), "`{s}` came back from the restored backup");
    }
    // Other people's data is intact, and so is the network's shape.
    assert!(
        after.contains(SAM_NAME) && after.contains("\"ward\""),
        "Sam's data was lost"
    );
    let snap: Value = serde_json::from_str(&ok(&dir, &["snapshot", "--place", "vale", "--at", "2024-03-01"])).unwrap();
    let jo = snap["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "jo")
        .unwrap();
    assert_eq!(jo["redacted"], true);
    assert!(jo.get("name").is_none_or(Value::is_null));
    assert_eq!(snap["metrics"]["relationships"], 2);
    // The erased events read as erased, with their shape kept.
    let log: Vec<Value> = ok(&dir, &["log"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let learning = log.iter().find(|e| e["id"] == "l1").unwrap();
    assert_eq!(learning["text"], "[redacted]");
    assert_eq!(learning["actors"], json!(["jo", "council"]));
    // A backup from before the redaction still holds the data: that is what it is for,
    // and why docs/erasure.md says to destroy such backups too.
    assert!(
        String::from_utf8_lossy(&std::fs::read(&old_backup).unwrap()).contains(JO_NAME) || {
            let r = work.path().join("old-restored");
            ok(&r, &["restore", old_backup.to_str().unwrap()]);
            ok(&r, &["log"]).contains(JO_NAME)
        }
    );
    assert!(ok(&dir, &["verify"]).starts_with("ok:"));
}

#[test]
fn log_output_re_appended_into_an_empty_store_rebuilds_it() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&a, &["append", input.to_str().unwrap()]);
    ok(&a, &["redact", "--actor", "jo"]);
    let dumped = work.path().join("dump.ndjson");
    std::fs::write(&dumped, ok(&a, &["log"])).unwrap();
    let b = work.path().join("b");
    ok(&b, &["append", dumped.to_str().unwrap()]);
    for at in ["2024-01-04", "2024-02-15", "2024-03-01"] {
        let snap = |d: &Path| -> Value {
            let mut v: Value = serde_json::from_str(&ok(d, &["snapshot", "--place", "vale", "--at", at])).unwrap();
            v.as_object_mut().unwrap().remove("known_at_position");
            v
        };
        assert_eq!(snap(&a), snap(&b), "at {at}");
    }
    assert_eq!(
        ok(&a, &["compare", "--at", "2024-03-01", "--format", "json"]),
        ok(&b, &["compare", "--at", "2024-03-01", "--format", "json"])
    );
}

#[test]
fn verify_finds_a_flipped_byte_and_repair_indexes_does_not_hide_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&dir, &["append", input.to_str().unwrap()]);
    assert!(ok(&dir, &["verify"]).starts_with("ok:"));
    shiftlog_store_fault_flip(&dir, 7);
    let out = run(&dir, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("record 7: damaged record at position 7: checksum mismatch"),
        "{said}"
    );
    let out = run(&dir, &["repair-indexes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore it from a backup"));
}

/// Flips a byte of the stored record at `position` (through the store's fault hooks).
fn shiftlog_store_fault_flip(dir: &Path, position: u64) {
    shiftlog::store::fault::flip_record_byte(dir, position, 9, 0x10).unwrap();
}

#[test]
fn restore_refuses_a_damaged_or_truncated_backup_and_a_directory_in_use_and_creates_nothing() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&dir, &["append", input.to_str().unwrap()]);
    let good = work.path().join("good.bak");
    ok(&dir, &["backup", "--out", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();

    let damaged = damaged_backups(&bytes);
    for (what, content, says) in damaged {
        let file = work.path().join("bad.bak");
        std::fs::write(&file, content).unwrap();
        let target = work.path().join(format!("restored-{}", what.replace(' ', "-")));
        let out = run(&target, &["restore", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("is not a usable backup") && err.contains(says),
            "{what}: {err}"
        );
        assert!(
            !target.exists(),
            "{what}: a refused restore created {}",
            target.display()
        );
    }
    // Into a directory that holds something: refused, and the store there is untouched.
    let out = run(&dir, &["restore", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
    assert!(ok(&dir, &["verify"]).starts_with("ok: "));
    // And the good one restores.
    let restored = work.path().join("restored");
    ok(&restored, &["restore", good.to_str().unwrap()]);
    assert_eq!(ok(&restored, &["log"]), ok(&dir, &["log"]));
}

#[test]
fn the_data_directory_its_keys_tokens_and_backups_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    // Under the usual umask (022) everything would be world-readable without care.
    let dir = work.path().join("data");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&dir, &["token", "create", "--role", "admin"]);
    ok(&dir, &["append", input.to_str().unwrap()]);
    ok(&dir, &["snapshot", "--place", "vale", "--at", "2024-03-01"]);
    ok(&dir, &["redact", "--actor", "jo", "--reason", "asked"]);
    ok(&dir, &["snapshot", "--place", "vale", "--at", "2024-03-01"]);
    let backup = work.path().join("store.bak");
    ok(&dir, &["backup", "--out", backup.to_str().unwrap()]);
    let mut loose = open_to_others(&dir);
    loose.extend(open_to_others(&backup));
    assert!(loose.is_empty(), "{loose:#?}");
    let restored = work.path().join("restored");
    ok(&restored, &["restore", backup.to_str().unwrap()]);
    let loose = open_to_others(&restored);
    assert!(loose.is_empty(), "{loose:#?}");

    // A store made world-readable (as older builds left it) is tightened when opened.
    for p in [dir.clone(), dir.join("keys")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    ok(&dir, &["stats"]);
    let loose = open_to_others(&dir);
    assert!(loose.is_empty(), "{loose:#?}");
}
