//! The `shiftlog` command: a thin shell over the `shiftlog` facade crate.
//!
//! It parses flags, calls the engine, formats output for people (or NDJSON/JSON for
//! tools) and maps errors to exit codes: 0 success, 1 rejected input, a version conflict
//! or a failure, 2 a usage error.

#![forbid(unsafe_code)]

mod append;
mod import;
mod picture;
mod progress;
mod project;
mod serve;
mod trust;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shiftlog::{Engine, PlaceId, Position, StoreLocation, Stream};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

// glibc's malloc spent a quarter of a bulk append faulting in fresh pages as its arenas
// grew and shrank under sled's threads; mimalloc reuses memory instead (measured in
// docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "shiftlog",
    version,
    about = "Record how local systems change, and read the record back."
)]
struct Cli {
    /// The data directory holding the store.
    #[arg(long, global = true, env = "SHIFTLOG_DATA", default_value = "./shiftlog-data")]
    data_dir: PathBuf,

    /// Where the store is, instead of --data-dir: a PostgreSQL database
    /// (postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=verify-full&sslrootcert=FILE]; libpq's
    /// TLS parameters, PGPASSWORD and ~/.pgpass apply) or a data directory.
    #[arg(long, global = true, env = "SHIFTLOG_STORE", value_name = "URL_OR_DIR")]
    store: Option<String>,

    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Append events from NDJSON or a JSON array (a file, or stdin with `-` or no file).
    ///
    /// The whole input is validated first: if any event is rejected nothing is written,
    /// every error (up to 100) is printed with its line, and the exit code is 1.
    Append(append::AppendArgs),
    /// Bring in what you already keep: `import survey` records a network survey wave
    /// (CSV or XLSX) as what changed since the network as known at its date.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Print events as NDJSON (with `position` and `recorded_at`), in log order.
    Log(LogArgs),
    /// Counts: events, places, actors, positions, size on disk.
    Stats(StatsArgs),
    /// A place's network at a date (as known at a point in the log): actors,
    /// relationships, metrics.
    Snapshot(project::SnapshotArgs),
    /// What changed in a place between two dates: actors, relationships, power, metrics.
    Diff(project::DiffArgs),
    /// Metrics at the end of every day, week, month, quarter or year, for one place or all.
    Evolve(project::EvolveArgs),
    /// One row of metrics per place at a date.
    Compare(project::CompareArgs),
    /// Actors active in more than one place at a date, with their places.
    Bridges(project::BridgesArgs),
    /// Events that made no sense at their moment (late recording), per place.
    Anomalies(project::AnomaliesArgs),
    /// The learning synthesis: learning records by the five inquiry areas, outcomes by the
    /// six conditions of systems change, power shifts by space, form and expression,
    /// participation tags, sessions and absent voices, per period, per place and across
    /// places; the learning texts by area unless --without-texts.
    Synthesis(project::SynthesisArgs),
    /// A place's whole history for other tools (dynamic GEXF for Gephi, Kumu).
    Export(project::ExportArgs),
    /// Write the HTML report: an overview first (places compared, where things moved most,
    /// every network small), then per place the networks at the moments that matter,
    /// charts, the change in words, absent voices and anomalies. One file for a handful
    /// of places, a folder of pages beyond; self-contained either way.
    Report(picture::ReportArgs),
    /// Load the worked example (six fictional places) into a fresh store, print what it
    /// shows and write its HTML report.
    Demo(picture::DemoArgs),
    /// Serve the HTTP API (JSON over HTTP, with tokens; see /v1/openapi.json) and the
    /// dashboard at `/`.
    Serve(serve::ServeArgs),
    /// Erase an actor's personal data (name, attributes, free text about it) for good:
    /// appends `actor_redacted`, destroys the actor's key and clears derived data.
    Redact(trust::RedactArgs),
    /// Write a consistent copy of the store (it may be in use by appends in this process).
    Backup(trust::BackupArgs),
    /// Restore a backup into --data-dir, which must not exist or be empty.
    Restore(trust::RestoreArgs),
    /// Check every record, the positions, every index, the keys and the checkpoints;
    /// exits 1 if anything is wrong.
    Verify,
    /// Rebuild the indexes and checkpoints from the log.
    RepairIndexes,
    /// Create, list and revoke the server's access tokens.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Copy the store (--store or --data-dir) into another, empty one: a data directory or
    /// a PostgreSQL database. Checks that both logs and every place's network are equal.
    Migrate(trust::MigrateArgs),
}

#[derive(Debug, clap::Args)]
struct LogArgs {
    /// Only this place's events (including retractions of them).
    #[arg(long)]
    place: Option<String>,
    /// Start at this position.
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Print at most this many events.
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    // Files this process creates are its user's alone. The store makes its own files
    // 0600 and tightens sled's when it opens them, but sled also writes large values
    // (the checkpoints of large places) as files of their own while running, with the
    // umask's mode; see docs/storage.md.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log nobody reads (stderr's pipe closed) must not take the process down:
        // tracing-subscriber reports a failed write with `eprintln!`, which panics on that
        // same closed pipe, in whatever task was logging (an append's, the writer's).
        .log_internal_errors(false)
        // Colour codes only for a terminal, never into a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// After appending this many events, `append` reopens the store once before it exits.
const REFRESH_AFTER_EVENTS: u64 = 100_000;

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(|io| io.kind());
        let json = c.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind());
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

impl Cli {
    /// Where the store is: --store, else --data-dir.
    fn location(&self) -> StoreLocation {
        match &self.store {
            Some(s) => StoreLocation::parse(s),
            None => StoreLocation::Directory(self.data_dir.clone()),
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let at = cli.location();
    let existing = || Engine::open_existing_at(&at);
    match cli.command {
        Command::Append(args) => {
            let engine = Engine::open_at(&at).await?;
            let before = engine.head().0;
            let code = append::run(&engine, args).await;
            let appended = engine.head().0 - before;
            if appended > 0 {
                prepare_after_write(&engine).await;
            }
            drop(engine);
            if let (StoreLocation::Directory(dir), true) = (&at, appended >= REFRESH_AFTER_EVENTS) {
                // sled writes its snapshot (where each page is) only when it opens, and an
                // open replays everything written since the last one: after a bulk import
                // that is seconds. Opening once now pays that here, so that the next
                // command starts fast (measured in docs/performance.md).
                if let Err(e) = Engine::open(dir) {
                    tracing::warn!(error = %e, "could not reopen the store after the import");
                }
            }
            code
        }
        Command::Import(cmd) => {
            let engine = existing().await?;
            let code = import::run(&engine, cmd).await;
            prepare_after_write(&engine).await;
            code
        }
        Command::Log(args) => log(&existing().await?, args).await,
        Command::Stats(args) => stats(&existing().await?, args).await,
        Command::Snapshot(args) => project::snapshot(&open_prepared(&at).await?, args).await,
        Command::Diff(args) => project::diff(&open_prepared(&at).await?, args).await,
        Command::Evolve(args) => project::evolve(&open_prepared(&at).await?, args).await,
        Command::Compare(args) => project::compare(&open_prepared(&at).await?, args).await,
        Command::Bridges(args) => project::bridges(&open_prepared(&at).await?, args).await,
        Command::Synthesis(args) => project::synthesis(&existing().await?, args).await,
        Command::Export(args) => project::export(&open_prepared(&at).await?, args).await,
        Command::Anomalies(args) => project::anomalies(&existing().await?, args).await,
        Command::Report(args) => picture::report_command(&existing().await?, args).await,
        Command::Demo(args) => picture::demo(args).await,
        Command::Serve(args) => serve::serve(&at, args).await,
        Command::Token(cmd) => serve::token(&at, cmd).await,
        Command::Redact(args) => {
            let engine = existing().await?;
            let code = trust::redact(&engine, args).await;
            // A redaction clears every place's derived data: rebuilt now, not by the next query.
            prepare_after_write(&engine).await;
            code
        }
        Command::Backup(args) => trust::backup(&existing().await?, args).await,
        Command::Restore(args) => trust::restore(&at, args).await,
        Command::Verify => trust::verify(&existing().await?).await,
        Command::RepairIndexes => trust::repair_indexes(&at).await,
        Command::Migrate(args) => trust::migrate(&existing().await?, &at, args).await,
    }
}

/// Opens an existing store for a query that reads checkpoints (snapshots, diffs,
/// comparisons), bringing derived data up to date first if it is behind (a store written
/// by an older build, or by a process that stopped before it was done). A failure there
/// is only a warning: the query catches its own places up.
async fn open_prepared(at: &StoreLocation) -> anyhow::Result<Engine> {
    let engine = Engine::open_existing_at(at).await?;
    if let Err(e) = progress::prepare(&engine).await {
        tracing::warn!("{}", report(&e));
    }
    Ok(engine)
}

/// After a write: derived data brought up to date now, so that the first query after an
/// import waits for nothing. The write itself is done; a failure here is only a warning.
async fn prepare_after_write(engine: &Engine) {
    if let Err(e) = progress::prepare(engine).await {
        tracing::warn!("{}", report(&e));
    }
}

async fn log(engine: &Engine, args: LogArgs) -> anyhow::Result<ExitCode> {
    const PAGE: usize = 1000;
    let stream = match &args.place {
        Some(p) => {
            let place = PlaceId::new(p.as_str()).map_err(|e| anyhow::anyhow!("--place: {e}"))?;
            let stream = Stream::Place(place);
            if engine.version(&stream).await? == 0 {
                anyhow::bail!("place `{p}` has no events in the log");
            }
            Some(stream)
        }
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut from = Position(args.from);
    let mut remaining = args.limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        let n = remaining.min(PAGE);
        let page = match &stream {
            Some(s) => engine.read_stream(s, from, n).await?,
            None => engine.read(from, n).await?,
        };
        let Some(last) = page.last() else { break };
        from = Position(last.position.0 + 1);
        remaining -= page.len();
        for rec in &page {
            serde_json::to_writer(&mut out, rec).context("writing to stdout")?;
            out.write_all(b"\n").context("writing to stdout")?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

async fn stats(engine: &Engine, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let s = engine.stats().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let pos = |p: Option<u64>| p.map_or("-".to_string(), |p| p.to_string());
        println!("events          {}", s.events);
        println!("places          {}", s.places);
        println!("actors          {}", s.actors);
        println!("first position  {}", pos(s.first_position));
        println!("last position   {}", pos(s.last_position));
        println!(
            "size on disk    {} ({} bytes)",
            human_bytes(s.size_on_disk),
            s.size_on_disk
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// The error and its causes, leaving out a cause whose text the message already holds
/// (errors that name their source would otherwise say it twice).
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
