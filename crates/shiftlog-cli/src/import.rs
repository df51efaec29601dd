//! `shiftlog import`: what practitioners already keep, as events (`shiftlog-import`).

use shiftlog::{parse_input, AppendError, Engine, KnownAt, Location, PlaceId, Stream, Timestamp};
use shiftlog_import::{
    as_wave, from_workbook, plan_wave, read_blueprint, read_file, ImportError, KumuFields, KumuMap, Plan, SurveyWave,
    Table,
};
use std::path::{Path, PathBuf};
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
    let tables = match tables(&a) {
        Ok(t) => t,
        Err(e) => return problems(e),
    };
    let (relationships, actors) = tables;
    let wave = Wave {
        place: &a.place,
        date: a.wave,
        relationships: &relationships,
        actors: actors.as_ref(),
        recorded_by: a.recorded_by.as_deref(),
        source: "survey",
        dry_run: a.dry_run,
    };
    record(engine, wave).await
}

async fn kumu(engine: &Engine, a: KumuArgs) -> anyhow::Result<ExitCode> {
    let map = match kumu_map(&a) {
        Ok(m) => m,
        Err(e) => return problems(e),
    };
    let fields = KumuFields {
        sector: a.sector_field,
        strength: a.strength_field,
        trust: a.trust_field,
        value: a.value_field,
        element_kind: a.element_kind,
        connection_kind: a.connection_kind,
    };
    let (relationships, actors) = match as_wave(&map, &fields) {
        Ok(t) => t,
        Err(e) => return problems(e),
    };
    let wave = Wave {
        place: &a.place,
        date: a.at,
        relationships: &relationships,
        actors: Some(&actors),
        recorded_by: a.recorded_by.as_deref(),
        source: "kumu",
        dry_run: a.dry_run,
    };
    record(engine, wave).await
}

/// A wave to record, from whichever source.
struct Wave<'a> {
    place: &'a str,
    date: Timestamp,
    relationships: &'a Table,
    actors: Option<&'a Table>,
    recorded_by: Option<&'a str>,
    source: &'a str,
    dry_run: bool,
}

/// Plans `w` against the place's network at its date and appends the plan as one batch
/// (or, in a dry run, checks it).
async fn record(engine: &Engine, w: Wave<'_>) -> anyhow::Result<ExitCode> {
    let place = PlaceId::new(w.place).map_err(|e| anyhow::anyhow!("--place: {e}"))?;
    let stream = Stream::Place(place.clone());
    // The version the plan is made against: an append by someone else in between makes
    // the import fail rather than record a stale comparison.
    let version = engine.version(&stream).await?;
    if version == 0 {
        eprintln!(
            "error: place `{place}` is not registered in this store: record its place_registered event first \
             (`shiftlog compare --at DATE` lists the places it holds); nothing was written"
        );
        return Ok(ExitCode::FAILURE);
    }
    let at_wave = engine.snapshot(&place, w.date, KnownAt::Everything).await?;
    let wave = SurveyWave {
        place: &place,
        wave: w.date,
        relationships: w.relationships,
        actors: w.actors,
        recorded_by: w.recorded_by,
        source: w.source,
    };
    let plan = match plan_wave(&wave, &at_wave) {
        Ok(p) => p,
        Err(e) => return problems(e),
    };
    let source = describe_source(w.relationships);
    if plan.events.is_empty() {
        println!(
            "nothing to record: the network of {place} at {} already matches {source}",
            day(w.date)
        );
        return Ok(ExitCode::SUCCESS);
    }

    let input = parse_input(&plan.ndjson());
    if let Some(r) = input.rejections.first() {
        // The plan is made of the format's own events; a rejection here is a bug.
        anyhow::bail!("the import made an event the format rejects ({r}); this is a bug in shiftlog");
    }
    if w.dry_run {
        let events = input.events.into_iter().map(|e| e.event).collect();
        let rejections = engine.check(events).await?;
        summary(&plan, &place, w.date, &source, "would record");
        if !rejections.is_empty() {
            for r in rejections.iter().take(SHOWN) {
                let origin = origin(&plan, r.location);
                eprintln!("error: {origin}: the engine would reject it: {}", r.error);
            }
            eprintln!("dry run: {} problems; nothing written", rejections.len());
            return Ok(ExitCode::FAILURE);
        }
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    match engine.ingest(input, &[(stream, version)]).await {
        Ok(out) => {
            summary(&plan, &place, w.date, &source, "recorded");
            println!(
                "{} events appended, {} already present; last position {}",
                out.appended(),
                out.already_present(),
                out.head
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(AppendError::Rejected(rs)) => {
            for r in rs.iter().take(SHOWN) {
                eprintln!("error: {}: {}", origin(&plan, r.location), r.error);
            }
            eprintln!("rejected: nothing was written");
            Ok(ExitCode::FAILURE)
        }
        Err(AppendError::VersionConflict { .. }) => {
            eprintln!(
                "error: {place} changed while the wave was being compared with it (someone else recorded); \
                 nothing was written: run the import again"
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// The relationships sheet and the actors sheet, as the arguments choose them.
fn tables(a: &SurveyArgs) -> Result<(Table, Option<Table>), ImportError> {
    let mut sheets = read_file(&a.file)?;
    let wanted = |t: &Table| match &a.sheet {
        Some(name) => t.is_named(name),
        None => t.is_named("relationships") || t.is_named("connections"),
    };
    let relationships = match sheets.iter().position(wanted) {
        Some(i) => sheets.remove(i),
        None if a.sheet.is_some() => {
            return Err(ImportError::Read {
                file: a.file.display().to_string(),
                message: format!(
                    "has no sheet `{}` (its sheets: {})",
                    a.sheet.as_deref().unwrap_or_default(),
                    sheet_names(&sheets)
                ),
            })
        }
        None if sheets.is_empty() => {
            return Err(ImportError::Read {
                file: a.file.display().to_string(),
                message: "has no sheet with anything in it".into(),
            })
        }
        None => sheets.remove(0),
    };
    let actors = match &a.actors {
        Some(path) => Some(pick_actors(read_file(path)?, path)?),
        None => sheets.into_iter().find(|t| t.is_named("actors")),
    };
    Ok((relationships, actors))
}

/// The map's elements and connections, from the file's kind.
fn kumu_map(a: &KumuArgs) -> Result<KumuMap, ImportError> {
    let name = a.file.display().to_string();
    let is = |ext: &str| a.file.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if is("json") {
        let bytes = std::fs::read(&a.file).map_err(|e| ImportError::Read {
            file: name.clone(),
            message: e.to_string(),
        })?;
        return read_blueprint(&name, &bytes);
    }
    let sheets = read_file(&a.file)?;
    if is("csv") || is("txt") {
        let Some(connections) = &a.connections else {
            return Err(ImportError::Read {
                file: name,
                message: "is one CSV file: give the connections too, with --connections FILE.csv".into(),
            });
        };
        let elements = sheets.into_iter().next().expect("a CSV file is one sheet");
        let connections = read_file(connections)?
            .into_iter()
            .next()
            .expect("a CSV file is one sheet");
        return Ok(KumuMap { elements, connections });
    }
    from_workbook(&name, sheets)
}

fn pick_actors(mut sheets: Vec<Table>, path: &Path) -> Result<Table, ImportError> {
    if let Some(i) = sheets.iter().position(|t| t.is_named("actors")) {
        return Ok(sheets.remove(i));
    }
    if sheets.is_empty() {
        return Err(ImportError::Read {
            file: path.display().to_string(),
            message: "has no sheet with anything in it".into(),
        });
    }
    Ok(sheets.remove(0))
}

fn sheet_names(sheets: &[Table]) -> String {
    sheets
        .iter()
        .filter_map(|t| t.sheet.as_deref())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_source(t: &Table) -> String {
    match &t.sheet {
        Some(s) => format!("{} (sheet {s})", t.file),
        None => t.file.clone(),
    }
}

/// Where the plan's event at `location` came from.
fn origin(plan: &Plan, location: Location) -> String {
    let i = match location {
        Location::Line(n) => n.saturating_sub(1),
        Location::Index(i) => i,
    };
    match plan.events.get(i) {
        Some(e) => {
            let mut o = e.origin.clone();
            let why = std::mem::take(&mut o.message);
            let place = o.to_string();
            let place = place.trim_end_matches(": ");
            if why.is_empty() {
                format!("{place} ({})", e.change)
            } else {
                format!("{place} ({}; {why})", e.change)
            }
        }
        None => location.to_string(),
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
