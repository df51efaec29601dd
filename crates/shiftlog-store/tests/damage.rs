//! Damage written into a closed store's keys and values, as a failing disk or a stray tool
//! would: nothing panics on any stored byte; `verify` names what is wrong; and damage to
//! what the log determines (indexes, counters, the head) is mended by `repair_indexes`,
//! even when the store does not open, giving back exactly the log that was written.

use proptest::prelude::*;
use shiftlog_store::fault::{raw_get, raw_keys, raw_write, RawWrite};
use shiftlog_store::{EventLog, Position, RecordedEvent, SledLog};
use std::path::Path;
use std::sync::OnceLock;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The template store (built once) and its log.
fn template() -> &'static (tempfile::TempDir, Vec<RecordedEvent>) {
    static T: OnceLock<(tempfile::TempDir, Vec<RecordedEvent>)> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = shiftlog_store::fault::damage_template(dir.path()).unwrap();
        (dir, log)
    })
}

/// A fresh copy of the template store.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    shiftlog_store::fault::copy_store(template().0.path(), dir.path()).unwrap();
    dir
}

/// Opens, verifies and reads everything: any answer but a panic is fine. Returns the
/// problems `verify` found, or the error opening gave.
fn exercise(dir: &Path) -> Result<Vec<String>, String> {
    runtime().block_on(async {
        let log = SledLog::open(dir).map_err(|e| e.to_string())?;
        let problems = log.verify().map_err(|e| e.to_string())?;
        let _ = log.read(Position(1), usize::MAX).await;
        for place in log.places().await.unwrap_or_default() {
            let _ = log
                .read_stream(&shiftlog_store::Stream::Place(place), Position(1), usize::MAX)
                .await;
        }
        let _ = log
            .read_stream(&shiftlog_store::Stream::Unplaced, Position(1), usize::MAX)
            .await;
        log.close();
        Ok(problems.iter().map(|p| p.to_string()).collect())
    })
}

/// After `repair_indexes`, the store opens, verifies clean and holds exactly the template's log.
fn assert_mended(dir: &Path, case: &str) {
    SledLog::repair_indexes(dir).unwrap_or_else(|e| panic!("{case}: repair-indexes failed: {e}"));
    runtime().block_on(async {
        let log = SledLog::open(dir).unwrap_or_else(|e| panic!("{case}: does not open after repair: {e}"));
        let problems = log.verify().unwrap();
        assert!(problems.is_empty(), "{case}: after repair: {problems:?}");
        let all = log.read(Position(1), usize::MAX).await.unwrap();
        assert_eq!(all, template().1, "{case}: the log changed");
        log.close();
    });
}

/// The damage the outside attack found, and its neighbours: each must be found by `verify`
/// (or refused by open with a message that says what to run) and mended by repair.
#[test]
fn each_kind_of_index_damage_is_reported_and_mended() {
    let junk = |k: &[u8], v: &[u8]| vec![(k.to_vec(), Some(v.to_vec()))];
    let chunk_key = raw_keys(template().0.path())
        .unwrap()
        .into_iter()
        .find(|k| k[0] == b'c')
        .unwrap();
    let actor_key = raw_keys(template().0.path())
        .unwrap()
        .into_iter()
        .find(|k| k[0] == b'a')
        .unwrap();
    let cases: Vec<(&str, Vec<RawWrite>)> = vec![
        ("a 2-byte stream chunk key", junk(b"c\0", &[1])),
        ("a 1-byte stream chunk key", junk(b"c", &[1])),
        ("a short registration key", junk(b"rx", &[])),
        ("a bare registration tag", junk(b"r", &[])),
        ("a short place key", junk(b"p", &[0, 0, 0, 0, 0, 0, 0, 1])),
        ("a short join key", junk(b"jx", &[])),
        ("a short id key", junk(b"i", &[1])),
        ("a garbled head", junk(b"mhead", &[1, 2, 3])),
        ("a garbled place count", junk(b"mplaces", &[9])),
        ("a garbled actor count", junk(b"mactors", &[])),
        (
            "a chunk that does not decode",
            vec![(chunk_key.clone(), Some(vec![0x80]))],
        ),
        ("a chunk removed", vec![(chunk_key, None)]),
        ("an actor entry garbled", vec![(actor_key, Some(vec![1, 2]))]),
        ("a key of no known kind", junk(b"zzz", b"?")),
        ("a page key of the wrong length", junk(b"e\0\0", b"?")),
    ];
    for (case, ops) in cases {
        let dir = store();
        raw_write(dir.path(), &ops).unwrap();
        match exercise(dir.path()) {
            Ok(problems) => assert!(!problems.is_empty(), "{case}: verify found nothing"),
            Err(e) => assert!(
                e.contains("repair-indexes"),
                "{case}: open failed without saying what to do: {e}"
            ),
        }
        assert_mended(dir.path(), case);
    }
}

#[test]
fn a_head_damaged_into_another_number_is_mended_from_the_stream_index() {
    let dir = store();
    let head = template().1.len() as u64;
    for wrong in [1u64, head - 3, head + 40, u64::MAX] {
        raw_write(dir.path(), &[(b"mhead".to_vec(), Some(wrong.to_be_bytes().to_vec()))]).unwrap();
        let _ = exercise(dir.path());
        assert_mended(dir.path(), &format!("head {wrong}"));
    }
}

#[test]
fn verify_names_every_damaged_record_and_goes_on() {
    let dir = store();
    for p in [3, 9, 20] {
        shiftlog_store::fault::flip_record_byte(dir.path(), p, 30, 0x41).unwrap();
    }
    let problems = exercise(dir.path()).unwrap();
    for p in [3, 9, 20] {
        assert!(
            problems.iter().any(|s| s.contains(&format!("record {p}"))),
            "record {p} not named: {problems:?}"
        );
    }
    // A damaged record cannot be rebuilt from anything: repair refuses, naming it.
    let e = SledLog::repair_indexes(dir.path()).unwrap_err().to_string();
    assert!(e.contains("record 3"), "{e}");
}

#[derive(Debug, Clone)]
enum Action {
    Remove,
    SetValue(Vec<u8>),
    FlipValue(usize, u8),
    TruncateValue(usize),
    TruncateKey(usize),
    ExtendKey(u8),
}

#[derive(Debug, Clone)]
enum Op {
    Existing(usize, Action),
    New(u8, Vec<u8>, Vec<u8>),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Remove),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Action::SetValue),
        (any::<usize>(), 1u8..).prop_map(|(i, m)| Action::FlipValue(i, m)),
        any::<usize>().prop_map(Action::TruncateValue),
        any::<usize>().prop_map(Action::TruncateKey),
        any::<u8>().prop_map(Action::ExtendKey),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let tags = proptest::sample::select(b"icrjpamez".to_vec());
    prop_oneof![
        4 => (any::<usize>(), action()).prop_map(|(i, a)| Op::Existing(i, a)),
        1 => (tags, proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(t, k, v)| Op::New(t, k, v)),
    ]
}

/// Whether a key holds what only the log's records (or the format) say: damage there may
/// be beyond repair.
fn is_record_or_format(k: &[u8]) -> bool {
    (k.len() == 9 && k[0] == b'e') || k == b"mformat" || k == b"mhead"
}

/// The raw writes an op makes on `dir`; `None` when it touches records, the format or the
/// head and `index_only` asks for index damage alone.
fn writes(dir: &Path, keys: &[Vec<u8>], op: &Op, index_only: bool) -> Option<Vec<RawWrite>> {
    let out = match op {
        Op::New(tag, rest, value) => {
            let mut k = vec![*tag];
            k.extend_from_slice(rest);
            vec![(k, Some(value.clone()))]
        }
        Op::Existing(i, action) => {
            let k = keys[i % keys.len()].clone();
            let v = raw_get(dir, &k).unwrap().unwrap_or_default();
            match action {
                Action::Remove => vec![(k, None)],
                Action::SetValue(nv) => vec![(k, Some(nv.clone()))],
                Action::FlipValue(i, m) if !v.is_empty() => {
                    let mut nv = v.clone();
                    nv[i % v.len()] ^= m;
                    vec![(k, Some(nv))]
                }
                Action::FlipValue(..) => vec![],
                Action::TruncateValue(n) => vec![(k, Some(v[..n % (v.len() + 1)].to_vec()))],
                Action::TruncateKey(n) => {
                    let nk = k[..n % k.len()].to_vec();
                    vec![(k, None), (nk, Some(v))]
                }
                Action::ExtendKey(b) => {
                    let mut nk = k.clone();
                    nk.push(*b);
                    vec![(k, None), (nk, Some(v))]
                }
            }
        }
    };
    if index_only && out.iter().any(|(k, _)| is_record_or_format(k)) {
        return None;
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any damage to any key or value: open, verify, read and repair answer without panicking.
    #[test]
    fn no_stored_byte_makes_anything_panic(ops in proptest::collection::vec(op(), 1..6)) {
        let dir = store();
        let keys = raw_keys(dir.path()).unwrap();
        for op in &ops {
            let w = writes(dir.path(), &keys, op, false).unwrap();
            if !w.is_empty() && !w.iter().any(|(k, _)| k.is_empty()) {
                raw_write(dir.path(), &w).unwrap();
            }
        }
        let _ = exercise(dir.path());
        let _ = SledLog::repair_indexes(dir.path());
        let _ = exercise(dir.path());
    }

    /// Damage to indexes and counters alone is mended exactly.
    #[test]
    fn index_damage_is_mended_by_repair(ops in proptest::collection::vec(op(), 1..6)) {
        let dir = store();
        let keys = raw_keys(dir.path()).unwrap();
        for op in &ops {
            if let Some(w) = writes(dir.path(), &keys, op, true) {
                if !w.is_empty() && !w.iter().any(|(k, _)| k.is_empty()) {
                    raw_write(dir.path(), &w).unwrap();
                }
            }
        }
        let _ = exercise(dir.path());
        assert_mended(dir.path(), &format!("{ops:?}"));
    }
}

/// The `store_damage` fuzz target's corpus and regressions, replayed with its checks.
#[test]
fn the_store_damage_corpus_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for sub in ["corpus/store_damage", "regressions/store_damage"] {
        if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    assert!(
        files.len() >= 8,
        "the committed corpus is missing ({} files)",
        files.len()
    );
    for f in files {
        let dir = store();
        shiftlog_store::fault::damage_from_bytes(dir.path(), &std::fs::read(&f).unwrap()).unwrap();
        let _ = exercise(dir.path());
        let _ = SledLog::repair_indexes(dir.path());
        let _ = exercise(dir.path());
    }
}
