//! A redaction cut short at every step: by a dropped future (what a closed HTTP connection
//! or an embedder's timeout does) and by SIGKILL. After each, no byte of the data
//! directory spells the person's name, attributes or the text about them, and once the
//! store is opened again every answer reads them as erased.
//!
//! Runs as its own binary (`harness = false`): the killed process is this executable
//! started with `child DIR STEP`.

use shiftlog::store::fault::{RedactionHook, RedactionStep};
use shiftlog::store::SledOptions;
use shiftlog::{parse_input, ActorId, Engine, KnownAt, PlaceId, Timestamp};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "Ottoline Wexcombe-Vance";
const WARD: &str = "Quillfeather Lane";
const NOTE: &str = "Ottoline said the forum felt closed to renters";
const PLACE: &str = "vale";
const PERSON: &str = "resident-1";

/// A place with a few thousand events; the person joins early, so every checkpoint holds
/// their name.
fn log_text() -> String {
    let mut out = vec![
        format!(r#"{{"type":"place_registered","id":"p","occurred_at":"2023-01-01","place":"{PLACE}","name":"Vale"}}"#),
        format!(
            r#"{{"type":"actor_joined","id":"j-person","occurred_at":"2023-01-02","place":"{PLACE}","actor":"{PERSON}","kind":"person","name":"{NAME}","attributes":{{"ward":"{WARD}"}}}}"#
        ),
        format!(
            r#"{{"type":"learning_recorded","id":"l-person","occurred_at":"2023-01-03","place":"{PLACE}","text":"{NOTE}","actors":["{PERSON}"]}}"#
        ),
    ];
    for i in 0..1_000 {
        let day = 1 + i % 28;
        let month = 2 + (i / 28) % 10;
        let at = format!("2023-{month:02}-{day:02}");
        out.push(format!(
            r#"{{"type":"actor_joined","id":"j{i}","occurred_at":"{at}","place":"{PLACE}","actor":"org-{i}","kind":"organisation","name":"Organisation {i}"}}"#
        ));
        out.push(format!(
            r#"{{"type":"relationship_formed","id":"r{i}","occurred_at":"{at}","place":"{PLACE}","from":"org-{i}","to":"{PERSON}","kind":"works_with"}}"#
        ));
        out.push(format!(
            r#"{{"type":"relationship_changed","id":"c{i}","occurred_at":"{at}","place":"{PLACE}","from":"org-{i}","to":"{PERSON}","kind":"works_with","strength":0.8}}"#
        ));
    }
    out.join("\n")
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Loads the log and answers snapshots, so that derived data holds checkpoints.
async fn prepare(engine: &Engine) {
    let input = parse_input(&log_text());
    assert!(input.rejections.is_empty(), "{:?}", input.rejections);
    engine.ingest(input, &[]).await.unwrap();
    let place: PlaceId = PLACE.parse().unwrap();
    for at in ["2023-06-30", "2023-12-31", "2024-01-31"] {
        let snap = engine.snapshot(&place, t(at), KnownAt::Everything).await.unwrap();
        let person = snap.actors.iter().find(|a| a.id.as_str() == PERSON).unwrap();
        assert_eq!(person.name.as_deref(), Some(NAME));
    }
    let checkpoints = engine.log().derived().range(b"p2/cp/", b"p2/cp0").unwrap();
    assert!(!checkpoints.is_empty(), "the snapshots left no checkpoints to erase");
}

/// Every file under `dir` in which one of the person's texts appears as bytes.
fn traces(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        // Files may come and go while a process writes the store.
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            for needle in [NAME, WARD, NOTE] {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{needle:?} in {}", path.display()));
                }
            }
        }
    }
    found
}

/// After the store is opened again: the person reads as erased in every answer, and the
/// store verifies.
async fn check_erased(dir: &Path, case: &str) {
    let engine = Engine::open(dir).unwrap();
    let place: PlaceId = PLACE.parse().unwrap();
    let snap = engine
        .snapshot(&place, t("2023-12-31"), KnownAt::Everything)
        .await
        .unwrap();
    let person = snap.actors.iter().find(|a| a.id.as_str() == PERSON).unwrap();
    assert_eq!(person.name, None, "{case}: the name survived in a snapshot");
    assert!(person.attributes.is_empty(), "{case}: attributes survived");
    let log = engine.read(shiftlog::Position(1), 10).await.unwrap();
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(NAME) && !text.contains(NOTE),
        "{case}: the log still reads the person's data"
    );
    let problems = engine.verify().await.unwrap();
    assert!(problems.is_empty(), "{case}: {problems:?}");
    drop(engine);
    let left = traces(dir);
    assert!(left.is_empty(), "{case}: after reopening: {left:?}");
}

fn step_name(step: RedactionStep) -> &'static str {
    match step {
        RedactionStep::Committed => "committed",
        RedactionStep::DerivedCleared => "derived-cleared",
        RedactionStep::KeysDestroyed => "keys-destroyed",
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The child: prepares the store, then redacts with a hook that stops the writer at `step`
/// and says so; the parent kills it there.
fn child(dir: &str, step: &str) {
    let step = RedactionStep::ALL.into_iter().find(|s| step_name(*s) == step).unwrap();
    runtime().block_on(async {
        let hook: RedactionHook = Arc::new(move |at| {
            if at == step {
                println!("at {}", step_name(at));
                loop {
                    std::thread::park();
                }
            }
        });
        let engine = Engine::open_with(dir, SledOptions::default().on_redaction_step(hook)).unwrap();
        prepare(&engine).await;
        println!("prepared");
        let _ = engine
            .redact(&ActorId::new(PERSON).unwrap(), Some("asked".into()))
            .await;
        println!("answered");
    });
}

/// Kills the child however the parent leaves (a failed assertion included).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn killed_at(step: RedactionStep) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        Command::new(std::env::current_exe().unwrap())
            .args(["child", dir.path().to_str().unwrap(), step_name(step)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut prepared = false;
    loop {
        let line = lines.next().expect("the child ended before the step").unwrap();
        if line == "prepared" {
            prepared = true;
            // Nothing personal is readable even while it is all there.
            let found = traces(dir.path());
            assert!(found.is_empty(), "before the redaction: {found:?}");
        }
        if line == format!("at {}", step_name(step)) {
            break;
        }
        assert!(Instant::now() < deadline, "the child never reached {step:?}");
    }
    assert!(prepared);
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let case = format!("SIGKILL at {step:?}");
    let found = traces(dir.path());
    assert!(found.is_empty(), "{case}: {found:?}");
    runtime().block_on(check_erased(dir.path(), &case));
    println!("ok: {case}");
}

fn dropped_at(step: RedactionStep) {
    let dir = tempfile::tempdir().unwrap();
    let case = format!("future dropped at {step:?}");
    let (reached_tx, mut reached_rx) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let hook: RedactionHook = Arc::new(move |at| {
        if at == step {
            let _ = reached_tx.send(());
            let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(60));
        }
    });
    runtime().block_on(async {
        let engine = Engine::open_with(dir.path(), SledOptions::default().on_redaction_step(hook)).unwrap();
        prepare(&engine).await;
        let head = engine.head().0;
        let actor = ActorId::new(PERSON).unwrap();
        tokio::select! {
            _ = engine.redact(&actor, Some("asked".into())) => panic!("{case}: answered before the step"),
            _ = reached_rx.recv() => {}
        }
        // The redaction's future is gone; the writer goes on.
        release_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while engine.head().0 == head {
            assert!(Instant::now() < deadline, "{case}: the redaction never committed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let found = traces(dir.path());
        assert!(found.is_empty(), "{case}, store open: {found:?}");
        let place: PlaceId = PLACE.parse().unwrap();
        let snap = engine
            .snapshot(&place, t("2023-12-31"), KnownAt::Everything)
            .await
            .unwrap();
        let person = snap.actors.iter().find(|a| a.id.as_str() == PERSON).unwrap();
        assert_eq!(person.name, None, "{case}: the open engine still answers the name");
        drop(engine);
        check_erased(dir.path(), &case).await;
    });
    println!("ok: {case}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return child(&args[2], &args[3]);
    }
    if args.iter().any(|a| a == "--list") {
        println!("redaction_steps: test");
        return;
    }
    for step in RedactionStep::ALL {
        dropped_at(step);
        killed_at(step);
    }
    println!("test result: ok. {} passed; 0 failed", 2 * RedactionStep::ALL.len());
}
