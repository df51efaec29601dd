//! A data directory on a full disk or a read-only file system: clear errors, nothing lost,
//! nothing half-written.
//!
//! These tests mount a small tmpfs (and a read-only bind mount), which needs root or
//! CAP_SYS_ADMIN. Without it they say so on stderr and pass, unless
//! `SHIFTLOG_REQUIRE_MOUNT_TESTS=1` is set (as `.ci/run` does): then they fail.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

/// Runs `shiftlog`; a run longer than [`common::PATIENCE`] fails the test as a hang (a
/// failed write once left the process waiting forever in its last flush).
fn run(dir: &Path, args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_shiftlog"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::finish(child, &format!("shiftlog {args:?}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A mount point that is unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], target: &Path) -> Option<Mount> {
    let status = Command::new("mount").args(args).arg(target).output();
    match status {
        Ok(o) if o.status.success() => Some(Mount(target.to_path_buf())),
        other => {
            let why = match other {
                Ok(o) => stderr(&o),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("SHIFTLOG_REQUIRE_MOUNT_TESTS").is_none(),
                "mount {args:?} failed and SHIFTLOG_REQUIRE_MOUNT_TESTS is set: {why}"
            );
            eprintln!("skipped: cannot mount ({why}); run as root to test full and read-only disks");
            None
        }
    }
}

fn remount(m: &Mount, options: &str) {
    let s = Command::new("mount").args(["-o", options]).arg(&m.0).status().unwrap();
    assert!(s.success(), "remount {options}");
}

/// An inquiry of `n` events, big enough (about 600 bytes each) to fill a small disk.
fn inquiry(n: usize) -> String {
    let mut out = String::new();
    let mut push = |v: serde_json::Value| {
        out.push_str(&v.to_string());
        out.push('\n');
    };
    push(json!({"type":"place_registered","id":"p","occurred_at":"2024-01-01","place":"vale","name":"Vale"}));
    for a in 0..50 {
        push(
            json!({"type":"actor_joined","id":format!("a{a}"),"occurred_at":"2024-01-02","place":"vale",
                    "actor":format!("actor-{a}"),"kind":"group","name":format!("Group {a}")}),
        );
    }
    for i in 0..n.saturating_sub(51) {
        push(
            json!({"type":"learning_recorded","id":format!("l{i}"),"occurred_at":format!("2024-{:02}-01", 2 + i % 11),
                    "place":"vale","actors":[format!("actor-{}", i % 50)],
                    "text":format!("{i}: {}", "what the group said about the allotments, at length. ".repeat(10))}),
        );
    }
    out
}

fn last_position(report: &str) -> u64 {
    let tail = report.rsplit("last position ").next().unwrap();
    tail.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no last position in {report:?}"))
}

fn event_ids(dir: &Path) -> Vec<String> {
    ok(dir, &["log"])
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_full_disk_stops_the_import_with_a_clear_error_and_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(m) = mount(&["-t", "tmpfs", "-o", "size=3m", "tmpfs"], &disk) else {
        return;
    };
    let input = work.path().join("in.ndjson");
    let text = inquiry(8000);
    std::fs::write(&input, &text).unwrap();
    let dir = disk.join("store");

    let out = run(&dir, &["append", "--batch", "500", input.to_str().unwrap()]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(se.contains("no space left on the device holding"), "{se}");
    assert!(se.contains("was not written; the import stopped there"), "{se}");
    // The report says how far it got, in whole batches.
    let written = last_position(&se);
    assert!(written > 0 && written.is_multiple_of(500), "{se}");

    // Opening the store needs a little room (sled writes as it opens): a query on the
    // full disk says why it cannot answer, and changes nothing.
    let snap = run(&dir, &["snapshot", "--place", "vale", "--at", "2024-12-31"]);
    assert_eq!(snap.status.code(), Some(1), "{}", stderr(&snap));
    assert!(
        stderr(&snap).contains("no space left on the device holding") && stderr(&snap).contains("free some space"),
        "{}",
        stderr(&snap)
    );

    // With room again: exactly the acknowledged events, a clean store, and the import can
    // be finished by appending the same file again.
    remount(&m, "remount,size=64m");
    assert!(ok(&dir, &["verify"]).starts_with("ok: "));
    let ids = event_ids(&dir);
    let expected: Vec<String> = text
        .lines()
        .take(written as usize)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, expected);
    let again = ok(&dir, &["append", "--batch", "500", input.to_str().unwrap()]);
    assert_eq!(last_position(&again), 8000, "{again}");
    assert!(ok(&dir, &["verify"]).starts_with("ok: 8000 events"));
    drop(m);
}

#[test]
fn a_store_cannot_be_created_on_a_full_disk_and_says_why() {
    let work = tempfile::tempdir().unwrap();
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(m) = mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &disk) else {
        return;
    };
    // Fill it.
    let _ = std::fs::write(disk.join("filler"), vec![7u8; 2 << 20]);
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry(60)).unwrap();
    let out = run(&disk.join("store"), &["append", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("no space left on the device holding"),
        "{}",
        stderr(&out)
    );
    drop(m);
}

#[test]
fn a_read_only_data_directory_gets_a_clear_error_and_is_left_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("store");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry(300)).unwrap();
    ok(&src, &["append", input.to_str().unwrap()]);
    let before = ok(&src, &["snapshot", "--place", "vale", "--at", "2024-12-31"]);
    let ro = work.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let Some(m) = mount(&["--bind", src.to_str().unwrap()], &ro) else {
        return;
    };
    remount(&m, "remount,bind,ro");
    let files_before = listing(&src);

    for args in [
        &["snapshot", "--place", "vale", "--at", "2024-12-31"][..],
        &["append", input.to_str().unwrap()][..],
        &["verify"][..],
    ] {
        let out = run(&ro, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}{}", stdout(&out), stderr(&out));
        let e = stderr(&out);
        assert!(e.contains("is on a read-only file system"), "{args:?}: {e}");
        assert!(e.contains("copy it somewhere writable"), "{e}");
    }
    drop(m);
    assert_eq!(listing(&src), files_before);
    assert_eq!(ok(&src, &["snapshot", "--place", "vale", "--at", "2024-12-31"]), before);
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), md.len(), md.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}
