//! `shiftlog import`: what practitioners already keep, as events (`shiftlog-import`).

use shiftlog::{Engine, PlaceId, Timestamp};
use shiftlog_import::{
    as_wave, kumu_map, record_wave, survey_sheets, ImportError, KumuFields, Plan, RecordError, SurveyWave, Table,
    Upload,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// At most this many problems, and this many planned changes, are printed.
const SHOWN: usize = 100;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ImportCommand {
    /// A network survey wave (CSV or XLSX): one row per relationship (`from`, `to`, `kind`,
    /// optionally `strength`, `trust`, `value`, `directed`), recorded at the wave's date as
    /// what changed since the network as known then: actors joining, relationships formed,
    /// changed and ended (of the kinds the wave covers). Importing the same file again
    /// writes nothing.
    Survey(SurveyArgs),
    /// A Kumu map (a JSON blueprint, a workbook with Elements and Connections sheets, or an
    /// elements CSV with `--connections`), recorded at a date as a survey wave is: what
    /// changed since the network as known then. See docs/recording.md for the mapping.
    Kumu(KumuArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct KumuArgs {
    /// The place the map shows (registered already).
    #[arg(long)]
    place: String,
    /// The date the map shows the place at: every change it records happens then.
    #[arg(long, value_name = "DATE")]
    at: Timestamp,
    /// The map: `.json` (a Kumu blueprint), a workbook, or the elements as `.csv`.
    file: PathBuf,
    /// The connections, when FILE is the elements as CSV.
    #[arg(long, value_name = "FILE.csv")]
    connections: Option<PathBuf>,
    /// The element field holding the sector.
    #[arg(long, default_value = "Sector", value_name = "FIELD")]
    sector_field: String,
    /// The connection field holding the strength (0 to 1).
    #[arg(long, default_value = "Strength", value_name = "FIELD")]
    strength_field: String,
    /// The connection field holding the trust score (0 to 1).
    #[arg(long, default_value = "Trust", value_name = "FIELD")]
    trust_field: String,
    /// The connection field holding the value score (0 to 1).
    #[arg(long, default_value = "Value", value_name = "FIELD")]
    value_field: String,
    /// The kind of an actor whose element Type is empty or not person, organisation,
    /// group or network.
    #[arg(long, default_value = "organisation", value_name = "KIND",
          value_parser = ["person", "organisation", "group", "network"])]
    element_kind: String,
    /// The kind of a relationship whose connection Type is empty.
    #[arg(long, default_value = "connection", value_name = "KIND")]
    connection_kind: String,
    /// Who records the import (the events' `recorded_by`).
    #[arg(long, value_name = "WHO")]
    recorded_by: Option<String>,
    /// Show what would be recorded, and check it against the log; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SurveyArgs {
    /// The place surveyed (registered already).
    #[arg(long)]
    place: String,
    /// The wave's date: every change it records happens then.
    #[arg(long, value_name = "DATE")]
    wave: Timestamp,
    /// The wave: a CSV file, or a workbook whose sheet `relationships` (or `connections`,
    /// or else its first sheet) holds the relationships and whose sheet `actors` (if any)
    /// the actors.
    file: PathBuf,
    /// The actors (`id`, `kind`, optionally `name`, `sector`, `roles`): a CSV file, or a
    /// workbook with a sheet `actors` (or else its first sheet).
    #[arg(long, value_name = "FILE")]
    actors: Option<PathBuf>,
    /// The workbook sheet holding the relationships.
    #[arg(long, value_name = "NAME")]
    sheet: Option<String>,
    /// Who records the import (the events' `recorded_by`).
    #[arg(long, value_name = "WHO")]
    recorded_by: Option<String>,
    /// Show what would be recorded, and check it against the log; write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run(engine: &Engine, command: ImportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImportCommand::Survey(a) => survey(engine, a).await,
        ImportCommand::Kumu(a) => kumu(engine, a).await,
    }
}

async fn survey(engine: &Engine, a: SurveyArgs) -> anyhow::Result<ExitCode> {
    let sheets = Upload::read(&a.file).and_then(|wave| {
        let actors = a.actors.as_deref().map(Upload::read).transpose()?;
        survey_sheets(wave, a.sheet.as_deref(), actors)
    });
    let (relationships, actors) = match sheets {
        Ok(t) => t,
        Err(e) => return problems(e),
    };
    let place = PlaceId::new(a.place.as_str()).map_err(|e| anyhow::anyhow!("--place: {e}"))?;
    let wave = SurveyWave {
        place: &place,
        wave: a.wave,
        relationships: &relationships,
        actors: actors.as_ref(),
        recorded_by: a.recorded_by.as_deref(),
        source: "survey",
    };
    record(engine, wave, a.dry_run).await
}

async fn kumu(engine: &Engine, a: KumuArgs) -> anyhow::Result<ExitCode> {
    let map = Upload::read(&a.file).and_then(|map| {
        let connections = a.connections.as_deref().map(Upload::read).transpose()?;
        kumu_map(map, connections)
    });
    let fields = KumuFields {
        sector: a.sector_field,
        strength: a.strength_field,
        trust: a.trust_field,
        value: a.value_field,
        element_kind: a.element_kind,
        connection_kind: a.connection_kind,
    };
    let (relationships, actors) = match map.and_then(|m| as_wave(&m, &fields)) {
        Ok(t) => t,
        Err(e) => return problems(e),
    };
    let place = PlaceId::new(a.place.as_str()).map_err(|e| anyhow::anyhow!("--place: {e}"))?;
    let wave = SurveyWave {
        place: &place,
        wave: a.at,
        relationships: &relationships,
        actors: Some(&actors),
        recorded_by: a.recorded_by.as_deref(),
        source: "kumu",
    };
    record(engine, wave, a.dry_run).await
}

/// Records the wave (through `shiftlog-import`, as the server does) and says what it did.
async fn record(engine: &Engine, w: SurveyWave<'_>, dry_run: bool) -> anyhow::Result<ExitCode> {
    let source = describe_source(w.relationships);
    match record_wave(engine, w, dry_run).await {
        Ok(r) if r.plan.events.is_empty() => {
            println!(
                "nothing to record: the network of {} at {} already matches {source}",
                w.place,
                day(w.wave)
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            let verb = if dry_run { "would record" } else { "recorded" };
            summary(&r.plan, w.place, w.wave, &source, verb);
            match r.appended {
                Some(out) => println!(
                    "{} events appended, {} already present; last position {}",
                    out.appended(),
                    out.already_present(),
                    out.head
                ),
                None => println!("dry run: nothing written"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(RecordError::Import(e)) => problems(e),
        Err(RecordError::Rejected(why)) => {
            for (origin, error) in why.iter().take(SHOWN) {
                eprintln!("error: {origin}: {error}");
            }
            eprintln!("rejected: {} problems; nothing was written", why.len());
            Ok(ExitCode::FAILURE)
        }
        Err(e @ (RecordError::NotRegistered(_) | RecordError::Conflict(_))) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

fn describe_source(t: &Table) -> String {
    match &t.sheet {
        Some(s) => format!("{} (sheet {s})", t.file),
        None => t.file.clone(),
    }
}

/// A wave's date as people write it: the day, or the full time when it is not midnight.
fn day(t: Timestamp) -> String {
    let full = t.to_string();
    match full.strip_suffix("T00:00:00Z") {
        Some(date) => date.to_string(),
        None => full,
    }
}

fn summary(plan: &Plan, place: &PlaceId, wave: Timestamp, source: &str, verb: &str) {
    let counts = plan.counts();
    let n = |t: &str| counts.get(t).copied().unwrap_or(0);
    println!(
        "{source}, wave of {} for {place}: {verb} {} actor{} joining, {} relationship{} formed, {} changed, {} ended",
        day(wave),
        n("actor_joined"),
        if n("actor_joined") == 1 { "" } else { "s" },
        n("relationship_formed"),
        if n("relationship_formed") == 1 { "" } else { "s" },
        n("relationship_changed"),
        n("relationship_ended"),
    );
    for e in plan.events.iter().take(SHOWN) {
        println!("  {}", e.change);
    }
    if plan.events.len() > SHOWN {
        println!("  ... and {} more", plan.events.len() - SHOWN);
    }
}

fn problems(e: ImportError) -> anyhow::Result<ExitCode> {
    match e {
        ImportError::Problems(ps) => {
            for p in ps.iter().take(SHOWN) {
                eprintln!("error: {p}");
            }
            if ps.len() > SHOWN {
                eprintln!("... and {} more problems not shown", ps.len() - SHOWN);
            }
            eprintln!(
                "{} problem{} in the input; nothing was written",
                ps.len(),
                if ps.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::FAILURE)
        }
        ImportError::Read { .. } => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
