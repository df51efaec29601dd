//! Erasure, backups and integrity: `redact`, `backup`, `restore`, `verify`, `repair-indexes`.

use anyhow::Context;
use shiftlog::{ActorId, Engine, KnownAt, Position, StoreLocation};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RedactArgs {
    /// The actor whose personal data is erased (it stays as an anonymous node).
    #[arg(long)]
    actor: String,
    /// Why (kept in the log: write no personal data here).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Where to copy the store: a PostgreSQL database (postgres://...) that holds no
    /// events, or a data directory that does not exist or is empty.
    #[arg(long, value_name = "URL_OR_DIR")]
    to: String,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
}

pub async fn redact(engine: &Engine, args: RedactArgs) -> anyhow::Result<ExitCode> {
    let actor = ActorId::new(args.actor.as_str()).map_err(|e| anyhow::anyhow!("--actor: {e}"))?;
    let out = engine.redact(&actor, args.reason).await?;
    println!(
        "redacted `{actor}` at position {}: its key is destroyed and derived data cleared",
        out.head.0
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn backup(engine: &Engine, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let s = engine
        .backup(&args.out)
        .await
        .with_context(|| format!("backing up to {}", args.out.display()))?;
    println!(
        "backed up positions 1 to {} ({} keys, {} bytes) to {}",
        s.head,
        s.keys,
        s.bytes,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(at: &StoreLocation, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let s = Engine::restore_to(&args.file, at)
        .await
        .with_context(|| format!("restoring {} into {}", args.file.display(), at.describe()))?;
    println!("restored positions 1 to {} into {}", s.head, at.describe());
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(engine: &Engine) -> anyhow::Result<ExitCode> {
    let problems = engine.verify().await?;
    if problems.is_empty() {
        println!(
            "ok: {} events; records, positions, indexes, keys and checkpoints agree",
            engine.head().0
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    eprintln!(
        "error: {} problems found (`shiftlog repair-indexes` rebuilds indexes and checkpoints; damaged records need a backup)",
        problems.len()
    );
    Ok(ExitCode::FAILURE)
}

pub async fn repair_indexes(at: &StoreLocation) -> anyhow::Result<ExitCode> {
    if !at.exists() {
        anyhow::bail!("no shiftlog store at {}", at.describe());
    }
    let head = Engine::repair_indexes_at(at).await?;
    println!("rebuilt the indexes of {head} events; checkpoints will be rebuilt on the next query");
    Ok(ExitCode::SUCCESS)
}

/// Copies the store into another through a backup file (the one format every backend
/// reads and writes), then checks that the two logs are equal event by event and that every
/// place's network at the head is equal. The backup file holds the keys that open people's
/// names: it is made private in a private temporary directory and removed.
pub async fn migrate(source: &Engine, from: &StoreLocation, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let to = StoreLocation::parse(&args.to);
    anyhow::ensure!(&to != from, "--to names the store being copied");
    let scratch = tempfile::Builder::new()
        .prefix("shiftlog-migrate-")
        .tempdir()
        .context("cannot create a temporary directory for the copy")?;
    let file = scratch.path().join("store.backup");
    let taken = source
        .backup(&file)
        .await
        .with_context(|| format!("reading {}", from.describe()))?;
    Engine::restore_to(&file, &to)
        .await
        .with_context(|| format!("writing {}", to.describe()))?;
    drop(scratch);
    let target = Engine::open_existing_at(&to).await?;
    let (events, places) = compare_stores(source, &target, Position(taken.head))
        .await
        .with_context(|| format!("checking {} against {}", to.describe(), from.describe()))?;
    println!(
        "copied {events} events ({} keys) from {} to {}; both logs and the networks of {places} places agree",
        taken.keys,
        from.describe(),
        to.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// Both logs equal up to `head`, and every place's network at its last event as known at
/// `head`; returns the number of events and places compared.
async fn compare_stores(a: &Engine, b: &Engine, head: Position) -> anyhow::Result<(u64, usize)> {
    const PAGE: usize = 10_000;
    let mut from = Position(1);
    let mut n = 0u64;
    while from <= head {
        let (x, y) = (a.read(from, PAGE).await?, b.read(from, PAGE).await?);
        let x: Vec<_> = x.into_iter().filter(|e| e.position <= head).collect();
        let y: Vec<_> = y.into_iter().filter(|e| e.position <= head).collect();
        if x.is_empty() {
            break;
        }
        for (e, f) in x.iter().zip(&y) {
            anyhow::ensure!(e == f, "the event at position {} differs", e.position);
        }
        anyhow::ensure!(x.len() == y.len(), "the copy ends before position {}", head);
        n += x.len() as u64;
        from = Position(x.last().expect("not empty").position.0 + 1);
    }
    anyhow::ensure!(n == head.0, "{n} events compared, the log has {}", head.0);
    let places = a.places().await?;
    anyhow::ensure!(places == b.places().await?, "the places differ");
    for place in &places {
        let at = a
            .read_place(place, Position(1), usize::MAX)
            .await?
            .iter()
            .filter(|e| e.position <= head)
            .map(|e| e.event.occurred_at)
            .max();
        let Some(at) = at else { continue };
        let known = KnownAt::Position(head.0);
        let (x, y) = (a.snapshot(place, at, known).await?, b.snapshot(place, at, known).await?);
        anyhow::ensure!(
            serde_json::to_value(&x)? == serde_json::to_value(&y)?,
            "the network of `{place}` differs"
        );
    }
    Ok((n, places.len()))
}
