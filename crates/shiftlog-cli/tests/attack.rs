//! The outside attack on `shiftlog serve`, as one table: each row is an attack made over
//! real HTTP on loopback against a server process, with the measured figure it must stay
//! under (memory, answer size, time to answer `/health` during the attack, events that
//! landed where they must not). Every loop is bounded in count and time.
//!
//! The server runs with a file-descriptor limit of 2,048 (as a small host would give it),
//! so that connection floods reach the limit quickly.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{files_containing, finish, open_to_others, Server, PATIENCE};

const NAME: &str = "Ottoline Wexcombe-Vance";
const FD_LIMIT: u32 = 2048;

fn shiftlog(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shiftlog"));
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG");
    c
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = finish(
        shiftlog(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "cli",
    );
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn line(v: Value) -> String {
    format!("{v}\n")
}

/// Two places: `north` (the recorder's) with a person who joined early and 3,000 more
/// events (so snapshots leave checkpoints), and `south`. A third, `big`, has 3,000 actors
/// and 15,000 relationships over two years.
fn inquiry() -> String {
    let mut out = String::new();
    for p in ["north", "south", "big"] {
        out += &line(
            json!({"type":"place_registered","id":format!("reg-{p}"),"occurred_at":"2023-01-01","place":p,"name":p}),
        );
    }
    out += &line(
        json!({"type":"actor_joined","id":"j-person","occurred_at":"2023-01-02","place":"north",
        "actor":"resident-1","kind":"person","sector":"community","name":NAME,"attributes":{"ward":"Quillfeather"}}),
    );
    out += &line(
        json!({"type":"actor_joined","id":"j-council","occurred_at":"2023-01-02","place":"north",
        "actor":"council","kind":"organisation","name":"North Council"}),
    );
    out += &line(
        json!({"type":"actor_joined","id":"j-s","occurred_at":"2023-01-02","place":"south",
        "actor":"s-council","kind":"organisation","name":"South Council"}),
    );
    for i in 0..1_500 {
        let at = format!("2023-{:02}-{:02}", 2 + i % 10, 1 + i % 28);
        out += &line(
            json!({"type":"relationship_formed","id":format!("n-f{i}"),"occurred_at":at,"place":"north",
            "from":"resident-1","to":"council","kind":format!("k{i}")}),
        );
        out += &line(
            json!({"type":"relationship_changed","id":format!("n-c{i}"),"occurred_at":at,"place":"north",
            "from":"resident-1","to":"council","kind":format!("k{i}"),"strength":0.7}),
        );
    }
    for i in 0..3_000 {
        out += &line(
            json!({"type":"actor_joined","id":format!("b-a{i}"),"occurred_at":"2023-01-05","place":"big",
            "actor":format!("b{i}"),"kind":"organisation"}),
        );
    }
    for i in 0..15_000u64 {
        let (a, b) = (i % 3_000, (i * 7 + 1 + i / 3_000) % 3_000);
        if a == b {
            continue;
        }
        out += &line(
            json!({"type":"relationship_formed","id":format!("b-r{i}"),"occurred_at":format!("2023-{:02}-10", 2 + i % 10),
            "place":"big","from":format!("b{a}"),"to":format!("b{b}"),"kind":format!("k{}", i % 5)}),
        );
    }
    out += &line(
        json!({"type":"actor_joined","id":"j-late","occurred_at":"2024-12-31","place":"big",
        "actor":"b-late","kind":"organisation"}),
    );
    out
}

impl Server {
    /// The server's memory now and at its peak, in MiB (VmRSS, VmHWM).
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        (kib("VmRSS:") / 1024, kib("VmHWM:") / 1024)
    }

    fn get(&self, path: &str, token: &str) -> (u16, Vec<u8>) {
        let auth = format!("Bearer {token}");
        let (s, _, b) = self.raw("GET", path, &[("Authorization", &auth)], b"");
        (s, b)
    }

    fn post(&self, token: &str, body: &[u8]) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let (s, _, b) = self.raw(
            "POST",
            "/v1/events",
            &[("Authorization", &auth), ("Content-Type", "application/x-ndjson")],
            body,
        );
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// How long `/health` takes to answer.
    fn health_time(&self) -> Duration {
        let t = Instant::now();
        self.head();
        t.elapsed()
    }
}

struct Tokens {
    admin: String,
    recorder: String,
    funder: String,
}

/// A data directory with the inquiry and three tokens.
fn prepared() -> (tempfile::TempDir, PathBuf, Tokens) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let input = work.path().join("in.ndjson");
    std::fs::write(&input, inquiry()).unwrap();
    ok(&dir, &["append", input.to_str().unwrap()]);
    let tokens = Tokens {
        admin: ok(&dir, &["token", "create", "--role", "admin"]),
        recorder: ok(&dir, &["token", "create", "--role", "recorder", "--place", "north"]),
        funder: ok(&dir, &["token", "create", "--role", "funder"]),
    };
    (work, dir, tokens)
}

/// One row of the table: what it did, what it measured, and the bound.
struct Row {
    attack: &'static str,
    measured: f64,
    unit: &'static str,
    bound: f64,
}

fn run_table(server: &Server, dir: &Path, t: &Tokens) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |attack, measured: f64, unit, bound| {
        println!("{attack}: {measured} {unit} (bound {bound})");
        rows.push(Row {
            attack,
            measured,
            unit,
            bound,
        });
    };

    // 3. A recorder retracts another place's event: the target is created by an admin
    // in `south` at the same moment as the recorder's retraction of it.
    let mut landed = 0;
    for round in 0..150 {
        let id = format!("race-{round}");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (b2, id2, admin) = (barrier.clone(), id.clone(), t.admin.clone());
        let addr = server.addr.clone();
        let creator = std::thread::spawn(move || {
            let s = Server::client(&addr);
            b2.wait();
            s.post(
                &admin,
                line(
                    json!({"type":"learning_recorded","id":id2,"occurred_at":"2024-01-01","place":"south","text":"t"}),
                )
                .as_bytes(),
            )
        });
        barrier.wait();
        let (status, _) = server.post(
            &t.recorder,
            line(json!({"type":"event_retracted","id":format!("x-{round}"),"occurred_at":"2024-01-02","target":id,"reason":"r"})).as_bytes(),
        );
        creator.join().unwrap();
        if status == 201 {
            landed += 1;
        }
    }
    row(
        "3. a recorder's retraction racing another place's event: retractions that landed",
        landed as f64,
        "events",
        0.0,
    );

    // 4. A 2 MB body of one million zeros, as NDJSON and as a JSON array.
    let (_, peak_before) = server.memory();
    let zeros = "0\n".repeat(1_000_000);
    let auth = format!("Bearer {}", t.recorder);
    let (status, _, answer) = server.raw(
        "POST",
        "/v1/events",
        &[("Authorization", &auth), ("Content-Type", "application/x-ndjson")],
        zeros.as_bytes(),
    );
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(v["rejected"], 1_000_000, "{}", &String::from_utf8_lossy(&answer)[..300]);
    row(
        "4. a million bad lines: answer size",
        answer.len() as f64 / 1024.0,
        "KiB",
        64.0,
    );
    let array = format!("[{}0]", "0,".repeat(1_000_000));
    let (status, _, answer) = server.raw(
        "POST",
        "/v1/events",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        array.as_bytes(),
    );
    assert_eq!(status, 400);
    row(
        "4. a million bad array elements: answer size",
        answer.len() as f64 / 1024.0,
        "KiB",
        64.0,
    );
    let (_, peak_after) = server.memory();
    row(
        "4. both: growth of the server's peak memory",
        peak_after.saturating_sub(peak_before) as f64,
        "MiB",
        64.0,
    );

    // 5. Daily evolution of a place of 3,000 actors and 15,000 relationships.
    let t0 = Instant::now();
    let (status, body) = server.get("/v1/places/big/evolution?every=day", &t.admin);
    let took = t0.elapsed();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("limit"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    row(
        "5. daily evolution of a 3,000-actor place: time to answer",
        took.as_secs_f64(),
        "s",
        5.0,
    );

    // 6. Half-sent requests: more than the server has file descriptors.
    let mut slow = Vec::new();
    let t0 = Instant::now();
    while slow.len() < 2 * FD_LIMIT as usize && t0.elapsed() < Duration::from_secs(60) {
        match TcpStream::connect(&server.addr) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                slow.push(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let held = slow.len();
    let worst = (0..5).map(|_| server.health_time()).max().unwrap();
    row(
        "6. /health while 4,096 half-sent requests are open: slowest of 5",
        worst.as_secs_f64(),
        "s",
        2.0,
    );
    drop(slow);
    assert!(held >= FD_LIMIT as usize, "only {held} connections were opened");

    // 6. Bodies trickled after whole headers: more connections than the server keeps.
    let mut trickle = Vec::new();
    let t0 = Instant::now();
    while trickle.len() < 2 * FD_LIMIT as usize && t0.elapsed() < Duration::from_secs(60) {
        match TcpStream::connect(&server.addr) {
            Ok(mut s) => {
                let _ = write!(
                    s,
                    "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n{{",
                    t.admin
                );
                trickle.push(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let worst = (0..5).map(|_| server.health_time()).max().unwrap();
    row(
        "6. /health while 4,096 request bodies trickle: slowest of 5",
        worst.as_secs_f64(),
        "s",
        2.0,
    );
    drop(trickle);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n{{",
        t.admin
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let t0 = Instant::now();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    row(
        "6. a body that trickles: time until the server cuts it",
        t0.elapsed().as_secs_f64(),
        "s",
        15.0,
    );

    // 7. Live streams: many from one token, stalled readers, and a revoked token.
    let (_, before) = server.memory();
    let mut streams = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "GET /v1/events/stream?from=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            t.admin
        )
        .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).unwrap();
        let status: u16 = String::from_utf8_lossy(&first[9..12]).parse().unwrap();
        streams.push((status, s)); // never read again: stalled readers
    }
    let accepted = streams.iter().filter(|(s, _)| *s == 200).count();
    row(
        "7. live streams one token may open (of 40 asked)",
        accepted as f64,
        "streams",
        8.0,
    );
    std::thread::sleep(Duration::from_secs(2));
    let (after, _) = server.memory();
    row(
        "7. memory held by stalled readers",
        after.saturating_sub(before) as f64,
        "MiB",
        48.0,
    );
    drop(streams);
    let revoked = ok(dir, &["token", "create", "--role", "recorder", "--place", "north"]);
    let list = ok(dir, &["token", "list"]);
    let id = list
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "GET /v1/events/stream?from=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {revoked}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(s);
    let mut l = String::new();
    reader.read_line(&mut l).unwrap();
    assert!(l.contains("200"), "{l}");
    ok(dir, &["token", "revoke", &id]);
    let t0 = Instant::now();
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink); // ends when the server ends the stream
    row(
        "7. a revoked token's open stream: time until it ends",
        t0.elapsed().as_secs_f64(),
        "s",
        3.0,
    );

    // 10. Smaller holes.
    let (status, body) = server.post(
        &t.recorder,
        line(json!({"type":"learning_recorded","id":"race-0","occurred_at":"2024-01-01","place":"north","text":"t"}))
            .as_bytes(),
    );
    let text = body.to_string();
    let leaks =
        status != 400 || text.contains("position") || text.contains("south") || text.contains("learning_recorded");
    row(
        "10. an id taken in another place: answers that say where",
        leaks as u8 as f64,
        "answers",
        0.0,
    );
    let (status, _, _) = server.raw(
        "GET",
        "/v1/events/stream",
        &[
            ("Authorization", &format!("Bearer {}", t.admin)),
            ("Last-Event-ID", "18446744073709551615"),
        ],
        b"",
    );
    row(
        "10. Last-Event-ID at the top: answers other than 400",
        (status != 400) as u8 as f64,
        "answers",
        0.0,
    );
    let (status, body) = server.get("/v1/events?limit=0", &t.admin);
    row(
        "10. limit=0: answers other than 400",
        (status != 400) as u8 as f64,
        "answers",
        0.0,
    );
    let _ = body;
    let (_, head, _) = server.raw(
        "GET",
        "/v1/places",
        &[("Authorization", &format!("Bearer {}", t.admin))],
        b"",
    );
    let head = head.to_ascii_lowercase();
    let missing =
        !head.contains("x-content-type-options: nosniff") as u8 + !head.contains("cache-control: no-store") as u8;
    row(
        "10. API answers without nosniff or no-store",
        missing as f64,
        "headers",
        0.0,
    );
    let weird = "Name\u{ffff}with=formula";
    let (status, v) = server.post(
        &t.admin,
        line(json!({"type":"actor_joined","id":"weird","occurred_at":"2023-06-01","place":"south","actor":"=cmd|' /C calc'!A0","kind":"organisation","name":weird})).as_bytes(),
    );
    assert_eq!(status, 201, "{v}");
    server.post(
        &t.admin,
        line(json!({"type":"relationship_formed","id":"weird-r","occurred_at":"2023-06-02","place":"south","from":"=cmd|' /C calc'!A0","to":"s-council","kind":"trust"})).as_bytes(),
    );
    let mut broken = 0;
    for path in [
        "/v1/places/south/export?format=gexf&at=2024-01-01",
        "/v1/places/south/export?format=graphml&at=2024-01-01",
        "/v1/places/south/export?format=gexf-dynamic",
        "/v1/places/south/network.svg?at=2024-01-01",
    ] {
        let (status, body) = server.get(path, &t.admin);
        assert_eq!(status, 200, "{path}");
        if roxmltree::Document::parse(&String::from_utf8_lossy(&body)).is_err() {
            broken += 1;
        }
    }
    row(
        "10. GEXF, GraphML and SVG with U+FFFF in a name: documents that are not XML",
        broken as f64,
        "documents",
        0.0,
    );
    let (_, csv) = server.get("/v1/places/south/export?format=csv&at=2024-01-01", &t.admin);
    let csv = String::from_utf8_lossy(&csv);
    let formulas = csv
        .lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .filter(|c| c.trim_start_matches('"').starts_with('='))
        .count();
    row("10. CSV cells that start a formula", formulas as f64, "cells", 0.0);
    let (status, _) = server.get("/v1/places/~/snapshot?place=..", &t.admin);
    row(
        "10. a place named `..` asked by query: answers other than 404 (no such place)",
        (status != 404) as u8 as f64,
        "answers",
        0.0,
    );

    // The decision: funders see people by pseudonym only.
    let mut named = 0;
    for path in [
        "/v1/places/north/snapshot?at=2024-01-01",
        "/v1/places/north/network.svg?at=2024-01-01",
        "/v1/places/north/export?format=gexf-dynamic",
        "/v1/places/north/export?format=kumu&at=2024-01-01",
        "/v1/places/north/export?format=kumu-quarters",
        "/v1/places/north/export?format=graphml&at=2024-01-01",
        "/v1/places/north/export?format=dot&at=2024-01-01",
        "/v1/places/north/export?format=json&at=2024-01-01",
        "/v1/places/~/snapshot?place=north&at=2024-01-01",
    ] {
        let (status, body) = server.get(path, &t.funder);
        assert_eq!(status, 200, "{path}");
        let body = String::from_utf8_lossy(&body);
        if body.contains(NAME) || body.contains("Quillfeather") || !body.contains("community member 1") {
            named += 1;
        }
        let (_, admin_body) = server.get(path, &t.admin);
        assert!(
            String::from_utf8_lossy(&admin_body).contains(NAME),
            "admins see names: {path}"
        );
    }
    row(
        "decision: funder answers that name a person (or lack the pseudonym)",
        named as f64,
        "answers",
        0.0,
    );

    // 9. Who else on the machine can read the data directory while it is served.
    let open = open_to_others(dir);
    for p in open.iter().take(5) {
        println!("   open to others: {p}");
    }
    row(
        "9. files and directories of the data directory open to other users",
        open.len() as f64,
        "paths",
        0.0,
    );
    rows
}

impl Server {
    /// Another handle on the same server, for a thread.
    fn client(addr: &str) -> ClientOnly {
        ClientOnly(addr.to_string())
    }
}

/// A handle that only sends requests (the process belongs to the [`Server`]).
struct ClientOnly(String);

impl ClientOnly {
    fn post(&self, token: &str, body: &[u8]) -> u16 {
        let mut s = TcpStream::connect(&self.0).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(
            s,
            "POST /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.0,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut r = Vec::new();
        let _ = s.read_to_end(&mut r);
        String::from_utf8_lossy(&r)
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

#[test]
fn the_attack_table_stays_under_its_bounds() {
    let (_work, dir, tokens) = prepared();
    let server = Server::start(&dir, &["--query-seconds", "10"], Some(FD_LIMIT));
    // Snapshots first, so that derived data holds checkpoints.
    for at in ["2023-06-30", "2023-12-31"] {
        assert_eq!(
            server
                .get(&format!("/v1/places/north/snapshot?at={at}"), &tokens.admin)
                .0,
            200
        );
    }
    let rows = run_table(&server, &dir, &tokens);
    let over: Vec<String> = rows
        .iter()
        .filter(|r| r.measured > r.bound)
        .map(|r| format!("{}: {} {} > {}", r.attack, r.measured, r.unit, r.bound))
        .collect();
    assert!(over.is_empty(), "over their bounds:\n{}", over.join("\n"));
}

/// Item 8: a server without tokens against a web page. The requests are what a cross-site
/// `fetch` in `no-cors` mode with `text/plain` sends, and what reaches a DNS name rebound
/// to 127.0.0.1.
#[test]
fn an_open_server_refuses_other_sites_and_other_hosts() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let server = Server::start(&dir, &["--open"], Some(FD_LIMIT));
    let event = line(json!({"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"p","name":"P"}));
    type Headers = Vec<(&'static str, &'static str)>;
    let cases: [(&str, Headers, u16); 4] = [
        (
            "text/plain from another site",
            vec![("Origin", "http://evil.example"), ("Content-Type", "text/plain")],
            403,
        ),
        (
            "text/plain from no site",
            vec![("Content-Type", "text/plain;charset=UTF-8")],
            415,
        ),
        (
            "JSON from another site",
            vec![("Origin", "http://evil.example"), ("Content-Type", "application/json")],
            403,
        ),
        (
            "JSON to a rebound name",
            vec![("Host", "evil.example:7878"), ("Content-Type", "application/json")],
            403,
        ),
    ];
    for (name, headers, want) in cases {
        let (status, _, body) = server.raw("POST", "/v1/events", &headers, event.as_bytes());
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&body));
        assert_eq!(server.head(), 0, "{name} wrote");
    }
    let (status, _, _) = server.raw("GET", "/v1/places", &[("Host", "evil.example")], b"");
    assert_eq!(status, 403, "a read through a rebound name");
    // From the machine itself, JSON is taken.
    let (status, _, body) = server.raw(
        "POST",
        "/v1/events",
        &[
            ("Origin", "http://127.0.0.1:7878"),
            ("Content-Type", "application/x-ndjson"),
        ],
        event.as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
}

/// Item 1, over HTTP: a redaction whose client goes away about 3 ms after sending; the name
/// must be nowhere in the data directory once the server stops.
#[test]
fn a_redaction_whose_client_goes_away_leaves_no_name_on_disk() {
    let (_work, dir, tokens) = prepared();
    for round in 0..3 {
        let server = Server::start(&dir, &[], Some(FD_LIMIT));
        for at in ["2023-06-30", "2023-12-31", "2024-06-30"] {
            assert_eq!(
                server
                    .get(&format!("/v1/places/north/snapshot?at={at}"), &tokens.admin)
                    .0,
                200
            );
        }
        let head = server.head();
        let actor = if round == 0 {
            "resident-1".to_string()
        } else {
            format!("extra-{round}")
        };
        if round > 0 {
            let (s, v) = server.post(
                &tokens.admin,
                line(
                    json!({"type":"actor_joined","id":format!("j-{actor}"),"occurred_at":"2023-01-03","place":"north",
                    "actor":actor,"kind":"person","name":format!("{NAME} {round}")}),
                )
                .as_bytes(),
            );
            assert_eq!(s, 201, "{v}");
            server.get("/v1/places/north/snapshot?at=2024-01-01", &tokens.admin);
        }
        let head = if round > 0 { head + 1 } else { head };
        let body =
            line(json!({"type":"actor_redacted","id":format!("red-{round}"),"occurred_at":"2024-06-01","actor":actor}));
        // The client goes away 3 ms after sending. On a loaded machine the server may not
        // have read the request by then, and rightly drops it unanswered; then the client
        // tries again, waiting longer each time, until the redaction commits.
        let mut wait = Duration::from_millis(3);
        let mut committed = false;
        for _attempt in 0..8 {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            write!(
                s,
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
                tokens.admin,
                body.len()
            )
            .unwrap();
            std::thread::sleep(wait);
            drop(s);
            let t0 = Instant::now();
            while server.head() == head && t0.elapsed() < PATIENCE / 4 {
                std::thread::sleep(Duration::from_millis(10));
            }
            if server.head() != head {
                committed = true;
                break;
            }
            wait *= 4;
        }
        assert!(committed, "the redaction never committed");
        drop(server);
        let found = files_containing(&dir, NAME);
        assert!(found.is_empty(), "round {round}: the name is still in {found:?}");
    }
}
