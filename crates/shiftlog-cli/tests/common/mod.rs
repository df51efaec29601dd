//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)] // each test binary uses some of them

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Longer than this is a hang.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Runs to completion, failing the test if it takes longer than [`PATIENCE`]. Its output
/// is read as it comes (a full pipe would stall it).
pub fn finish(child: Child, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{what}: still running after {PATIENCE:?}");
        }
    }
}

/// Every file under `dir` whose bytes contain `needle` (files that vanish while a process
/// writes the directory are passed over).
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                out.push(p);
            }
        }
    }
    out
}

/// Every path under `dir` (itself included) whose mode lets anyone but its owner in, with
/// its mode.
pub fn open_to_others(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push(format!("{} is {mode:o}", p.display()));
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    out
}

/// The body of an HTTP/1.1 answer sent with `Transfer-Encoding: chunked`, joined.
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 2 + n + 2).min(b.len())..];
    }
}

/// `shiftlog serve` on a free loopback port (with a file-descriptor limit when asked, as a
/// small host would give it); killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(dir: &Path, args: &[&str], fd_limit: Option<u32>) -> Server {
        let exe = env!("CARGO_BIN_EXE_shiftlog");
        let mut all = vec!["--data-dir".to_string(), dir.display().to_string(), "serve".into()];
        all.extend(["--addr", "127.0.0.1:0"].map(String::from));
        all.extend(args.iter().map(|s| s.to_string()));
        let mut command = match fd_limit {
            None => {
                let mut c = Command::new(exe);
                c.args(&all);
                c
            }
            Some(n) => {
                let quoted: Vec<String> = std::iter::once(exe.to_string())
                    .chain(all)
                    .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                    .collect();
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("ulimit -n {n} && exec {}", quoted.join(" ")));
                c
            }
        };
        let mut child = command
            .env_remove("SHIFTLOG_DATA")
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .expect(&first)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Server { child, addr }
    }

    /// One request with `Connection: close` (and `Host`, unless `headers` has one):
    /// (status, head, body), a chunked body joined.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head += &format!("Host: {}\r\n", self.addr);
        }
        for (k, v) in headers {
            head += &format!("{k}: {v}\r\n");
        }
        head += "\r\n";
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut response = Vec::new();
        s.read_to_end(&mut response)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer ({e}): did the server hang or die?"));
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("not HTTP: {}", String::from_utf8_lossy(&response)));
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut body = response[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, head, body)
    }

    /// The log's head, from `/health`.
    pub fn head(&self) -> u64 {
        let (status, _, body) = self.raw("GET", "/health", &[], b"");
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["head"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Damaged versions of a good backup's bytes, each with what a refusal must say: cut,
/// flipped, not a backup, and (with the checksum made right again, so that the reader's
/// other checks are reached) a head past its records and bytes after its last page. One
/// list for every backend's restore.
pub fn damaged_backups(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let resealed = |mut body: Vec<u8>| {
        body.truncate(body.len() - 4);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    };
    let mut flipped = bytes.to_vec();
    flipped[bytes.len() / 2] ^= 0x10;
    let mut wrong_magic = bytes.to_vec();
    wrong_magic[0] = b'S';
    // The header's head (after the 16-byte magic and the 4-byte version) one too many.
    let mut longer = bytes.to_vec();
    let head = u64::from_le_bytes(longer[20..28].try_into().unwrap());
    longer[20..28].copy_from_slice(&(head + 1).to_le_bytes());
    let mut extra = bytes.to_vec();
    extra.splice(bytes.len() - 4..bytes.len() - 4, [0u8; 3]);
    vec![
        ("empty", Vec::new(), "does not start like a shiftlog backup"),
        (
            "cut in the header",
            bytes[..20].to_vec(),
            "does not start like a shiftlog backup",
        ),
        (
            "cut by one byte",
            bytes[..bytes.len() - 1].to_vec(),
            "checksum does not match",
        ),
        (
            "cut in half",
            bytes[..bytes.len() / 2].to_vec(),
            "checksum does not match",
        ),
        ("a flipped bit", flipped, "checksum does not match"),
        ("not a backup", wrong_magic, "checksum does not match"),
        ("a head past its records", resealed(longer), "records, not"),
        (
            "bytes after its last page",
            resealed(extra),
            "bytes after its last page",
        ),
    ]
}

/// The `shiftlog` binary on the store at `store` (a directory or a `postgres://` address),
/// whatever the environment that runs the tests says about stores and logging.
pub fn on_store(store: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shiftlog"));
    c.arg("--store")
        .arg(store)
        .env_remove("SHIFTLOG_DATA")
        .env_remove("SHIFTLOG_STORE")
        .env_remove("RUST_LOG");
    c
}
