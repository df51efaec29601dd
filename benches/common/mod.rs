//! What the bench binaries share: where their input log comes from, the runtime, and the
//! timed bulk import that the store benches measure the same way.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `$SHIFTLOG_BENCH_INPUT`; else, in quick mode, the committed example log; else the log
/// of `gen_inquiry.py --places 20 --actors 150 --events 200000`, generated once into the
/// temporary directory.
pub fn input(quick: bool) -> PathBuf {
    if let Ok(p) = std::env::var("SHIFTLOG_BENCH_INPUT") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if quick {
        return root.join("examples/data/generated-inquiry.ndjson");
    }
    let out = std::env::temp_dir().join("shiftlog-bench-200000.ndjson");
    if !out.exists() {
        let gen = root.join("../shared/datasets/gen_inquiry.py");
        let status = std::process::Command::new("python3")
            .arg(&gen)
            .args(["--places", "20", "--actors", "150", "--events", "200000"])
            .stdout(std::fs::File::create(&out).expect("create bench input"))
            .status()
            .expect("run python3 (or set SHIFTLOG_BENCH_INPUT)");
        assert!(status.success(), "generator failed: {}", gen.display());
    }
    out
}

/// Whether `--quick` (or `SHIFTLOG_BENCH_QUICK`) asks only to check that the bench runs.
// Not every bench binary that includes this module has a quick mode of its own.
#[allow(dead_code)]
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick") || std::env::var_os("SHIFTLOG_BENCH_QUICK").is_some()
}

/// The multi-threaded tokio runtime every bench runs its engine on.
#[allow(dead_code)]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A timed bulk import: the whole NDJSON file at `path` parsed, then appended as one request.
#[allow(dead_code)]
pub struct Bulk {
    pub appended: usize,
    /// From the start of parsing to the acknowledgement.
    pub secs: f64,
    pub parse_secs: f64,
}

/// Parses the file at `path` and appends it to `engine` as one request, timing both.
#[allow(dead_code)]
pub async fn bulk_import(engine: &shiftlog::Engine, path: &Path) -> Bulk {
    let start = Instant::now();
    let mut parsed = shiftlog::ParsedInput::default();
    for item in shiftlog::NdjsonReader::new(BufReader::new(std::fs::File::open(path).unwrap())) {
        parsed.events.push(item.expect("bench input is valid"));
    }
    let parse_secs = start.elapsed().as_secs_f64();
    let out = engine.ingest(parsed, &[]).await.expect("bench input appends");
    Bulk {
        appended: out.appended(),
        secs: start.elapsed().as_secs_f64(),
        parse_secs,
    }
}

/// The floor for appends: writes `n` records into a fresh sled tree in batches of `batch`,
/// flushing after each, with `entries(i, batch)` putting record `i`'s key-value pairs into
/// the batch. Returns the seconds spent writing.
#[allow(dead_code)]
pub fn raw_sled(n: usize, batch: usize, entries: impl Fn(usize, &mut sled::Batch)) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .flush_every_ms(None)
        .open()
        .unwrap();
    let start = std::time::Instant::now();
    for chunk in 0..n.div_ceil(batch) {
        let mut b = sled::Batch::default();
        for i in chunk * batch..((chunk + 1) * batch).min(n) {
            entries(i, &mut b);
        }
        db.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    start.elapsed().as_secs_f64()
}
