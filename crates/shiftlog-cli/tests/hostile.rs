//! Hostile input, one table, through both doors: `shiftlog append` and `POST /v1/events`
//! of `shiftlog serve`. Every case gets a clear error naming the line (and field), or a
//! correct result; never a panic, a hang or a partial write.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::{finish, Server};

enum Expect {
    /// The whole input is refused: the error names `line` and says `says` (and names
    /// `field` over HTTP, where errors are structured); nothing is written.
    Rejected {
        line: usize,
        field: Option<&'static str>,
        says: &'static str,
    },
    /// Accepted: `events` more events, and `check` holds of the snapshot of `p` at
    /// `at`.
    Accepted {
        events: u64,
        at: &'static str,
        check: fn(&Value),
    },
}

struct Case {
    name: &'static str,
    body: Vec<u8>,
    expect: Expect,
}

fn line(v: Value) -> String {
    format!("{v}\n")
}

/// An event of place `p` with `extra` spliced in as raw JSON text before the closing
/// brace (so that the text can be anything, valid JSON or not).
fn raw_event(id: &str, extra: &str) -> String {
    format!(r#"{{"type":"learning_recorded","id":"{id}","occurred_at":"2024-03-01","place":"p","text":"t"{extra}}}"#)
}

fn rejected(line: usize, field: Option<&'static str>, says: &'static str) -> Expect {
    Expect::Rejected { line, field, says }
}

fn cases() -> Vec<Case> {
    let ok = line(json!({"type":"learning_recorded","id":"fine","occurred_at":"2024-03-01","place":"p","text":"fine"}));
    let mut many = line(
        json!({"type":"relationship_formed","id":"m0","occurred_at":"2024-01-01T00:00:00Z","place":"p",
                               "from":"a","to":"b","kind":"trust","strength":0.0}),
    );
    for i in 1..10_000 {
        many.push_str(&line(json!({"type":"relationship_changed","id":format!("m{i}"),
            "occurred_at":format!("2024-01-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60),
            "place":"p","from":"a","to":"b","kind":"trust","strength":i as f64 / 10_000.0})));
    }
    let hundred_mb = format!(
        "{ok}{}\n{ok}",
        raw_event("long", &format!(r#","theme":"{}""#, "x".repeat(100 << 20)))
    );
    vec![
        Case {
            name: "arrays nested 100,000 deep",
            body: raw_event("deep", &format!(r#","x":{}{}"#, "[".repeat(100_000), "]".repeat(100_000))).into(),
            expect: rejected(1, None, "nested more than 128 levels deep"),
        },
        Case {
            name: "objects nested 10,000 deep, on line 2",
            body: format!("{ok}{}\n", raw_event("deep", &format!(r#","x":{}1{}"#, r#"{"a":"#.repeat(10_000), "}".repeat(10_000))))
                .into(),
            expect: rejected(2, None, "nested more than 128 levels deep"),
        },
        Case {
            name: "a JSON array body nested 100,000 deep",
            body: format!("[{}]", "[".repeat(100_000)).into(),
            expect: rejected(1, None, "nested more than 128 levels deep"),
        },
        Case {
            name: "a 100 MB line between two good ones",
            body: hundred_mb.into(),
            expect: rejected(2, None, "line is longer than 16777216 bytes"),
        },
        Case {
            name: "an escaped NUL in a place id",
            body: r#"{"type":"actor_left","id":"n1","occurred_at":"2024-03-01","place":"p\u0000q","actor":"a"}"#.into(),
            expect: rejected(1, Some("place"), "must not contain control characters (found U+0000"),
        },
        Case {
            name: "a raw NUL byte inside a string",
            body: b"{\"type\":\"actor_left\",\"id\":\"n2\",\"occurred_at\":\"2024-03-01\",\"place\":\"p\",\"actor\":\"a\x00\"}\n".to_vec(),
            expect: rejected(1, None, "control character"),
        },
        Case {
            name: "a bell in an actor id",
            body: r#"{"type":"actor_left","id":"n3","occurred_at":"2024-03-01","place":"p","actor":"a\u0007"}"#.into(),
            expect: rejected(1, Some("actor"), "must not contain control characters (found U+0007"),
        },
        Case {
            name: "an escape character in an event id",
            body: r#"{"type":"actor_left","id":"n\u001b[31m","occurred_at":"2024-03-01","place":"p","actor":"a"}"#.into(),
            expect: rejected(1, Some("id"), "must not contain control characters (found U+001B"),
        },
        Case {
            name: "an id of 129 characters",
            body: raw_event(&"i".repeat(129), "").into(),
            expect: rejected(1, Some("id"), "128"),
        },
        Case {
            name: "1e309",
            body: line(json!({"type":"power_shifted","id":"big","occurred_at":"2024-03-01","place":"p","domain":"budget","to":"a","amount":1}))
                .replace(r#""amount":1"#, r#""amount":1e309"#)
                .into(),
            expect: rejected(1, None, "number out of range"),
        },
        Case {
            name: "-1e309 in a power map",
            body: r#"{"type":"actor_joined","id":"big2","occurred_at":"2024-03-01","place":"p","actor":"c","kind":"group","power":{"budget":-1e309}}"#.into(),
            expect: rejected(1, None, "number out of range"),
        },
        Case {
            name: "NaN",
            body: r#"{"type":"relationship_changed","id":"nan","occurred_at":"2024-03-01","place":"p","from":"a","to":"b","kind":"trust","strength":NaN}"#.into(),
            expect: rejected(1, None, "invalid JSON at column"),
        },
        Case {
            name: "a number too big for a float but valid JSON",
            body: r#"{"type":"relationship_formed","id":"huge","occurred_at":"2024-03-01","place":"p","from":"a","to":"b","kind":"x","strength":123456789012345678901234567890}"#.into(),
            expect: rejected(1, Some("strength"), "must be between 0 and 1"),
        },
        Case {
            name: "a duplicate key",
            body: r#"{"type":"actor_left","id":"dup","occurred_at":"2024-03-01","place":"p","actor":"a","actor":"b"}"#.into(),
            expect: rejected(1, None, "duplicate key `actor`"),
        },
        Case {
            name: "a duplicate key inside attributes",
            body: r#"{"type":"actor_updated","id":"dup2","occurred_at":"2024-03-01","place":"p","actor":"a","attributes":{"ward":"East","ward":"West"}}"#.into(),
            expect: rejected(1, None, "duplicate key `ward`"),
        },
        Case {
            name: "a date that does not exist",
            body: raw_event("feb30", "").replace("2024-03-01", "2023-02-30").into(),
            expect: rejected(1, Some("occurred_at"), "2023-02-30"),
        },
        Case {
            name: "year 10000",
            body: raw_event("y10k", "").replace("2024-03-01", "+10000-01-01T00:00:00Z").into(),
            expect: rejected(1, Some("occurred_at"), "not an RFC 3339 timestamp"),
        },
        Case {
            name: "an actor joining in year 0",
            body: line(json!({"type":"actor_joined","id":"y0","occurred_at":"0000-01-01","place":"p","actor":"ancient","kind":"group"}))
                .into(),
            expect: Expect::Accepted {
                events: 1,
                at: "0000-12-31",
                check: |s| {
                    let ids: Vec<&str> = s["actors"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
                    assert_eq!(ids, ["ancient"]);
                    assert_eq!(s["actors"][0]["since"], "0000-01-01T00:00:00Z");
                },
            },
        },
        Case {
            name: "an actor leaving at the last instant of year 9999",
            body: line(json!({"type":"actor_left","id":"y9999","occurred_at":"9999-12-31T23:59:59.999999999Z","place":"p","actor":"ancient"}))
                .into(),
            expect: Expect::Accepted {
                events: 1,
                at: "9999-12-31T23:59:59.999999999Z",
                check: |s| {
                    let ids: Vec<&str> = s["actors"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
                    assert_eq!(ids, ["a", "b"], "`ancient` has left");
                },
            },
        },
        Case {
            name: "10,000 events naming the same two actors",
            body: many.into(),
            expect: Expect::Accepted {
                events: 10_000,
                at: "2024-06-01",
                check: |s| {
                    let rels = s["relationships"].as_array().unwrap();
                    assert_eq!(rels.len(), 1);
                    assert_eq!(rels[0]["strength"], 0.9999, "the last change wins");
                },
            },
        },
    ]
}

/// Place `p` with actors `a` and `b`.
fn base() -> String {
    [
        json!({"type":"place_registered","id":"base-p","occurred_at":"2023-01-01","place":"p","name":"P"}),
        json!({"type":"actor_joined","id":"base-a","occurred_at":"2023-01-01","place":"p","actor":"a","kind":"group"}),
        json!({"type":"actor_joined","id":"base-b","occurred_at":"2023-01-01","place":"p","actor":"b","kind":"group"}),
    ]
    .into_iter()
    .map(line)
    .collect()
}

fn shiftlog(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shiftlog"));
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("RUST_LOG");
    c
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    let child = shiftlog(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &format!("shiftlog {args:?}"))
}

fn head_of(dir: &Path) -> u64 {
    let out = cli(dir, &["stats", "--json"]);
    assert!(out.status.success());
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["last_position"]
        .as_u64()
        .unwrap_or(0)
}

fn not_a_crash(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && out.status.code().is_some_and(|c| c == 0 || c == 1),
        "{what}: {:?}\n{err}",
        out.status
    );
}

#[test]
fn hostile_input_through_the_cli_gets_a_clear_error_or_a_correct_result() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let file = work.path().join("input");
    std::fs::write(&file, base()).unwrap();
    assert!(cli(&dir, &["append", file.to_str().unwrap()]).status.success());
    let mut head = head_of(&dir);
    for case in cases() {
        std::fs::write(&file, &case.body).unwrap();
        let out = cli(&dir, &["append", file.to_str().unwrap()]);
        not_a_crash(&out, case.name);
        let err = String::from_utf8_lossy(&out.stderr);
        match case.expect {
            Expect::Rejected { line, field, says } => {
                assert_eq!(out.status.code(), Some(1), "{}: {err}", case.name);
                let first = err.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with(&format!("error: line {line}")),
                    "{}: {first}",
                    case.name
                );
                assert!(first.contains(says), "{}: {first}", case.name);
                if let Some(f) = field {
                    assert!(first.contains(&format!("field `{f}`")), "{}: {first}", case.name);
                }
                assert!(err.contains("nothing was written"), "{}: {err}", case.name);
                assert_eq!(head_of(&dir), head, "{}: a rejected input wrote something", case.name);
            }
            Expect::Accepted { events, at, check } => {
                assert!(out.status.success(), "{}: {err}", case.name);
                assert_eq!(head_of(&dir), head + events, "{}", case.name);
                head += events;
                let snap = cli(&dir, &["snapshot", "--place", "p", "--at", at]);
                assert!(
                    snap.status.success(),
                    "{}: {}",
                    case.name,
                    String::from_utf8_lossy(&snap.stderr)
                );
                check(&serde_json::from_slice(&snap.stdout).unwrap());
            }
        }
    }
    // Year 0 to 9999 a day at a time would be 3.65 million steps: refused, with the way
    // out; a year at a time is answered.
    let daily = cli(&dir, &["evolve", "--place", "p", "--every", "day"]);
    not_a_crash(&daily, "daily evolution over 10,000 years");
    let err = String::from_utf8_lossy(&daily.stderr);
    assert_eq!(daily.status.code(), Some(1), "{err}");
    assert!(
        err.contains("would have more than 100000 steps: choose a longer step or a shorter span"),
        "{err}"
    );
    let yearly = cli(&dir, &["evolve", "--place", "p", "--every", "year", "--format", "json"]);
    assert!(yearly.status.success(), "{}", String::from_utf8_lossy(&yearly.stderr));
    let v: Value = serde_json::from_slice(&yearly.stdout).unwrap();
    assert_eq!(v["p"].as_array().unwrap().len(), 10_000);
    // And the store is whole.
    let verify = cli(&dir, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

impl Server {
    /// One NDJSON request; (status, body as JSON, or as text when it is not JSON).
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let (status, _, body) = self.raw(method, path, &[("Content-Type", "application/x-ndjson")], body);
        let text = String::from_utf8_lossy(&body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned())),
        )
    }
}

#[test]
fn hostile_input_over_http_gets_a_clear_error_or_a_correct_result() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&work.path().join("store"), &["--open", "--max-body-mib", "256"], None);
    let (status, v) = server.request("POST", "/v1/events", base().as_bytes());
    assert_eq!(status, 201, "{v}");
    let mut head = server.head();
    for case in cases() {
        let (status, v) = server.request("POST", "/v1/events", &case.body);
        match case.expect {
            Expect::Rejected { line, field, says } => {
                assert_eq!(status, 400, "{}: {v}", case.name);
                assert!(
                    v["error"].as_str().unwrap().contains("nothing was written"),
                    "{}: {v}",
                    case.name
                );
                let r = &v["rejections"][0];
                assert_eq!(r["line"], line, "{}: {v}", case.name);
                assert!(r["message"].as_str().unwrap().contains(says), "{}: {v}", case.name);
                if let Some(f) = field {
                    assert_eq!(r["field"], f, "{}: {v}", case.name);
                }
                assert_eq!(server.head(), head, "{}: a rejected body wrote something", case.name);
            }
            Expect::Accepted { events, at, check } => {
                assert_eq!(status, 201, "{}: {v}", case.name);
                assert_eq!(server.head(), head + events, "{}", case.name);
                head += events;
                let (status, snap) = server.request("GET", &format!("/v1/places/p/snapshot?at={at}"), b"");
                assert_eq!(status, 200, "{}: {snap}", case.name);
                check(&snap);
            }
        }
    }
    let (status, v) = server.request("GET", "/v1/places/p/evolution?every=day", b"");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("would have more than 100000 steps"),
        "{v}"
    );
    let (status, v) = server.request("GET", "/v1/places/p/evolution?every=year", b"");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["p"].as_array().unwrap().len(), 10_000, "{v}");
    // Bodies that are not text at all.
    let (status, v) = server.request("POST", "/v1/events", b"\xff\xfe{\"type\":1}");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("not valid UTF-8 (at byte 0)"),
        "{v}"
    );
    let (status, v) = server.request("POST", "/v1/events", b"   \n\n");
    assert_eq!(status, 400, "{v}");
    assert_eq!(server.head(), head);
}
