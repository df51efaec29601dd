//! A real headless Chromium driven over WebDriver (chromedriver), for the page tests.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! them a test says so and passes, unless `SHIFTLOG_BROWSER_TESTS=required` (set by
//! `.ci/run`), when it fails.

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A Chromium session and what it runs on; dropping it stops chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether the browser is installed; a test without one returns early (or fails when
/// browser tests are required).
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    let required = std::env::var("SHIFTLOG_BROWSER_TESTS").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
    );
    eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, and a headless Chromium session through it with a window of this size.
pub async fn start(width: u32, height: u32) -> Browser {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

/// Polls `script` (a JS expression) until it is truthy; returns its value.
pub async fn wait_for(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = client.execute(&format!("return ({script});"), vec![]).await.unwrap();
        if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
            return v;
        }
        if Instant::now() > deadline {
            let said = client
                .execute(
                    "return [...document.querySelectorAll('#status, .error')].map(e => e.textContent).filter(t => t)",
                    vec![],
                )
                .await
                .unwrap();
            panic!("timed out waiting for {what}; the page's status line and errors say {said}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves a screenshot as `name` under the test build's temporary directory, and under
/// `$SHIFTLOG_SCREENSHOTS` when set (how the docs' pictures are made).
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    if let Ok(dir) = std::env::var("SHIFTLOG_SCREENSHOTS") {
        std::fs::write(Path::new(&dir).join(name), &png).unwrap();
    }
}

/// A server on a free loopback port holding the worked example, with tokens.
pub struct ExampleServer {
    pub engine: shiftlog::Engine,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    tokens: std::sync::Arc<shiftlog_server::tokens::TokenStore>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl ExampleServer {
    pub async fn start() -> ExampleServer {
        use shiftlog_server::{tokens::TokenStore, Access, ServerConfig};
        let dir = tempfile::tempdir().unwrap();
        let engine = shiftlog::Engine::open(dir.path().join("store")).unwrap();
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/worked-example.ndjson"),
        )
        .unwrap();
        engine.ingest(shiftlog::parse_input(&example), &[]).await.unwrap();
        let tokens = std::sync::Arc::new(TokenStore::new(dir.path()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(shiftlog_server::serve(
            listener,
            engine.clone(),
            Access::Tokens(tokens.clone()),
            ServerConfig::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        ExampleServer {
            engine,
            base,
            tokens,
            stop,
            task,
            _dir: dir,
        }
    }

    /// A new token of `role` (for recorders, its places).
    pub async fn token(&self, role: shiftlog_server::tokens::Role, places: &[&str]) -> String {
        let places = places.iter().map(|p| shiftlog::PlaceId::new(*p).unwrap()).collect();
        self.tokens.create(role, places).await.unwrap().0
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}
