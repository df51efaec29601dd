//! Erasure, backups and integrity: `redact`, `backup`, `restore`, `verify`, `repair-indexes`.

use anyhow::Context;
use shiftlog::{ActorId, Engine};
use std::path::{Path, PathBuf};
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

pub fn restore(data_dir: &Path, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let s = Engine::restore(&args.file, data_dir)
        .with_context(|| format!("restoring {} into {}", args.file.display(), data_dir.display()))?;
    println!("restored positions 1 to {} into {}", s.head, data_dir.display());
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

pub fn repair_indexes(data_dir: &Path) -> anyhow::Result<ExitCode> {
    if !shiftlog::SledLog::exists(data_dir) {
        anyhow::bail!("no shiftlog store at {}", data_dir.display());
    }
    let head = Engine::repair_indexes(data_dir)?;
    println!("rebuilt the indexes of {head} events; checkpoints will be rebuilt on the next query");
    Ok(ExitCode::SUCCESS)
}
