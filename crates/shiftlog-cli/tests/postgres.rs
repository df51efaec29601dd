//! Every command on a PostgreSQL store (`--store postgres://...`), against the same commands
//! on a data directory; backups that move between the two; `migrate` both ways; tokens in
//! the database. Runs on a throwaway cluster (skipped without PostgreSQL's binaries unless
//! `SHIFTLOG_POSTGRES_TESTS=required`).

mod common;
use common::{damaged_backups, on_store};
use serde_json::Value;
use shiftlog::store::throwaway::{self, Cluster};
use std::path::Path;
use std::process::Output;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/worked-example.ndjson");

fn run(store: &str, args: &[&str]) -> Output {
    on_store(store).args(args).output().unwrap()
}

fn ok(store: &str, args: &[&str]) -> String {
    let out = run(store, args);
    assert!(
        out.status.success(),
        "{args:?} on {store}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The log as NDJSON values.
fn log(store: &str) -> Vec<Value> {
    ok(store, &["log"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The log without recorded times (two stores fed the same input record at different times).
fn log_as_input(store: &str) -> Vec<Value> {
    log(store)
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("recorded_at");
            v
        })
        .collect()
}

fn dir_store(dir: &Path) -> String {
    dir.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_the_same_on_postgresql_and_backups_and_migrations_move_between_them() {
    let Some(cluster) = Cluster::start() else { return };
    let pg = cluster.database().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = dir_store(&tmp.path().join("sled"));

    // The same input into both.
    for store in [&pg, &dir] {
        let out = ok(store, &["append", EXAMPLE]);
        assert!(out.contains("appended"), "{out}");
    }
    let events = log_as_input(&pg);
    assert!(
        events.len() > 100,
        "the worked example loaded ({} events)",
        events.len()
    );
    assert_eq!(events, log_as_input(&dir), "the same log on both");
    let positions: Vec<u64> = events.iter().map(|e| e["position"].as_u64().unwrap()).collect();
    assert_eq!(
        positions,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "dense positions"
    );

    let stats: Value = serde_json::from_str(&ok(&pg, &["stats", "--json"])).unwrap();
    assert_eq!(stats["events"], events.len());
    assert_eq!(stats["places"], 6);

    // Queries answer the same.
    let place = "ashford-vale";
    for args in [
        vec!["snapshot", "--place", place, "--at", "2024-09-30"],
        vec!["diff", "--place", place, "--from", "2024-03-01", "--to", "2024-09-30"],
        vec!["evolve", "--place", place, "--every", "month"],
        vec!["compare", "--at", "2024-09-30"],
        vec!["bridges", "--at", "2024-09-30"],
        vec!["anomalies", "--place", place],
        vec!["export", "--place", place, "--format", "gexf"],
        vec!["log", "--place", place, "--limit", "5"],
    ] {
        let (a, b) = (ok(&pg, &args), ok(&dir, &args));
        if args[0] == "log" {
            assert_eq!(a.lines().count(), 5);
        } else {
            assert_eq!(a, b, "{args:?} answers the same on both stores");
        }
    }
    let report = tmp.path().join("report.html");
    ok(&pg, &["report", "--out", report.to_str().unwrap()]);
    assert!(std::fs::metadata(&report).unwrap().len() > 10_000);

    // Erasure: the key is gone from the table and the name from every answer.
    let actor = events
        .iter()
        .find(|e| e["type"] == "actor_joined" && e["kind"] == "person" && e["name"].is_string())
        .expect("a person with a name in the example");
    let (who, name) = (actor["actor"].as_str().unwrap(), actor["name"].as_str().unwrap());
    ok(&pg, &["redact", "--actor", who]);
    assert!(!ok(&pg, &["log"]).contains(name), "the name is gone from the log");
    let key = throwaway::rows(&pg, &format!("SELECT key FROM shiftlog_keys WHERE actor = '{who}'")).await;
    assert_eq!(key, vec![vec![None]], "the key is destroyed");
    assert!(ok(&pg, &["verify"]).starts_with("ok"));
    assert!(ok(&pg, &["repair-indexes"]).contains("rebuilt"));
    assert!(ok(&pg, &["verify"]).starts_with("ok"));

    // A backup of the database restores into another database and into a directory, and
    // a backup of the directory into a database: the same log, recorded times included.
    let from_pg = tmp.path().join("pg.backup");
    ok(&pg, &["backup", "--out", from_pg.to_str().unwrap()]);
    let pg2 = cluster.database().await;
    ok(&pg2, &["restore", from_pg.to_str().unwrap()]);
    assert_eq!(log(&pg2), log(&pg));
    let dir2 = dir_store(&tmp.path().join("sled2"));
    ok(&dir2, &["restore", from_pg.to_str().unwrap()]);
    assert_eq!(log(&dir2), log(&pg));
    assert!(!ok(&dir2, &["log"]).contains(name), "the redaction holds in the copy");
    assert!(ok(&dir2, &["verify"]).starts_with("ok"));
    // Restoring over a log is refused, and changes nothing.
    let again = run(&pg2, &["restore", from_pg.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));
    assert_eq!(log(&pg2), log(&pg));

    // Appends go on after a restore, on both kinds of store.
    let more = tmp.path().join("more.ndjson");
    std::fs::write(
        &more,
        r#"{"type":"place_registered","id":"late-1","occurred_at":"2025-01-01","place":"late","name":"Late"}"#,
    )
    .unwrap();
    for store in [&pg2, &dir2] {
        ok(store, &["append", more.to_str().unwrap()]);
        assert_eq!(log(store).len(), events.len() + 2);
    }

    // migrate: directory to database, and database to directory.
    let pg3 = cluster.database().await;
    let out = ok(&dir, &["migrate", "--to", &pg3]);
    assert!(out.contains("agree"), "{out}");
    assert_eq!(log(&pg3), log(&dir));
    let dir3 = dir_store(&tmp.path().join("sled3"));
    ok(&pg3, &["migrate", "--to", &dir3]);
    assert_eq!(log(&dir3), log(&dir));
    let refused = run(&dir, &["migrate", "--to", &pg3]);
    assert!(
        !refused.status.success(),
        "migrating into a store with events is refused"
    );

    // Tokens live in the database.
    let token = ok(&pg, &["token", "create", "--role", "funder"]);
    assert!(token.trim().starts_with("shl_"));
    let listed = ok(&pg, &["token", "list"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let id = listed.split_whitespace().next().unwrap();
    let rows = throwaway::rows(&pg, "SELECT id FROM shiftlog_tokens").await;
    assert_eq!(rows, vec![vec![Some(id.to_string())]]);
    ok(&pg, &["token", "revoke", id]);
    assert_eq!(ok(&pg, &["token", "list"]), "");
    assert!(
        !tmp.path().join("sled").join("tokens.json").exists(),
        "nothing written to a data directory"
    );
}

#[tokio::test]
async fn a_bad_address_or_an_unreachable_database_is_a_clear_error_without_the_password() {
    let out = run("postgres://me:s3cret@127.0.0.1:1/nowhere", &["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to postgres://me@127.0.0.1:1/nowhere"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let out = run("postgres://me:s3cret@[bad/x", &["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a PostgreSQL address"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // TLS parameters are libpq's, checked before connecting.
    for (params, says) in [
        (
            "sslmode=verify",
            "sslmode=verify is not one of disable, prefer, require, verify-ca, verify-full",
        ),
        ("sslmode=verify-full", "sslmode=verify-full needs root certificates"),
        (
            "sslmode=verify-ca&sslrootcert=/nowhere/ca.pem",
            "sslrootcert=/nowhere/ca.pem: cannot read",
        ),
    ] {
        let out = run(
            &format!("postgres://me:s3cret@127.0.0.1:1/nowhere?{params}"),
            &["stats"],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{params}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

/// A damaged, truncated or inconsistent backup is refused by `restore` into PostgreSQL
/// with the reason, and leaves no event in the database, which then takes a good one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_postgresql_refuses_a_damaged_or_truncated_backup_and_writes_nothing() {
    let Some(cluster) = Cluster::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = dir_store(&tmp.path().join("source"));
    ok(&source, &["append", EXAMPLE]);
    let good = tmp.path().join("good.bak");
    ok(&source, &["backup", "--out", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();

    let damaged = damaged_backups(&bytes);
    let db = cluster.database().await;
    for (what, content, says) in damaged {
        let file = tmp.path().join("bad.bak");
        std::fs::write(&file, content).unwrap();
        let out = run(&db, &["restore", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: restored");
        assert!(
            err.contains("is not a usable backup") && err.contains(says),
            "{what}: {err}"
        );
        let count = throwaway::rows(
            &db,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'shiftlog_events'",
        )
        .await;
        if count[0][0].as_deref() == Some("1") {
            let events = throwaway::rows(&db, "SELECT count(*) FROM shiftlog_events").await;
            assert_eq!(events[0][0].as_deref(), Some("0"), "{what}: events written");
        }
    }
    ok(&db, &["restore", good.to_str().unwrap()]);
    assert_eq!(log(&db), log(&source));
    assert!(ok(&db, &["verify"]).starts_with("ok"));
}
