//! The server over real HTTP on loopback: appends, reads, projections, live streams,
//! tokens and hostile bodies.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shiftlog::store::{throwaway::Cluster, Store};
use shiftlog::{Engine, PgLog, PlaceId};
use shiftlog_server::tokens::{Role, TokenStore};
use shiftlog_server::{Access, ServerConfig};
use std::sync::Arc;

struct Server {
    base: String,
    engine: Engine,
    tokens: Arc<TokenStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server over a fresh data directory.
    async fn start(config: ServerConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let tokens = Arc::new(TokenStore::new(dir.path()));
        Server::serve(engine, tokens, config, Some(dir)).await
    }

    /// A server over a PostgreSQL database (several may share it).
    async fn on_postgres(url: &str) -> Server {
        let log = Arc::new(PgLog::connect(url).await.unwrap());
        let engine = Engine::with_store(Store {
            log: log.clone(),
            maintenance: log.clone(),
        });
        Server::serve(
            engine,
            Arc::new(TokenStore::in_database(log)),
            ServerConfig::default(),
            None,
        )
        .await
    }

    async fn serve(
        engine: Engine,
        tokens: Arc<TokenStore>,
        config: ServerConfig,
        dir: Option<tempfile::TempDir>,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(shiftlog_server::serve(
            listener,
            engine.clone(),
            Access::Tokens(tokens.clone()),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            base,
            engine,
            tokens,
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Revokes the first token of `role` listed.
    async fn revoke_first(&self, role: Role) {
        let id = self
            .tokens
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.role == role)
            .unwrap()
            .id;
        self.tokens.revoke(&id).await.unwrap();
    }

    async fn token(&self, role: Role, places: &[&str]) -> String {
        let places = places.iter().map(|p| PlaceId::new(*p).unwrap()).collect();
        self.tokens.create(role, places).await.unwrap().0
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("graceful shutdown finishes (live streams end)")
            .unwrap()
            .unwrap();
    }

    /// Stops the server and hands back its data directory, with this side's handles on the
    /// store dropped.
    async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        let dir = self._dir.take().unwrap();
        self.stop().await;
        dir
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(url: &str, token: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let r = client().post(url).bearer_auth(token).body(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// A small inquiry in `place` whose free text carries `secret`.
fn inquiry(place: &str, secret: &str) -> Vec<Value> {
    vec![
        json!({"type":"place_registered","id":format!("{place}-1"),"occurred_at":"2024-01-01","place":place,"name":"P"}),
        json!({"type":"actor_joined","id":format!("{place}-2"),"occurred_at":"2024-01-02","place":place,"actor":format!("{place}-council"),"kind":"organisation","sector":"public","power":{"budget":1.0},"attributes":{"contact":format!("{secret}-attr")}}),
        json!({"type":"actor_joined","id":format!("{place}-3"),"occurred_at":"2024-01-03","place":place,"actor":format!("{place}-group"),"kind":"group","sector":"community"}),
        json!({"type":"relationship_formed","id":format!("{place}-4"),"occurred_at":"2024-02-01","place":place,"from":format!("{place}-council"),"to":format!("{place}-group"),"kind":"funds","strength":0.6}),
        json!({"type":"power_shifted","id":format!("{place}-5"),"occurred_at":"2024-03-01","place":place,"domain":"budget","amount":0.5,"from":format!("{place}-council"),"to":format!("{place}-group"),"evidence":format!("{secret}-evidence")}),
        json!({"type":"learning_recorded","id":format!("{place}-6"),"occurred_at":"2024-03-02","place":place,"text":format!("{secret}-text"),"themes":["power"]}),
        json!({"type":"outcome_harvested","id":format!("{place}-7"),"occurred_at":"2024-03-03","place":place,"description":"d","actors":[format!("{place}-group")],"significance":format!("{secret}-significance"),"contribution":format!("{secret}-contribution")}),
    ]
}

/// Reads server-sent events: (id, data) pairs.
struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    async fn open(url: &str, token: &str, last_event_id: Option<u64>) -> SseReader {
        let mut req = client().get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseReader {
            body: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event (skipping keep-alive comments).
    async fn next(&mut self) -> (u64, Value) {
        // One deadline per event: keep-alive comments do not extend it.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return (id, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("an event within 30 s")
                .expect("the stream stays open")
                .unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_read_snapshot_and_resume_a_stream() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let events = inquiry("leeds", "s");
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events[..4])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["appended"], 4);
    assert_eq!(body["events"][3]["position"], 4);

    // Idempotent retry: 200, nothing new.
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events[..4])).await;
    assert_eq!((status, body["already_present"].clone()), (StatusCode::OK, json!(4)));

    // Read back.
    let (status, text) = get(&s.url("/v1/events?from=2&limit=2"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["events"][0]["id"], "leeds-2");
    assert_eq!(page["events"][0]["position"], 2);
    assert_eq!(page["next_from"], 4);

    // Snapshot, as now and as known at position 3 (before the relationship).
    let (status, text) = get(&s.url("/v1/places/leeds/snapshot?at=2024-12-31"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let snap: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(snap["metrics"]["actors"], 2);
    assert_eq!(snap["metrics"]["relationships"], 1);
    let (_, text) = get(
        &s.url("/v1/places/leeds/snapshot?at=2024-12-31&known_at_position=3"),
        Some(&admin),
    )
    .await;
    let snap: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            snap["known_at_position"].clone(),
            snap["metrics"]["relationships"].clone()
        ),
        (json!(3), json!(0))
    );

    // A stream from the start: catch-up, then live.
    let mut sse = SseReader::open(&s.url("/v1/events/stream?from=1"), &admin, None).await;
    for want in 1..=4 {
        let (id, e) = sse.next().await;
        assert_eq!((id, e["position"].as_u64().unwrap()), (want, want));
    }
    let (status, _) = post(&s.url("/v1/events"), &admin, ndjson(&events[4..5])).await;
    assert_eq!(status, StatusCode::CREATED);
    let (id, e) = sse.next().await;
    assert_eq!((id, e["id"].as_str().unwrap()), (5, "leeds-5"));
    drop(sse);

    // Disconnected; two more events land (as a JSON array of two, which is not the
    // envelope however serde reads structs); reconnecting with Last-Event-ID resumes
    // after 5, with no gap and no repeat.
    assert_eq!(events[5..].len(), 2);
    let (status, body) = post(
        &s.url("/v1/events"),
        &admin,
        Value::from(events[5..].to_vec()).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["appended"].clone()),
        (StatusCode::CREATED, json!(2)),
        "{body}"
    );
    let mut sse = SseReader::open(&s.url("/v1/events/stream?from=1"), &admin, Some(5)).await;
    assert_eq!(sse.next().await.0, 6);
    assert_eq!(sse.next().await.0, 7);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_and_two_followers_see_exactly_the_log() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    writers_and_followers(&[&s], &[0, 0], &admin).await;
    s.stop().await;
}

/// When `serve` returns, no task of the server holds the engine any more: the store opens
/// again at once. (Its keeper, aborted instead of stopped, went on writing to the derived
/// store after the test's directory was removed, and sled's flush when it finally dropped
/// it hung in about one run of four of the 16-writer test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_server_has_let_go_of_its_store() {
    for round in 0..5 {
        let s = Server::start(ServerConfig::default()).await;
        let admin = s.token(Role::Admin, &[]).await;
        // Enough events over enough places that the keeper is at work when the server stops.
        let events: Vec<Value> = (0..40)
            .flat_map(|p| {
                let place = format!("p{p}");
                (0..100).map(move |i| match i {
                    0 => json!({"type":"place_registered","id":format!("{place}-0"),"occurred_at":"2024-01-01","place":place,"name":place}),
                    i => json!({"type":"actor_joined","id":format!("{place}-{i}"),"occurred_at":"2024-01-02","place":place,"actor":format!("{place}-a{i}"),"kind":"person","name":"A person"}),
                })
            })
            .collect();
        let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Stopped at different points of the keeper's round, which starts a pause (250 ms)
        // after the append.
        tokio::time::sleep(std::time::Duration::from_millis(260 + 60 * round)).await;
        let dir = s.stop_keeping_dir().await;
        let engine = Engine::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: the stopped server still holds its store: {e}"));
        assert_eq!(engine.head().0, 4000);
    }
}

/// Two servers on one PostgreSQL database: writers spread over both, a follower on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_sixteen_writers_and_a_follower_on_each_see_exactly_the_log() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.database().await;
    let (a, b) = (Server::on_postgres(&url).await, Server::on_postgres(&url).await);
    // A token made through one server works on the other: tokens are in the database.
    let admin = a.token(Role::Admin, &[]).await;
    writers_and_followers(&[&a, &b], &[0, 1], &admin).await;
    // A revocation through one is refused by the other on its next request.
    let spare = b.token(Role::Funder, &[]).await;
    assert_eq!(get(&a.url("/v1/places"), Some(&spare)).await.0, StatusCode::OK);
    b.revoke_first(Role::Funder).await;
    assert_eq!(
        get(&a.url("/v1/places"), Some(&spare)).await.0,
        StatusCode::UNAUTHORIZED
    );
    a.stop().await;
    b.stop().await;
}

/// 16 writers, each appending 1,000 events in batches of 10 through the servers in turn,
/// while a follower reads the live stream of each server in `followers`: every acknowledged
/// event is in the log exactly once where it was acknowledged, positions are dense, and
/// every follower saw exactly the log.
async fn writers_and_followers(servers: &[&Server], followers: &[usize], admin: &str) {
    const WRITERS: usize = 16;
    const EACH: usize = 1000;
    const BATCH: usize = 10;
    let total = (WRITERS * EACH) as u64;

    let followers: Vec<_> = followers
        .iter()
        .map(|&i| {
            let url = servers[i].url("/v1/events/stream");
            let admin = admin.to_string();
            tokio::spawn(async move {
                let mut sse = SseReader::open(&url, &admin, None).await;
                let mut seen = Vec::new();
                while (seen.len() as u64) < total {
                    let (id, e) = sse.next().await;
                    seen.push((id, e["id"].as_str().unwrap().to_string()));
                }
                seen
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let urls: Vec<String> = servers.iter().map(|s| s.url("/v1/events")).collect();
            let admin = admin.to_string();
            tokio::spawn(async move {
                let place = format!("w{w}");
                let events: Vec<Value> = (0..EACH)
                    .map(|i| match i {
                        0 => json!({"type":"place_registered","id":format!("{place}-0"),"occurred_at":"2024-01-01","place":place,"name":place}),
                        i => json!({"type":"actor_joined","id":format!("{place}-{i}"),"occurred_at":"2024-01-02","place":place,"actor":format!("{place}-a{i}"),"kind":"person"}),
                    })
                    .collect();
                let mut acked = Vec::new();
                for (n, batch) in events.chunks(BATCH).enumerate() {
                    let url = &urls[(w + n) % urls.len()];
                    let (status, body) = post(url, &admin, ndjson(batch)).await;
                    assert_eq!(status, StatusCode::CREATED, "{body}");
                    for (e, o) in batch.iter().zip(body["events"].as_array().unwrap()) {
                        acked.push((o["position"].as_u64().unwrap(), e["id"].as_str().unwrap().to_string()));
                    }
                }
                acked
            })
        })
        .collect();

    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    acked.sort();
    // Every acknowledged event is in the log exactly once, where it was acknowledged.
    let log: Vec<(u64, String)> = servers[0]
        .engine
        .read(shiftlog::Position(1), usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.position.0, r.id().to_string()))
        .collect();
    assert_eq!(log.len() as u64, total);
    assert_eq!(
        log.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(acked, log);
    for f in followers {
        assert_eq!(f.await.unwrap(), log, "a follower saw exactly the log, in order");
    }
}

/// Every route, with an admin's view of what it needs.
fn routes() -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/v1/events".into()),
        ("GET", "/v1/events/stream".into()),
        ("POST", "/v1/events".into()),
        ("GET", "/v1/places".into()),
        ("GET", "/v1/places/leeds/snapshot?at=2024-12-31".into()),
        ("GET", "/v1/places/leeds/diff?from=2024-01-01&to=2024-12-31".into()),
        ("GET", "/v1/places/leeds/evolution?every=month".into()),
        ("GET", "/v1/places/leeds/anomalies".into()),
        ("GET", "/v1/places/leeds/kinds".into()),
        ("GET", "/v1/places/leeds/export?format=gexf-dynamic".into()),
        ("GET", "/v1/places/leeds/network.svg?at=2024-12-31".into()),
        ("POST", "/v1/places/leeds/import?at=2024-12-31".into()),
        ("GET", "/v1/compare?at=2024-12-31".into()),
        ("GET", "/v1/synthesis?place=leeds".into()),
        ("GET", "/v1/whoami".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_guard_every_route_and_funders_never_see_free_text() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let funder = s.token(Role::Funder, &[]).await;
    let york_recorder = s.token(Role::Recorder, &["york"]).await;
    let mut events = inquiry("leeds", "SECRET");
    events.extend(inquiry("york", "SECRET"));
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let head = s.engine.head();

    // Every route listed in the OpenAPI document is one the server answers, and back.
    let (_, doc) = get(&s.url("/v1/openapi.json"), None).await;
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut served: Vec<String> = routes()
        .iter()
        .map(|(m, p)| format!("{m} {}", p.split('?').next().unwrap().replace("leeds", "{place}")))
        .chain(
            [
                "GET /",
                "GET /record",
                "GET /health",
                "GET /v1/openapi.json",
                "GET /v1/measures",
            ]
            .map(String::from),
        )
        .collect();
    served.sort();
    assert_eq!(documented, served);

    for (method, path) in routes() {
        let url = s.url(&path);
        let send = |token: Option<String>| {
            let url = url.clone();
            async move {
                let mut req = match method {
                    "POST" => client().post(&url).body(ndjson(&inquiry("leeds", "x")[..1])),
                    _ => client().get(&url),
                };
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req.send().await.unwrap().status()
            }
        };
        assert_eq!(
            send(None).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        assert_eq!(
            send(Some("shl_0000".into())).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong token"
        );
        // A recorder of York may not touch Leeds.
        let leeds_only = path.contains("leeds") || method == "POST";
        if leeds_only {
            assert_eq!(
                send(Some(york_recorder.clone())).await,
                StatusCode::FORBIDDEN,
                "{method} {path} as York's recorder"
            );
        }
        // Funders read projections only.
        if path.starts_with("/v1/events") || method == "POST" {
            assert_eq!(
                send(Some(funder.clone())).await,
                StatusCode::FORBIDDEN,
                "{method} {path} as a funder"
            );
        }
    }
    assert_eq!(s.engine.head(), head, "refused requests changed nothing");

    // A funder reads every projection route without any withheld field.
    let mut read = 0;
    for (method, path) in routes() {
        if method != "GET" || path.starts_with("/v1/events") {
            continue;
        }
        for p in [path.clone(), path.replace("leeds", "york")] {
            let (status, text) = get(&s.url(&p), Some(&funder)).await;
            assert_eq!(status, StatusCode::OK, "{p}: {text}");
            assert!(!text.contains("SECRET"), "{p} leaked withheld text: {text}");
            read += 1;
        }
    }
    // Every format the engine has, so that a new one is checked too.
    for (f, _) in shiftlog::ExportFormat::ALL {
        let (status, text) = get(&s.url(&format!("/v1/places/leeds/export?format={f}")), Some(&funder)).await;
        assert_eq!(status, StatusCode::OK, "{f}");
        assert!(!text.contains("SECRET"), "export {f} leaked withheld text");
        read += 1;
    }
    assert!(read > 10);
    // The same snapshot does carry attributes for an admin: the check above can fail.
    let (_, text) = get(&s.url("/v1/places/leeds/snapshot?at=2024-12-31"), Some(&admin)).await;
    assert!(text.contains("SECRET-attr"));
    let (_, text) = get(&s.url("/v1/events?place=york"), Some(&york_recorder)).await;
    assert!(text.contains("SECRET-text"), "recorders read their places' free text");

    // The registry of measures, for the dashboard: every one is a key of a snapshot's
    // metrics.
    let (_, text) = get(&s.url("/v1/measures"), None).await;
    let registry: Value = serde_json::from_str(&text).unwrap();
    let (_, snap) = get(&s.url("/v1/places/leeds/snapshot?at=2024-12-31"), Some(&admin)).await;
    let snap: Value = serde_json::from_str(&snap).unwrap();
    for m in registry.as_array().unwrap() {
        let key = m["key"].as_str().unwrap();
        assert!(
            snap["metrics"].get(key).is_some(),
            "{key} is not in a snapshot's metrics"
        );
    }
    assert!(registry.as_array().unwrap().iter().any(|m| m["key"] == "transitivity"));

    // Who a token is, for the pages to show only what it may do.
    let (_, text) = get(&s.url("/v1/whoami"), Some(&york_recorder)).await;
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&me["role"], &me["places"]),
        (&json!("recorder"), &json!(["york"])),
        "{me}"
    );
    let (_, text) = get(&s.url("/v1/whoami"), Some(&funder)).await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["role"], "funder");

    // A recorder writes to its place, and reads only its places.
    let more = json!({"type":"actor_joined","id":"york-9","occurred_at":"2024-05-01","place":"york","actor":"york-new","kind":"person"});
    let (status, _) = post(&s.url("/v1/events"), &york_recorder, ndjson(&[more])).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, text) = get(&s.url("/v1/places"), Some(&york_recorder)).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!([{"place":"york","version":8}])
    );
    let (_, text) = get(&s.url("/v1/events"), Some(&york_recorder)).await;
    let page: Value = serde_json::from_str(&text).unwrap();
    assert!(page["events"].as_array().unwrap().iter().all(|e| e["place"] == "york"));
    assert_eq!(page["events"].as_array().unwrap().len(), 8);
    // A recorder may not retract another place's event, nor redact.
    let retract =
        json!({"type":"event_retracted","id":"r1","occurred_at":"2024-06-01","target":"leeds-4","reason":"wrong"});
    let (status, _) = post(&s.url("/v1/events"), &york_recorder, ndjson(&[retract])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let redact = json!({"type":"actor_redacted","id":"x1","occurred_at":"2024-06-01","actor":"york-group"});
    let (status, _) = post(&s.url("/v1/events"), &york_recorder, ndjson(&[redact])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A revoked token stops working at once.
    s.revoke_first(Role::Funder).await;
    assert_eq!(
        get(&s.url("/v1/places"), Some(&funder)).await.0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_bodies_get_clear_4xx_and_change_nothing() {
    let s = Server::start(ServerConfig {
        max_body: 1 << 20,
        ..ServerConfig::default()
    })
    .await;
    let admin = s.token(Role::Admin, &[]).await;
    let good = inquiry("leeds", "s");
    let (status, _) = post(&s.url("/v1/events"), &admin, ndjson(&good[..2])).await;
    assert_eq!(status, StatusCode::CREATED);
    let head = s.engine.head();

    // Just over the limit: the server answers 413 once it has read 1 MiB and closes; a
    // body far over it could still be being written then, and the client would see its
    // write fail (a broken pipe) instead of the answer.
    let huge = format!("{}\n", "x".repeat((1 << 20) + 100));
    let mut wrong_type = good[2].clone();
    wrong_type["kind"] = json!(42);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("bad JSON", b"{\"type\": \"actor_joined\",".to_vec(), StatusCode::BAD_REQUEST, "invalid JSON"),
        ("wrong type", ndjson(&[good[2].clone(), wrong_type]).into_bytes(), StatusCode::BAD_REQUEST, "kind"),
        ("invalid UTF-8", vec![b'{', 0xff, 0xfe, b'}'], StatusCode::BAD_REQUEST, "UTF-8"),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST, "no events"),
        ("too large", huge.into_bytes(), StatusCode::PAYLOAD_TOO_LARGE, "limit"),
        (
            "bad expected_version",
            json!({"events": [good[2]], "expected_version": {"leeds": "two"}}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "expected_version",
        ),
        (
            "version conflict",
            json!({"events": [good[2]], "expected_version": {"leeds": 1}}).to_string().into_bytes(),
            StatusCode::CONFLICT,
            "version conflict",
        ),
        (
            "a valid event then a duplicate id with another body",
            ndjson(&[good[2].clone(), json!({"type":"place_registered","id":"leeds-1","occurred_at":"2024-01-01","place":"leeds","name":"Other"})]).into_bytes(),
            StatusCode::BAD_REQUEST,
            "leeds-1",
        ),
    ];
    for (name, body, want, mentions) in cases {
        let (status, body) = post(&s.url("/v1/events"), &admin, body).await;
        assert_eq!(status, want, "{name}: {body}");
        assert!(
            body.to_string().contains(mentions),
            "{name}: {body} should mention {mentions}"
        );
        assert!(body["error"].is_string(), "{name}: {body}");
        assert_eq!(s.engine.head(), head, "{name} wrote nothing");
    }
    // Rejections say where: line and field.
    let mut bad = good[2].clone();
    bad["kind"] = json!("spaceship");
    let (_, body) = post(&s.url("/v1/events"), &admin, ndjson(&[good[2].clone(), bad])).await;
    assert_eq!(body["rejections"][0]["line"], 2);
    assert_eq!(body["rejections"][0]["field"], "kind");
    // The expected version, when right, lets the batch through.
    let (status, body) = post(
        &s.url("/v1/events?expected_version=leeds:2"),
        &admin,
        ndjson(&good[2..3]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Bad query parameters are 400s that name the parameter.
    let (status, text) = get(&s.url("/v1/places/leeds/snapshot?at=yesterday"), Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("`at`"), "{text}");
    let (status, _) = get(&s.url("/v1/places/nowhere/snapshot"), Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// An error inside the server (here a damaged record) is logged with a request id; the
/// client gets the id alone, never the error's text (which can name files and internals).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_logged_and_only_their_id_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path()).unwrap();
        let input = shiftlog::parse_input(&ndjson(&inquiry("leeds", "a secret")));
        engine.ingest(input, &[]).await.unwrap();
    }
    shiftlog::store::fault::flip_record_byte(dir.path(), 2, 30, 0x41).unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let tokens = Arc::new(TokenStore::new(dir.path()));
    let admin = tokens.create(Role::Admin, Vec::new()).await.unwrap().0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(shiftlog_server::serve(
        listener,
        engine,
        Access::Tokens(tokens),
        ServerConfig::default(),
        std::future::pending(),
    ));
    let (status, body) = get(&format!("{base}/v1/events?from=1"), Some(&admin)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let id = v["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 16, "{body}");
    assert!(v["error"].as_str().unwrap().contains(id), "{body}");
    for internal in ["checksum", "damaged", "position", dir.path().to_str().unwrap()] {
        assert!(!body.contains(internal), "the answer tells {internal:?}: {body}");
    }
    server.abort();
}

/// A long evolution comes in chunks and reads exactly as the engine's series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_evolution_is_streamed_and_equals_the_engines() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&inquiry("leeds", "x"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = "/v1/places/leeds/evolution?every=day&from=2022-01-01&to=2025-12-31";
    let (status, text) = get(&s.url(path), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.len() > 256 << 10,
        "long enough to take several chunks: {} bytes",
        text.len()
    );
    let served: Value = serde_json::from_str(&text).unwrap();
    let place = PlaceId::new("leeds").unwrap();
    let series = s
        .engine
        .evolve(
            Some(&place),
            shiftlog::Every::Day,
            Some("2022-01-01".parse().unwrap()),
            Some("2025-12-31".parse().unwrap()),
            shiftlog::KnownAt::Everything,
        )
        .await
        .unwrap();
    assert_eq!(served, serde_json::to_value(&series).unwrap());
    s.stop().await;
}

/// `?dry_run=true`: for every role and for valid, invalid, forbidden and conflicting
/// bodies, the same status and error shape as the append would give, and the head never
/// moves; a valid batch's plan is exactly what the append then does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_answers_as_the_append_would_and_writes_nothing() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let recorder = s.token(Role::Recorder, &["leeds"]).await;
    let funder = s.token(Role::Funder, &[]).await;
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&inquiry("leeds", "x"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&inquiry("york", "y"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let head = s.engine.head();
    let valid = ndjson(&[
        json!({"type":"learning_recorded","occurred_at":"2024-04-01","place":"leeds","text":"no id: one is assigned"}),
        json!({"type":"learning_recorded","id":"leeds-new","occurred_at":"2024-04-02","place":"leeds","text":"t"}),
        inquiry("leeds", "x")[0].clone(),
    ]);
    let invalid = ndjson(&[
        json!({"type":"relationship_formed","id":"bad","occurred_at":"2024-04-01","place":"leeds",
        "from":"leeds-council","to":"nobody","kind":"funds"}),
    ]);
    let other_place = ndjson(&[
        json!({"type":"event_retracted","id":"x1","occurred_at":"2024-04-01","target":"york-6","reason":"r"}),
    ]);
    let conflict = json!({"events": [{"type":"learning_recorded","id":"c1","occurred_at":"2024-04-01","place":"leeds","text":"t"}],
        "expected_version": {"leeds": 1}})
    .to_string();
    let cases: Vec<(&str, &String, &str, StatusCode)> = vec![
        ("admin, valid", &admin, valid.as_str(), StatusCode::OK),
        ("recorder, valid", &recorder, valid.as_str(), StatusCode::OK),
        ("funder, valid", &funder, valid.as_str(), StatusCode::FORBIDDEN),
        ("admin, invalid", &admin, invalid.as_str(), StatusCode::BAD_REQUEST),
        (
            "recorder, invalid",
            &recorder,
            invalid.as_str(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "recorder, another place's event",
            &recorder,
            other_place.as_str(),
            StatusCode::FORBIDDEN,
        ),
        (
            "admin, a version conflict",
            &admin,
            conflict.as_str(),
            StatusCode::CONFLICT,
        ),
        ("admin, not JSON", &admin, "{", StatusCode::BAD_REQUEST),
    ];
    for (name, token, body, want) in cases {
        let (status, answer) = post(&s.url("/v1/events?dry_run=true"), token, body.to_string()).await;
        assert_eq!(status, want, "{name}: {answer}");
        assert_eq!(s.engine.head(), head, "{name}: a dry run wrote");
        if want == StatusCode::OK {
            assert_eq!(answer["dry_run"], true, "{name}: {answer}");
            assert_eq!(answer["would_append"], 2, "{name}: {answer}");
            assert_eq!(answer["already_present"], 1, "{name}: {answer}");
        } else {
            assert!(answer["error"].is_string(), "{name}: {answer}");
        }
    }
    let (_, plan) = post(&s.url("/v1/events?dry_run=true"), &admin, valid.clone()).await;
    let (status, done) = post(&s.url("/v1/events"), &admin, valid.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    for (planned, appended) in plan["events"]
        .as_array()
        .unwrap()
        .iter()
        .zip(done["events"].as_array().unwrap())
    {
        assert_eq!(planned["position"], appended["position"], "{plan} vs {done}");
    }
    let first = &plan["events"][0];
    let written = s
        .engine
        .read(shiftlog::Position(first["position"].as_u64().unwrap()), 1)
        .await
        .unwrap();
    assert_eq!(first["id"], written[0].id().as_str());
    assert_eq!(first["place"], "leeds");
    let version = s
        .engine
        .version(&shiftlog::Stream::Place(PlaceId::new("leeds").unwrap()))
        .await
        .unwrap();
    assert_eq!(plan["events"][1]["version"], version, "{plan}");
    let (status, answer) = post(&s.url("/v1/events?dry_run=maybe"), &admin, valid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    s.stop().await;
}

async fn send_file(url: &str, token: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = client()
        .post(url)
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The import route records a survey wave or a Kumu map as the CLI does (the same code):
/// once, checked before anything is written, each problem with its row and column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sent_to_the_import_route_are_recorded_once_and_problems_name_their_row() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let funder = s.token(Role::Funder, &[]).await;
    let recorder = s.token(Role::Recorder, &["millbrook"]).await;
    let other = s.token(Role::Recorder, &["elsewhere"]).await;
    let register =
        json!({"type":"place_registered","id":"mb","occurred_at":"2024-01-01","place":"millbrook","name":"Millbrook"});
    let (status, _) = post(&s.url("/v1/events"), &admin, ndjson(&[register])).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = |q: &str| s.url(&format!("/v1/places/millbrook/import?{q}"));

    // Who may: a funder and another place's recorder may not; nothing is read or written.
    let head = s.engine.head();
    for token in [&funder, &other] {
        let (status, _) = send_file(&url("at=2024-03-31"), token, XLSX, fixture("survey/wave-1.xlsx")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A dry run plans and writes nothing.
    let (status, v) = send_file(
        &url("at=2024-03-31&dry_run=true&name=wave-1.xlsx"),
        &recorder,
        XLSX,
        fixture("survey/wave-1.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["counts"], json!({"actor_joined": 6, "relationship_formed": 5}));
    assert_eq!(s.engine.head(), head, "a dry run wrote");
    // Recorded, then sent again: nothing more.
    let (status, v) = send_file(&url("at=2024-03-31"), &recorder, XLSX, fixture("survey/wave-1.xlsx")).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["appended"], 11);
    let (status, v) = send_file(&url("at=2024-03-31"), &recorder, XLSX, fixture("survey/wave-1.xlsx")).await;
    assert_eq!((status, v["planned"].clone()), (StatusCode::OK, json!(0)), "{v}");
    // The next wave as CSV: its new actor is not on a CSV's (absent) actors sheet.
    let (status, v) = send_file(
        &url("at=2024-09-30&name=wave-2.csv"),
        &recorder,
        "text/csv",
        fixture("survey/wave-2.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let problem = &v["problems"][0];
    assert_eq!(
        (
            problem["file"].as_str(),
            problem["row"].as_u64(),
            problem["column"].as_str()
        ),
        (Some("wave-2.csv"), Some(4), Some("B (to)")),
        "{v}"
    );
    assert!(problem["message"].as_str().unwrap().contains("mb-foodbank"), "{v}");
    // As a workbook (with its Actors sheet) it records.
    let (status, v) = send_file(&url("at=2024-09-30"), &recorder, XLSX, fixture("survey/wave-2.xlsx")).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["counts"]["relationship_ended"], 1);
    let head = s.engine.head();
    // Refused: a wrong type, a missing date, an unknown place, a file that is not one.
    let (status, _) = send_file(&url("at=2024-09-30"), &recorder, "text/plain", b"from,to".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = send_file(&url(""), &recorder, "text/csv", fixture("survey/wave-2.csv")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send_file(
        &s.url("/v1/places/atlantis/import?at=2024-09-30"),
        &admin,
        "text/csv",
        fixture("survey/wave-3.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = send_file(&url("at=2024-09-30"), &recorder, XLSX, b"not a zip".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Hostile workbooks: a zip bomb and a sheet claiming 17 billion cells are refused
    // without being unpacked or laid out; ODS (read whole-sheet) is not taken.
    let (status, v) = send_file(&url("at=2024-09-30"), &recorder, XLSX, fixture("survey/bomb.xlsx")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unpacks to more than"), "{v}");
    let (status, v) = send_file(
        &url("at=2024-09-30"),
        &recorder,
        XLSX,
        fixture("survey/far-corners.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["problems"][0]["column"], "XFD", "{v}");
    let (status, _) = send_file(
        &url("at=2024-09-30"),
        &recorder,
        "application/vnd.oasis.opendocument.spreadsheet",
        fixture("survey/wave-1.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.engine.head(), head, "refused imports wrote");
    // A Kumu blueprint.
    let (status, v) = send_file(
        &url("at=2025-01-31&source=kumu"),
        &admin,
        "application/json",
        fixture("kumu/blueprint.json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["counts"]["actor_joined"], 5, "{v}");
}

/// `kind=` on the reading routes gives the engine's view of those kinds; an empty kind is
/// a 400 that names the parameter; the OpenAPI document lists it as repeatable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_routes_take_views_of_some_kinds() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let mut events = inquiry("york", "x");
    events.push(json!({"type":"relationship_formed","id":"york-8","occurred_at":"2024-04-01","place":"york","from":"york-group","to":"york-council","kind":"trust","strength":0.4}));
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let place = PlaceId::new("york").unwrap();
    let view = shiftlog::View::new(shiftlog::KnownAt::Everything, shiftlog::Kinds::only(["trust"]));
    let at: shiftlog::Timestamp = "2024-05-01".parse().unwrap();

    let (status, text) = get(
        &s.url("/v1/places/york/snapshot?at=2024-05-01&kind=trust"),
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let served: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&str> = served["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["trust"]);
    let engine = s.engine.snapshot(&place, at, view.clone()).await.unwrap();
    assert_eq!(served, serde_json::to_value(&engine).unwrap());

    let (_, text) = get(
        &s.url("/v1/places/york/snapshot?at=2024-05-01&kind=trust&kind=funds"),
        Some(&admin),
    )
    .await;
    let both: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(both["relationships"].as_array().unwrap().len(), 2);

    let (status, text) = get(&s.url("/v1/places/york/evolution?every=month&kind=trust"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let series = s
        .engine
        .evolve(Some(&place), shiftlog::Every::Month, None, None, view.clone())
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        serde_json::to_value(&series).unwrap()
    );

    // The communities only with measures=all; anything else is a 400 naming it.
    let (_, text) = get(
        &s.url("/v1/places/york/evolution?every=month&measures=all"),
        Some(&admin),
    )
    .await;
    let all: Value = serde_json::from_str(&text).unwrap();
    assert!(all["york"][0]["metrics"]["modularity"].is_number(), "{all}");
    let (_, text) = get(&s.url("/v1/places/york/evolution?every=month"), Some(&admin)).await;
    let standard: Value = serde_json::from_str(&text).unwrap();
    assert!(standard["york"][0]["metrics"].get("modularity").is_none());
    let (status, text) = get(&s.url("/v1/places/york/evolution?measures=most"), Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("`measures`"), "{text}");

    let (status, text) = get(&s.url("/v1/compare?at=2024-05-01&kind=funds"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let rows: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows["york"]["relationships"], 1, "{rows}");

    let (status, text) = get(
        &s.url("/v1/places/york/diff?from=2024-01-01&to=2024-05-01&kind=trust"),
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let diff = s
        .engine
        .diff(&place, "2024-01-01".parse().unwrap(), at, view)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        serde_json::to_value(&diff).unwrap()
    );

    let (status, text) = get(&s.url("/v1/places/york/kinds"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["kinds"], json!(["funds", "trust"]));

    let (status, text) = get(&s.url("/v1/places/york/snapshot?kind="), Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("`kind`"), "{text}");

    let (_, text) = get(&s.url("/v1/openapi.json"), None).await;
    let doc: Value = serde_json::from_str(&text).unwrap();
    let params = doc["paths"]["/v1/places/{place}/snapshot"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let kind = params.iter().find(|p| p["name"] == "kind").expect("kind is documented");
    assert_eq!(kind["schema"]["type"], "array");
    s.stop().await;
}

/// The synthesis route: recorders and admins get the texts by area, funders counts only;
/// a recorder reads its own places and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_synthesis_shows_texts_to_recorders_and_counts_to_funders() {
    let s = Server::start(ServerConfig::default()).await;
    let admin = s.token(Role::Admin, &[]).await;
    let funder = s.token(Role::Funder, &[]).await;
    let recorder = s.token(Role::Recorder, &["york"]).await;
    let mut events = inquiry("york", "SECRET");
    events.extend(inquiry("leeds", "SECRET"));
    let (status, body) = post(&s.url("/v1/events"), &admin, ndjson(&events)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, text) = get(&s.url("/v1/synthesis?place=york&every=year"), Some(&recorder)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["with_texts"], true);
    let york = PlaceId::new("york").unwrap();
    let engine = s
        .engine
        .synthesis(
            &[york],
            shiftlog::Every::Year,
            None,
            None,
            shiftlog::KnownAt::Everything,
            true,
        )
        .await
        .unwrap();
    assert_eq!(v, serde_json::to_value(&engine).unwrap());
    assert!(text.contains("SECRET-text"), "the recorder reads the learning");

    let (status, text) = get(&s.url("/v1/synthesis?every=year"), Some(&funder)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["with_texts"], false);
    assert_eq!(v["places"].as_array().unwrap().len(), 2, "every place for a funder");
    assert_eq!(
        v["across"][0]["learning"]["untagged"], 2,
        "one record per place, themed outside the areas"
    );
    assert_eq!(v["across"][0]["sessions"], 0);

    // A recorder without a place asked for gets its own places only; another's is a 403.
    let (_, text) = get(&s.url("/v1/synthesis"), Some(&recorder)).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let places: Vec<&str> = v["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["place"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["york"]);
    let (status, _) = get(&s.url("/v1/synthesis?place=leeds"), Some(&recorder)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, text) = get(&s.url("/v1/synthesis?every=fortnight"), Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("`every`"), "{text}");
    s.stop().await;
}
