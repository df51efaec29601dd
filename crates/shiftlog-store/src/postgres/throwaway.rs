//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
//! directory, started on a free loopback port, stopped and removed when dropped. Not part
//! of the supported API.
//!
//! It uses the PostgreSQL binaries on `PATH` or Debian's (`/usr/lib/postgresql/N/bin`).
//! PostgreSQL refuses to run as root, so as root every command runs as the `postgres`
//! user (which Debian's package creates) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Set to require PostgreSQL: without it, tests that need it skip themselves when it is
/// not installed (CI sets it).
pub const REQUIRED_VAR: &str = "SHIFTLOG_POSTGRES_TESTS";

/// A running cluster; stopped (immediately) and removed on drop.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    databases: AtomicU32,
}

/// Where PostgreSQL's server binaries are, if it is installed.
pub fn binaries() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").is_file() && d.join("pg_ctl").is_file() {
                // The directory the binaries really live in, where the other tools
                // (pg_basebackup) are too, not a directory of links to two of them.
                let real = std::fs::canonicalize(d.join("initdb")).ok()?;
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Cluster {
    /// Starts a cluster; `None` when PostgreSQL is not installed and not required (the
    /// caller skips). Panics when it is required and missing, or when it fails to start.
    pub fn start() -> Option<Cluster> {
        Self::start_with(&[])
    }

    /// [`Cluster::start`] with extra server settings (`name=value`).
    pub fn start_with(settings: &[&str]) -> Option<Cluster> {
        Self::start_with_files(settings, &[])
    }

    /// [`Cluster::start_with`], with files (name, contents) written into the cluster's
    /// directory first, readable by the server only (as a TLS key must be); `{dir}` in a
    /// setting is that directory (`ssl_key_file={dir}/server.key`, `hba_file={dir}/hba.conf`).
    pub fn start_with_files(settings: &[&str], files: &[(&str, &[u8])]) -> Option<Cluster> {
        let Some(bin) = binaries() else {
            if std::env::var_os(REQUIRED_VAR).is_some_and(|v| v == "required") {
                panic!("{REQUIRED_VAR}=required, but PostgreSQL is not installed (apt-get install postgresql)");
            }
            eprintln!("skipped: PostgreSQL is not installed (set {REQUIRED_VAR}=required to fail instead)");
            return None;
        };
        let mut cluster = Cluster::empty(bin, is_root(), 0);
        let data = cluster.data().display().to_string();
        let initdb = cluster.bin.join("initdb").display().to_string();
        cluster.run(
            &initdb,
            &[
                "-D",
                &data,
                "-U",
                "shiftlog",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            true,
        );
        for (name, contents) in files {
            let path = cluster.dir.join(name);
            std::fs::write(&path, contents).expect("write a file for the cluster");
            let path = path.display().to_string();
            cluster.run("chmod", &["0600", &path], false);
            if cluster.as_postgres {
                cluster.run("chown", &["postgres:postgres", &path], false);
            }
        }
        let dir = cluster.dir.display().to_string();
        let settings: Vec<String> = settings.iter().map(|s| s.replace("{dir}", &dir)).collect();
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        cluster.start_on_a_free_port(&settings, "PostgreSQL");
        Some(cluster)
    }

    /// A new cluster's directory (owned by `postgres` when run as root), nothing in it yet.
    fn empty(bin: PathBuf, as_postgres: bool, databases: u32) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "shiftlog-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory for PostgreSQL");
        let cluster = Cluster {
            bin,
            dir,
            port: 0,
            as_postgres,
            databases: AtomicU32::new(databases),
        };
        if as_postgres {
            cluster.run(
                "chown",
                &["postgres:postgres", &cluster.dir.display().to_string()],
                false,
            );
        }
        cluster
    }

    /// Starts the server on a free port; a free port can be taken between choosing and
    /// binding it, so a few are tried.
    fn start_on_a_free_port(&mut self, settings: &[&str], what: &str) {
        for attempt in 0..5 {
            self.port = free_port();
            if self.try_start(settings) {
                return;
            }
            eprintln!("{what} did not start on port {} (attempt {attempt})", self.port);
        }
        panic!(
            "{what} did not start; its log:\n{}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn try_start(&self, settings: &[&str]) -> bool {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        for s in settings {
            options.push_str(" -c ");
            options.push_str(s);
        }
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data().display().to_string();
        let log = self.dir.join("log").display().to_string();
        self.command(
            &pg_ctl,
            &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"],
        )
        .status()
        .is_ok_and(|s| s.success())
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]).args(args);
            c
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }

    fn run(&self, program: &str, args: &[&str], as_server_user: bool) {
        let mut c = if as_server_user {
            self.command(program, args)
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        };
        let out = c.output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://shiftlog@127.0.0.1:{}/{db}", self.port)
    }

    /// The address of database `db` through the cluster's Unix socket (trusted, no TLS,
    /// whatever `pg_hba.conf` says of TCP): for setting up and looking in.
    pub fn socket_url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=shiftlog dbname={db}",
            self.dir.display(),
            self.port
        )
    }

    /// Creates a new, empty database and returns its address.
    pub async fn database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let (client, connection) = tokio_postgres::connect(&self.socket_url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the throwaway cluster");
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a database");
        drop(client);
        let _ = driver.await;
        self.url(&name)
    }

    /// A streaming standby of this cluster (`pg_basebackup -R`, WAL streamed), started on a
    /// port of its own. Make it synchronous with [`Cluster::require_synchronous_standby`].
    pub fn standby(&self) -> Cluster {
        let mut standby = Cluster::empty(
            self.bin.clone(),
            self.as_postgres,
            self.databases.load(Ordering::Relaxed),
        );
        let basebackup = self.bin.join("pg_basebackup").display().to_string();
        let data = standby.data().display().to_string();
        let port = self.port.to_string();
        standby.run(
            &basebackup,
            &[
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "shiftlog",
                "--no-sync",
            ],
            true,
        );
        standby.start_on_a_free_port(&[], "the standby");
        standby
    }

    /// Makes every commit wait until a standby has flushed it (`synchronous_standby_names =
    /// '*'`), and waits until one is streaming synchronously.
    pub async fn require_synchronous_standby(&self) {
        let url = self.url("postgres");
        rows(&url, "ALTER SYSTEM SET synchronous_standby_names = '*'").await;
        rows(&url, "SELECT pg_reload_conf()").await;
        for _ in 0..600 {
            let states = rows(&url, "SELECT sync_state FROM pg_stat_replication").await;
            if states.iter().any(|r| r[0].as_deref() == Some("sync")) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no synchronous standby after 60 s");
    }

    /// Kills the cluster's postmaster and every backend it started with SIGKILL, as a
    /// machine dying would stop them (a backend left alone would go on until it noticed).
    pub fn kill(&self) {
        let postmaster = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse::<i32>().ok())
            .expect("the postmaster's pid");
        // Its children first: once it is gone they are reparented and cannot be found.
        let children: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| {
                    // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
                    s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<i32>().ok()
                }) == Some(postmaster)
            })
            .collect();
        for pid in std::iter::once(postmaster).chain(children) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }

    /// Starts the cluster again on its port, after [`Cluster::kill`] (crash recovery runs).
    pub fn restart(&self) {
        // The killed postmaster may linger as a zombie (nothing reaps it in a container),
        // which PostgreSQL would take for a live one holding the lock file.
        let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
        let _ = std::fs::remove_file(self.dir.join(format!(".s.PGSQL.{}.lock", self.port)));
        assert!(
            self.try_start(&[]),
            "PostgreSQL did not start again; its log:\n{}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Promotes a standby to primary and waits until it takes writes.
    pub fn promote(&self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data().display().to_string();
        self.run(&pg_ctl, &["-D", &data, "-w", "-t", "60", "promote"], true);
    }

    /// The cluster's directory (its data directory is `data` inside).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Runs `sql` on the database at `url` and returns its rows as text (NULL as `None`): for
/// tests that look into the tables without depending on the client library.
pub async fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the throwaway cluster");
    let driver = tokio::spawn(connection);
    let mut out = Vec::new();
    for m in client.simple_query(sql).await.expect("the query runs") {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    drop(client);
    let _ = driver.await;
    out
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data().display().to_string();
        let _ = self
            .command(&pg_ctl, &["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
