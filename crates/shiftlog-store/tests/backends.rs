//! The conformance suite every backend of the log passes: memory, sled and PostgreSQL
//! run the same cases. A new backend adds one `#[tokio::test]` at the bottom.
//!
//! Cases: the spec's vectors accepted and rejected (at the right index and field, the log
//! unchanged); dense positions; versions and conflicts; idempotency and the same-body
//! rule; atomic batches; reads by stream, by places, at positions, and what `places`,
//! `stats` and `version` say; the head followed; erasure; concurrent writers.

mod common;

use common::*;
use serde_json::json;
use shiftlog_model::{Event, Location};
use shiftlog_store::throwaway::Cluster;
use shiftlog_store::{AppendError, AppendRequest, Detail, EventLog, EventOutcome, PgLog, Position, Stream};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type Fresh<'a> = &'a (dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn EventLog>> + 'a>> + 'a);

fn place_stream() -> Stream {
    Stream::Place("northbrook".parse().unwrap())
}

/// The name an event carries, if any (personal data: gone once the actor is redacted).
fn name(e: &shiftlog_store::RecordedEvent) -> Option<String> {
    e.to_json()["name"].as_str().map(String::from)
}

fn ev(v: serde_json::Value) -> Event {
    event(&v)
}

fn base() -> Vec<Event> {
    vec![
        ev(
            json!({"type":"place_registered","id":"p1","occurred_at":"2023-01-01","place":"northbrook","name":"Northbrook"}),
        ),
        ev(
            json!({"type":"actor_joined","id":"a1","occurred_at":"2023-01-02","place":"northbrook","actor":"council","kind":"organisation"}),
        ),
        ev(
            json!({"type":"actor_joined","id":"a2","occurred_at":"2023-01-03","place":"northbrook","actor":"jo","kind":"person","name":"Jo Bloggs"}),
        ),
    ]
}

async fn conformance_rejections(fresh: Fresh<'_>) {
    let spec = conformance();
    let cases = spec["rejections"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let log = fresh().await;
        let first = events(case["accepted_first"].as_array().unwrap());
        log.append(AppendRequest::new(first))
            .await
            .unwrap_or_else(|e| panic!("{name}: accepted_first: {e}"));
        let before = read_all(log.as_ref()).await;
        let version_before = log.version(&place_stream()).await.unwrap();

        // Inputs are values, not parsed events: a bad one may fail to parse at all.
        let input = case["input"].as_array().unwrap();
        let index = case["rejected_index"].as_u64().unwrap() as usize;
        let field = case["field"].as_str();
        let mut parsed = Vec::new();
        let mut parse_error = None;
        for (i, v) in input.iter().enumerate() {
            match Event::from_json(v) {
                Ok(e) => parsed.push(e),
                Err(e) => parse_error = parse_error.or(Some((i, e))),
            }
        }
        match parse_error {
            Some((i, e)) => {
                assert_eq!(i, index, "{name}: parse rejected the wrong event");
                assert_eq!(e.field.as_deref(), field, "{name}: {e}");
            }
            None => match log.append(AppendRequest::new(parsed)).await {
                Err(AppendError::Rejected(rs)) => {
                    assert_eq!(rs.len(), 1, "{name}: {rs:?}");
                    assert_eq!(rs[0].location, Location::Index(index), "{name}");
                    assert_eq!(rs[0].field(), field, "{name}: {}", rs[0]);
                    let id = input[index]["id"].as_str().map(String::from);
                    assert_eq!(rs[0].event_id, id, "{name}: the error names the event");
                }
                other => panic!("{name}: expected a rejection, got {other:?}"),
            },
        }
        assert_eq!(read_all(log.as_ref()).await, before, "{name}: the log is unchanged");
        assert_eq!(
            log.version(&place_stream()).await.unwrap(),
            version_before,
            "{name}: the version is unchanged"
        );
    }
}

async fn conformance_logs(fresh: Fresh<'_>) {
    for case in conformance()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let log_events = events(case["log"].as_array().unwrap());
        let log = fresh().await;
        let out = log
            .append(AppendRequest::new(log_events.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.head, Position(log_events.len() as u64), "{name}");
        let back: Vec<_> = read_all(log.as_ref()).await.into_iter().map(|r| r.event).collect();
        assert_eq!(back, log_events, "{name}: read back as appended");
    }
}

async fn versions_and_conflicts(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    assert_eq!(log.version(&place_stream()).await.unwrap(), 3);
    assert_eq!(log.version(&Stream::Unplaced).await.unwrap(), 0);
    let next = ev(
        json!({"type":"relationship_formed","id":"r1","occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"jo","kind":"collaboration"}),
    );
    match log
        .append(AppendRequest::new(vec![next.clone()]).expect(place_stream(), 2))
        .await
    {
        Err(AppendError::VersionConflict { expected, actual, .. }) => assert_eq!((expected, actual), (2, 3)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.head(), Position(3), "a conflict writes nothing");
    let out = log
        .append(AppendRequest::new(vec![next]).expect(place_stream(), 3))
        .await
        .unwrap();
    assert_eq!(out.head, Position(4));
    assert_eq!(log.version(&place_stream()).await.unwrap(), 4);
}

async fn idempotency(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    let again = log.append(AppendRequest::new(base())).await.unwrap();
    assert_eq!(again.already_present(), 3);
    assert_eq!(
        again.events,
        vec![
            EventOutcome::AlreadyPresent(Position(1)),
            EventOutcome::AlreadyPresent(Position(2)),
            EventOutcome::AlreadyPresent(Position(3)),
        ]
    );
    // A retry of a batch wholly in the log succeeds whatever version it expected.
    log.append(AppendRequest::new(base()).expect(place_stream(), 0))
        .await
        .unwrap();
    // The same id with another body (here: another name, which is personal data) is refused.
    let mut changed = base();
    changed.truncate(3);
    let changed = vec![ev(
        json!({"type":"actor_joined","id":"a2","occurred_at":"2023-01-03","place":"northbrook","actor":"jo","kind":"person","name":"Jo B."}),
    )];
    match log.append(AppendRequest::new(changed)).await {
        Err(AppendError::Rejected(rs)) => assert_eq!(rs[0].field(), Some("id")),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Events without ids get one, never an id already taken.
    let producer_took_it = ev(
        json!({"type":"relationship_formed","id":"auto-5","occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"jo","kind":"collaboration"}),
    );
    log.append(AppendRequest::new(vec![producer_took_it])).await.unwrap();
    let without_id = Event::from_json(
        &json!({"type":"relationship_ended","occurred_at":"2023-03-01","place":"northbrook","from":"council","to":"jo","kind":"collaboration"}),
    )
    .unwrap();
    let out = log.append(AppendRequest::new(vec![without_id])).await.unwrap();
    let stored = log.read_at(&[out.head]).await.unwrap();
    assert_eq!(stored[0].id().as_str(), "auto-5-1", "auto-5 was taken by a producer");
    assert_eq!(log.head(), Position(5));
}

async fn atomic_batches(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    let batch = vec![
        ev(
            json!({"type":"relationship_formed","id":"r1","occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"jo","kind":"collaboration"}),
        ),
        ev(
            json!({"type":"actor_joined","id":"a3","occurred_at":"2023-02-01","place":"northbrook","actor":"tenants","kind":"group","name":"Tenants"}),
        ),
        // Names an actor who never joined: the whole batch is refused.
        ev(
            json!({"type":"relationship_formed","id":"r2","occurred_at":"2023-02-02","place":"northbrook","from":"nobody","to":"jo","kind":"collaboration"}),
        ),
    ];
    let before = read_all(log.as_ref()).await;
    match log.append(AppendRequest::new(batch)).await {
        Err(AppendError::Rejected(rs)) => assert_eq!(rs[0].location, Location::Index(2)),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(read_all(log.as_ref()).await, before);
    assert_eq!(log.version(&place_stream()).await.unwrap(), 3);
    assert!(log.event(&"a3".parse().unwrap()).await.unwrap().is_none());
    assert_eq!(
        log.stats().await.unwrap().actors,
        2,
        "the refused batch's actor is not counted"
    );
    // A batch may use what its own earlier events set up.
    let batch = vec![
        ev(
            json!({"type":"actor_joined","id":"a3","occurred_at":"2023-02-01","place":"northbrook","actor":"tenants","kind":"group"}),
        ),
        ev(
            json!({"type":"relationship_formed","id":"r2","occurred_at":"2023-02-02","place":"northbrook","from":"tenants","to":"jo","kind":"collaboration"}),
        ),
        ev(
            json!({"type":"event_retracted","id":"x1","occurred_at":"2023-02-03","target":"a3","reason":"entered by mistake"}),
        ),
    ];
    log.append(AppendRequest::new(batch)).await.unwrap();
    // The retracted join no longer counts: tenants may not be named after it.
    let late = ev(
        json!({"type":"relationship_formed","id":"r3","occurred_at":"2023-03-01","place":"northbrook","from":"tenants","to":"council","kind":"collaboration"}),
    );
    assert!(matches!(
        log.append(AppendRequest::new(vec![late])).await,
        Err(AppendError::Rejected(_))
    ));
}

async fn reads(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    log.append(AppendRequest::new(vec![
        ev(json!({"type":"place_registered","id":"q1","occurred_at":"2023-01-01","place":"southmoor","name":"Southmoor"})),
        ev(json!({"type":"actor_joined","id":"q2","occurred_at":"2023-01-02","place":"southmoor","actor":"council","kind":"organisation"})),
        ev(json!({"type":"actor_joined","id":"a4","occurred_at":"2023-01-05","place":"northbrook","actor":"tenants","kind":"group"})),
    ]))
    .await
    .unwrap();
    let all = read_all(log.as_ref()).await;
    assert_eq!(all.len(), 6);
    let north: Vec<_> = all.iter().filter(|e| e.stream == place_stream()).cloned().collect();
    assert_eq!(log.read_stream(&place_stream(), Position(1), 100).await.unwrap(), north);
    assert_eq!(
        log.read_stream(&place_stream(), Position(3), 1).await.unwrap(),
        north[2..3].to_vec()
    );
    let south = Stream::Place("southmoor".parse().unwrap());
    assert_eq!(log.version(&south).await.unwrap(), 2);
    let both: BTreeSet<_> = ["northbrook", "southmoor"].iter().map(|p| p.parse().unwrap()).collect();
    let stretch = log.read_places_with(&both, Position(2), 3, Detail::Full).await.unwrap();
    assert_eq!(stretch, all[1..4].to_vec(), "positions 2, 3 and 4");
    assert_eq!(
        log.read_at(&[Position(2), Position(5)]).await.unwrap(),
        vec![all[1].clone(), all[4].clone()]
    );
    assert!(log.read_at(&[Position(7)]).await.is_err(), "beyond the head");
    assert_eq!(log.read(Position(4), 2).await.unwrap(), all[3..5].to_vec());
    assert_eq!(log.read(Position(7), 10).await.unwrap(), vec![]);
    assert_eq!(log.event(&"q2".parse().unwrap()).await.unwrap().as_ref(), Some(&all[4]));
    let places: Vec<String> = log.places().await.unwrap().iter().map(|p| p.to_string()).collect();
    assert_eq!(places, ["northbrook", "southmoor"]);
    let stats = log.stats().await.unwrap();
    assert_eq!((stats.events, stats.places, stats.actors), (6, 2, 3));
    // Without personal data, the name is left out; with it, it is there.
    let plain = log
        .read_with(Position(3), 1, Detail::WithoutPersonalData)
        .await
        .unwrap();
    assert_eq!(name(&plain[0]), None);
    assert_eq!(name(&all[2]).as_deref(), Some("Jo Bloggs"));
}

async fn head_followed(fresh: Fresh<'_>) {
    let log = fresh().await;
    let mut watch = log.watch_head();
    assert_eq!(*watch.borrow_and_update(), Position(0));
    log.append(AppendRequest::new(base())).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        watch.wait_for(|h| *h == Position(3)),
    )
    .await
    .expect("the head reaches the watcher")
    .unwrap();
    assert_eq!(log.head(), Position(3));
}

async fn erasure(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    let named = log.event(&"a2".parse().unwrap()).await.unwrap().unwrap();
    assert!(name(&named).is_some());
    let redaction =
        ev(json!({"type":"actor_redacted","id":"red1","occurred_at":"2023-06-01","actor":"jo","reason":"asked"}));
    log.append(AppendRequest::new(vec![redaction])).await.unwrap();
    let after = log.event(&"a2".parse().unwrap()).await.unwrap().unwrap();
    assert!(name(&after).is_none(), "the name is unreadable after the redaction");
    let jo: shiftlog_model::ActorId = "jo".parse().unwrap();
    for e in read_all(log.as_ref()).await {
        if e.event.data_subjects().contains(&&jo) {
            assert_eq!(name(&e), None, "event {} still names jo", e.id());
        }
    }
    // Later events about the actor keep no personal data either.
    let later = ev(
        json!({"type":"actor_updated","id":"u1","occurred_at":"2023-07-01","place":"northbrook","actor":"jo","name":"Jo Again"}),
    );
    log.append(AppendRequest::new(vec![later])).await.unwrap();
    let stored = log.event(&"u1".parse().unwrap()).await.unwrap().unwrap();
    assert!(name(&stored).is_none());
    // Another actor's data is untouched.
    assert_eq!(log.version(&Stream::Unplaced).await.unwrap(), 1);
}

async fn concurrent_writers(fresh: Fresh<'_>) {
    let log = fresh().await;
    log.append(AppendRequest::new(base())).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let id = format!("w{w}-{i}");
                let e = ev(json!({"type":"learning_recorded","id":id,"occurred_at":"2023-03-01","place":"northbrook","text":"noted","actors":["council"]}));
                let out = log.append(AppendRequest::new(vec![e])).await.unwrap();
                acked.push((id, out.head));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let all = read_all(log.as_ref()).await;
    assert_eq!(all.len(), 3 + 8 * 25, "every acknowledged event once");
    for (id, position) in acked {
        assert_eq!(all[position.0 as usize - 1].id().as_str(), id);
    }
    assert_eq!(log.version(&place_stream()).await.unwrap(), 3 + 8 * 25);
    let times: Vec<_> = all.iter().map(|e| e.recorded_at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "recorded_at never decreases");
}

async fn suite(fresh: Fresh<'_>) {
    conformance_rejections(fresh).await;
    conformance_logs(fresh).await;
    versions_and_conflicts(fresh).await;
    idempotency(fresh).await;
    atomic_batches(fresh).await;
    reads(fresh).await;
    head_followed(fresh).await;
    erasure(fresh).await;
    concurrent_writers(fresh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_log_conforms() {
    suite(&|| Box::pin(async { Arc::new(memory_log()) as Arc<dyn EventLog> })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_log_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    let dirs = &dirs;
    suite(&move || {
        Box::pin(async move {
            let d = tempfile::tempdir().unwrap();
            let log = sled_log(d.path());
            dirs.lock().unwrap().push(d);
            Arc::new(log) as Arc<dyn EventLog>
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_conforms() {
    let Some(cluster) = Cluster::start() else { return };
    let cluster = &cluster;
    suite(&move || {
        Box::pin(async move {
            let url = cluster.database().await;
            Arc::new(pg_log(&url, fixed_clock()).await) as Arc<dyn EventLog>
        })
    })
    .await;
}

/// The same suite over TLS with the server's certificate and name checked and a client
/// certificate for authentication: every connection (writer, follower, pool) is secured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_conforms_over_verified_tls() {
    let Some(tls) = TlsCluster::start() else { return };
    let tls = &tls;
    suite(&move || {
        Box::pin(async move {
            let db = tls.database().await;
            let url = tls.url(
                &db,
                "localhost",
                &format!(
                    "&hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
                    tls.file("ca.pem")
                ),
            );
            Arc::new(pg_log(&url, fixed_clock()).await) as Arc<dyn EventLog>
        })
    })
    .await;
}

/// After a redaction returns, the actor's key is in no file of the database's data
/// directory (the write-ahead log aside: docs/erasure.md says how long it keeps it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redaction_leaves_the_key_in_no_table_file() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    let log = PgLog::connect(&url).await.unwrap();
    log.append(AppendRequest::new(base())).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let key: Vec<u8> = client
        .query_one("SELECT key FROM shiftlog_keys WHERE actor = 'jo'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(key.len(), 32);
    client.batch_execute("CHECKPOINT").await.unwrap();
    let holding = files_holding(&cluster.dir().join("data"), &key);
    assert!(
        !holding.is_empty(),
        "the key is on disk before the redaction (the check can fail)"
    );

    let redaction = ev(json!({"type":"actor_redacted","id":"red1","occurred_at":"2023-06-01","actor":"jo"}));
    log.append(AppendRequest::new(vec![redaction])).await.unwrap();
    client.batch_execute("CHECKPOINT").await.unwrap();
    let holding = files_holding(&cluster.dir().join("data"), &key);
    assert!(holding.is_empty(), "the redacted actor's key is still in {holding:?}");
    let row = client
        .query_one("SELECT key FROM shiftlog_keys WHERE actor = 'jo'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<Vec<u8>>>(0), None);
}

/// Files under `dir` (the write-ahead log left out) that contain `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "pg_wal") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(path);
                }
            }
        }
    }
    out
}

/// Two servers on one database taking turns: a server that wrote last plans its next small
/// group without the head's lock, against what it knows; when the other server has
/// written meanwhile, that plan must not commit (its positions, versions, rejections and
/// recorded time are stale) and the group is planned again under the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_servers_taking_turns_plan_against_each_others_appends() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    let at = |t: &'static str| -> shiftlog_store::Clock { Arc::new(move || t.parse().unwrap()) };
    let behind = pg_log(&url, at("2025-01-01T00:00:00Z")).await;
    let ahead = pg_log(&url, at("2025-06-01T00:00:00Z")).await;
    let rel = |id: &str, to: &str| {
        ev(
            json!({"type":"relationship_formed","id":id,"occurred_at":"2023-02-01","place":"northbrook","from":"council","to":to,"kind":"collaboration"}),
        )
    };
    behind.append(AppendRequest::new(base())).await.unwrap();
    // Planned and committed by the server that wrote last, with nobody else writing.
    behind
        .append(AppendRequest::new(vec![rel("r1", "jo")]).expect(place_stream(), 3))
        .await
        .unwrap();
    ahead
        .append(AppendRequest::new(vec![ev(
            json!({"type":"actor_joined","id":"a3","occurred_at":"2023-01-04","place":"northbrook","actor":"library","kind":"organisation"}),
        )]))
        .await
        .unwrap();
    // Against what `behind` knows, this is fine at position 5; it belongs at 6.
    let out = behind.append(AppendRequest::new(vec![rel("r2", "jo")])).await.unwrap();
    assert_eq!(out.head, Position(6));
    // Under the lock: after a refusal, a writer waits for two groups in a row that find
    // nobody else's events before it plans without the lock again.
    behind.append(AppendRequest::new(vec![rel("r2b", "jo")])).await.unwrap();
    behind.append(AppendRequest::new(vec![rel("r2c", "jo")])).await.unwrap();
    ahead
        .append(AppendRequest::new(vec![ev(
            json!({"type":"actor_joined","id":"a4","occurred_at":"2023-01-05","place":"northbrook","actor":"school","kind":"organisation"}),
        )]))
        .await
        .unwrap();
    // Against what `behind` knows, `school` never joined and the version is wrong.
    let out = behind
        .append(AppendRequest::new(vec![rel("r3", "school")]).expect(place_stream(), 9))
        .await
        .unwrap();
    assert_eq!(out.head, Position(10));
    // And once more in turn, with a conflict that is real.
    match behind
        .append(AppendRequest::new(vec![rel("r4", "library")]).expect(place_stream(), 9))
        .await
    {
        Err(AppendError::VersionConflict { expected, actual, .. }) => assert_eq!((expected, actual), (9, 10)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    behind
        .append(AppendRequest::new(vec![rel("r4", "library")]))
        .await
        .unwrap();

    let log = read_all(&behind).await;
    let positions: Vec<u64> = log.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (1..=11).collect::<Vec<_>>());
    let ids: Vec<&str> = log.iter().map(|e| e.id().as_str()).collect();
    assert_eq!(
        ids,
        ["p1", "a1", "a2", "r1", "a3", "r2", "r2b", "r2c", "a4", "r3", "r4"]
    );
    assert!(
        log.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at),
        "recorded times never decrease, whichever server's clock is behind: {:?}",
        log.iter().map(|e| e.recorded_at.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(ahead.version(&place_stream()).await.unwrap(), 11);
    assert_eq!(read_all(&ahead).await.len(), 11);
}

/// A statement the database refuses in the middle of a group's pipelined writes (here a
/// trigger, as a constraint or a full disk would) aborts the transaction: the append is
/// reported as failed, nothing of it is in the log, and the writer goes on from the log as
/// it is. Both ways a group goes: planned without the lock (the writer wrote last, nothing
/// to read) and under it (a new actor's key to read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_write_the_database_refuses_fails_the_group_and_leaves_the_log_as_it_was() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    let log = pg_log(&url, fixed_clock()).await;
    log.append(AppendRequest::new(base())).await.unwrap();
    shiftlog_store::throwaway::rows(
        &url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.id LIKE 'refused%' THEN RAISE EXCEPTION 'refused by a trigger'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON shiftlog_events FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await;
    let rel = |id: &str| {
        ev(
            json!({"type":"relationship_formed","id":id,"occurred_at":"2023-02-01","place":"northbrook","from":"council","to":"jo","kind":"collaboration"}),
        )
    };
    let joined = |id: &str, actor: &str| {
        ev(
            json!({"type":"actor_joined","id":id,"occurred_at":"2023-01-04","place":"northbrook","actor":actor,"kind":"person","name":"Sam"}),
        )
    };
    for (what, events) in [
        ("known actors only", vec![rel("r1"), rel("refused-1")]),
        ("a new actor", vec![joined("j1", "sam"), rel("refused-2")]),
    ] {
        match log.append(AppendRequest::new(events)).await {
            Err(AppendError::Store(shiftlog_store::StoreError::WriteFailed(message))) => {
                assert!(message.contains("refused by a trigger"), "{what}: {message}")
            }
            other => panic!("{what}: expected a failed write, got {other:?}"),
        }
        assert_eq!(log.head(), Position(3), "{what}");
        assert_eq!(read_all(&log).await.len(), 3, "{what}");
        assert_eq!(log.version(&place_stream()).await.unwrap(), 3, "{what}");
    }
    // The writer goes on from the log as it is: the same events, without the refused ones.
    log.append(AppendRequest::new(vec![rel("r1")])).await.unwrap();
    let out = log.append(AppendRequest::new(vec![joined("j1", "sam")])).await.unwrap();
    assert_eq!(out.head, Position(5));
    let fresh = pg_log(&url, fixed_clock()).await;
    let all = read_all(&fresh).await;
    assert_eq!(
        all.iter().map(|e| e.id().as_str()).collect::<Vec<_>>(),
        ["p1", "a1", "a2", "r1", "j1"]
    );
    assert_eq!(
        name(&all[4]).as_deref(),
        Some("Sam"),
        "sealed under a key that is in the database"
    );
}
