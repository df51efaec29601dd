//! `shiftlog snapshot`, `evolve`, `compare`, `anomalies`: thin shells over the engine's
//! projections.

use anyhow::Context;
use shiftlog::{Engine, Every, EvolutionMeasures, Kinds, KnownAt, Metrics, PlaceId, Timestamp, View};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Which part of the log a view sees.
#[derive(Debug, clap::Args)]
pub(crate) struct KnownArgs {
    /// As known at this recorded time: only events recorded at or before it count.
    #[arg(long, value_name = "TIME", conflicts_with = "known_at_position")]
    known_at: Option<Timestamp>,
    /// As known at this log position: only events at positions 1..=N count.
    #[arg(long, value_name = "N")]
    known_at_position: Option<u64>,
}

impl KnownArgs {
    pub(crate) fn known(&self) -> KnownAt {
        match (self.known_at, self.known_at_position) {
            (Some(t), _) => KnownAt::Time(t),
            (None, Some(k)) => KnownAt::Position(k),
            (None, None) => KnownAt::Everything,
        }
    }
}

/// Which relationships a view counts.
#[derive(Debug, clap::Args)]
pub(crate) struct KindArgs {
    /// Count only relationships of this kind (repeat for several): every measure is then
    /// of the network of those kinds. Default: every kind.
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,
}

impl KindArgs {
    pub(crate) fn kinds(&self) -> Kinds {
        Kinds::only(self.kinds.iter().cloned())
    }

    /// The view of the log as `known` says, of these kinds.
    pub(crate) fn view(&self, known: &KnownArgs) -> View {
        View::new(known.known(), self.kinds())
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Json,
    Csv,
    Text,
}

fn place(p: &str) -> anyhow::Result<PlaceId> {
    PlaceId::new(p).map_err(|e| anyhow::anyhow!("--place: {e}"))
}

/// What `snapshot` can write.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SnapshotFormat {
    /// The JSON contract: place, at, known_at_position, actors, relationships, metrics.
    Json,
    /// A readable summary.
    Text,
    /// Graphviz DOT.
    Dot,
    /// GraphML.
    Graphml,
    /// GEXF 1.3 (static).
    Gexf,
    /// The relationships as a CSV edge list.
    Csv,
    /// A Kumu JSON blueprint.
    Kumu,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SnapshotArgs {
    /// The place.
    #[arg(long)]
    place: String,
    /// The valid time (YYYY-MM-DD or RFC 3339); events that occurred at it count.
    #[arg(long)]
    at: Timestamp,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// The output format.
    #[arg(long, value_enum, default_value = "json")]
    format: SnapshotFormat,
}

pub(crate) async fn snapshot(engine: &Engine, a: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let snap = engine.snapshot(&place(&a.place)?, a.at, a.kinds.view(&a.known)).await?;
    let export = match a.format {
        SnapshotFormat::Json => Some(shiftlog::ExportFormat::Json),
        SnapshotFormat::Dot => Some(shiftlog::ExportFormat::Dot),
        SnapshotFormat::Graphml => Some(shiftlog::ExportFormat::Graphml),
        SnapshotFormat::Gexf => Some(shiftlog::ExportFormat::Gexf),
        SnapshotFormat::Csv => Some(shiftlog::ExportFormat::Csv),
        SnapshotFormat::Kumu => Some(shiftlog::ExportFormat::Kumu),
        SnapshotFormat::Text => None,
    };
    if let Some(out) = export.and_then(|f| f.render(&snap)) {
        if out.ends_with('\n') {
            print!("{out}");
        } else {
            println!("{out}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The readable summary.
    println!(
        "{} at {} (as known at position {})",
        snap.place, snap.at, snap.known_at_position
    );
    println!();
    print!("{}", metrics_table(&[(snap.place.clone(), snap.metrics.clone())]));
    println!();
    println!(
        "{:<28} {:<13} {:<10} {:>6} {:>11}  power",
        "actor", "kind", "sector", "degree", "betweenness"
    );
    for x in &snap.actors {
        let power: Vec<String> = x.power.iter().map(|(d, v)| format!("{d}={v:.2}")).collect();
        println!(
            "{:<28} {:<13} {:<10} {:>6} {:>11.3}  {}",
            x.id,
            x.kind,
            x.sector.as_deref().unwrap_or("-"),
            x.degree,
            x.betweenness,
            power.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `export` can write.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// One dynamic GEXF 1.3 graph of the place's whole history (Gephi's timeline plays it).
    Gexf,
    /// A Kumu JSON blueprint of one snapshot (at --at, else the last recorded date).
    Kumu,
    /// A Kumu JSON blueprint of the whole history, every element and connection tagged
    /// with the years it was active in (Kumu's tagged-timeline control plays it).
    KumuYears,
    /// The same, tagged by quarter (`2024 Q1`).
    KumuQuarters,
    /// A workbook of the actors and relationships at --at (else the last recorded date):
    /// the shape `import survey` reads. Needs --out.
    Xlsx,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// The place.
    #[arg(long)]
    place: String,
    /// The output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// For snapshot formats: the date (default: the place's last `occurred_at`).
    #[arg(long)]
    at: Option<Timestamp>,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// Write to FILE instead of standard output (needed for xlsx).
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

pub(crate) async fn export(engine: &Engine, a: ExportArgs) -> anyhow::Result<ExitCode> {
    use shiftlog::projection as p;
    if matches!(a.format, ExportFormat::Xlsx) && a.out.is_none() {
        anyhow::bail!("--format xlsx writes a workbook: give the file with --out FILE.xlsx");
    }
    let mut h = engine.history(&place(&a.place)?, a.known.known()).await?;
    a.kinds.kinds().apply_to_history(&mut h);
    let at = || a.at.or(h.span().map(|(_, last)| last)).unwrap_or_else(Timestamp::now);
    let json = |v: serde_json::Value| -> anyhow::Result<Vec<u8>> {
        let mut text = serde_json::to_string_pretty(&v)?;
        text.push('\n');
        Ok(text.into_bytes())
    };
    let bytes = match a.format {
        ExportFormat::Gexf => p::to_gexf_dynamic(&h).into_bytes(),
        ExportFormat::Kumu => json(p::to_kumu(&h.snapshot(at())))?,
        ExportFormat::KumuYears => json(p::to_kumu_timeline(&h, shiftlog::Every::Year))?,
        ExportFormat::KumuQuarters => json(p::to_kumu_timeline(&h, shiftlog::Every::Quarter))?,
        ExportFormat::Xlsx => shiftlog_import::write_workbook(&h.snapshot(at()))?,
    };
    match &a.out {
        Some(path) => {
            // Beside and renamed, so that nobody opens half a file.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} KiB)", path.display(), bytes.len().div_ceil(1024));
        }
        None => std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The place.
    #[arg(long)]
    place: String,
    /// The earlier date.
    #[arg(long)]
    from: Timestamp,
    /// The later date.
    #[arg(long)]
    to: Timestamp,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// text (for people) or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) async fn diff(engine: &Engine, a: DiffArgs) -> anyhow::Result<ExitCode> {
    let d = engine
        .diff(&place(&a.place)?, a.from, a.to, a.kinds.view(&a.known))
        .await?;
    if matches!(a.format, Format::Json | Format::Csv) {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: from {} to {} (as known at position {})",
        d.place, d.from, d.to, d.known_at_position
    );
    let list = |xs: &[String]| {
        if xs.is_empty() {
            "none".to_string()
        } else {
            xs.join(", ")
        }
    };
    println!("joined: {}", list(&d.joined));
    println!("left: {}", list(&d.left));
    let rels = |rs: &[shiftlog::projection::RelationshipView]| -> Vec<String> {
        rs.iter()
            .map(|r| format!("{} -> {} ({})", r.from, r.to, r.kind))
            .collect()
    };
    println!("relationships formed: {}", list(&rels(&d.formed)));
    println!("relationships ended: {}", list(&rels(&d.ended)));
    let changes = |cs: &[shiftlog::projection::StrengthChange]| -> Vec<String> {
        cs.iter()
            .map(|c| format!("{} -> {} ({}) {:.2} to {:.2}", c.from, c.to, c.kind, c.before, c.after))
            .collect()
    };
    println!("strengthened: {}", list(&changes(&d.strengthened)));
    println!("weakened: {}", list(&changes(&d.weakened)));
    for (domain, cs) in &d.power_changes {
        let moves: Vec<String> = cs
            .iter()
            .map(|c| format!("{} {:.2} to {:.2}", c.actor, c.before, c.after))
            .collect();
        println!("power over {domain}: {}", moves.join("; "));
    }
    for s in &d.power_shifts {
        println!(
            "  {} {}: {} -> {} ({})",
            s.occurred_at,
            s.domain,
            s.from.as_deref().unwrap_or("outside"),
            s.to.as_deref().unwrap_or("outside"),
            s.amount
        );
    }
    let deltas: Vec<String> = d
        .metric_deltas
        .iter()
        .filter(|(_, v)| **v != 0.0)
        .map(|(k, v)| format!("{k} {v:+.3}"))
        .collect();
    println!("metric changes: {}", list(&deltas));
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct EvolveArgs {
    /// One place; all places when absent.
    #[arg(long)]
    place: Option<String>,
    /// The step: day, week, month, quarter or year.
    #[arg(long)]
    every: Every,
    /// First date (default: the place's first `occurred_at`).
    #[arg(long)]
    from: Option<Timestamp>,
    /// Last date (default: the place's last `occurred_at`).
    #[arg(long)]
    to: Option<Timestamp>,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// `standard`: every measure but the communities (modularity, communities), which
    /// double an evolution's time; `all`: every measure, as snapshots have them.
    #[arg(long, default_value = "standard", value_name = "standard|all")]
    measures: EvolutionMeasures,
    /// json or csv.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub(crate) async fn evolve(engine: &Engine, a: EvolveArgs) -> anyhow::Result<ExitCode> {
    let place = a.place.as_deref().map(place).transpose()?;
    let series = engine
        .evolve_with(
            place.as_ref(),
            a.every,
            a.from,
            a.to,
            a.kinds.view(&a.known),
            a.measures,
            u64::MAX,
        )
        .await?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&series)?),
        Format::Csv | Format::Text => {
            println!(
                "place,at,{},power_gini,sessions_in_period,absent_voices_in_period,{},{CHANGE_COLUMNS}",
                csv_header(CSV_FIRST),
                csv_more_header()
            );
            for (p, steps) in &series {
                for s in steps {
                    let c = s.metrics.change.unwrap_or_default();
                    println!(
                        "{},{},{},{},{},{},{},{},{},{},{},{},{:.6}",
                        csv_field(p.as_str()),
                        s.at,
                        csv_row(&s.metrics),
                        s.period.sessions,
                        s.period.absent_voices,
                        csv_more(&s.metrics),
                        c.joined,
                        c.left,
                        c.formed,
                        c.ended,
                        c.strengthened,
                        c.weakened,
                        c.tie_stability
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The valid time.
    #[arg(long)]
    at: Timestamp,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// text (for people), json or csv.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) async fn compare(engine: &Engine, a: CompareArgs) -> anyhow::Result<ExitCode> {
    let view = a.kinds.view(&a.known);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&engine.compare(a.at, view).await?)?),
        Format::Csv => {
            println!("place,{},power_gini,{}", csv_header(CSV_FIRST), csv_more_header());
            for (p, m) in &engine.compare(a.at, view).await? {
                println!("{},{},{}", csv_field(p.as_str()), csv_row(m), csv_more(m));
            }
        }
        Format::Text => {
            // One fold of each place for both the table and the bridges.
            let comparison = engine.comparison(a.at, view).await?;
            print!("{}", metrics_table(&comparison.places.into_iter().collect::<Vec<_>>()));
            if !comparison.bridges.is_empty() {
                println!();
                println!("actors bridging places:");
                for (actor, places) in &comparison.bridges {
                    println!("  {actor}: {}", places.join(", "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct BridgesArgs {
    /// The valid time.
    #[arg(long)]
    at: Timestamp,
    #[command(flatten)]
    known: KnownArgs,
    /// text or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) async fn bridges(engine: &Engine, a: BridgesArgs) -> anyhow::Result<ExitCode> {
    let bridges = engine.bridges(a.at, a.known.known()).await?;
    match a.format {
        Format::Json | Format::Csv => println!("{}", serde_json::to_string_pretty(&bridges)?),
        Format::Text => {
            for (actor, places) in &bridges {
                println!("{actor}: {}", places.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct AnomaliesArgs {
    /// One place; all places when absent.
    #[arg(long)]
    place: Option<String>,
    #[command(flatten)]
    known: KnownArgs,
    /// text or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) async fn anomalies(engine: &Engine, a: AnomaliesArgs) -> anyhow::Result<ExitCode> {
    let place = a.place.as_deref().map(place).transpose()?;
    let report = engine.anomalies(place.as_ref(), a.known.known()).await?;
    match a.format {
        Format::Json | Format::Csv => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            for (p, list) in &report {
                println!("{p}: {} anomalies", list.len());
                for x in list {
                    println!(
                        "  {} (event {:?}, position {}): {}",
                        x.occurred_at, x.event_id, x.position, x.message
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The CSV columns of version 1, in their first order (scripts read them by position);
/// every other registered measure follows them, after the columns that came after these,
/// so that no column moves.
const CSV_FIRST: &[Measure] = &[
    Measure::Actors,
    Measure::ConnectedActors,
    Measure::Relationships,
    Measure::Density,
    Measure::Components,
    Measure::MaxDegree,
    Measure::Reciprocity,
    Measure::Sessions,
    Measure::AbsentVoices,
    Measure::Anomalies,
];

fn csv_later() -> impl Iterator<Item = Measure> {
    Measure::ALL.iter().copied().filter(|m| !CSV_FIRST.contains(m))
}

fn csv_header(first: &[Measure]) -> String {
    first.iter().map(|m| m.key()).collect::<Vec<_>>().join(",")
}

use shiftlog::projection::{csv_field, Measure, Shape};

fn csv_cell(measure: Measure, m: &Metrics) -> String {
    match (measure.value(m), measure.shape()) {
        (None, _) => String::new(),
        (Some(v), Shape::Count) => format!("{v}"),
        (Some(v), Shape::Ratio) => format!("{v:.6}"),
    }
}

/// The version 1 columns and `power_gini`.
fn csv_row(m: &Metrics) -> String {
    let gini: Vec<String> = m.power_gini.iter().map(|(d, g)| format!("{d}={g:.6}")).collect();
    let cells: Vec<String> = CSV_FIRST.iter().map(|&x| csv_cell(x, m)).collect();
    format!("{},{}", cells.join(","), gini.join(";"))
}

/// The columns after them: every other registered measure.
fn csv_more(m: &Metrics) -> String {
    csv_later().map(|x| csv_cell(x, m)).collect::<Vec<_>>().join(",")
}

/// An evolution step's change since the step before (`docs/measures.md`), last.
const CHANGE_COLUMNS: &str = "joined,left,formed,ended,strengthened,weakened,tie_stability";

fn csv_more_header() -> String {
    csv_later().map(|m| m.key()).collect::<Vec<_>>().join(",")
}

pub(crate) fn metrics_table(rows: &[(String, Metrics)]) -> String {
    let mut out = format!(
        "{:<16} {:>6} {:>9} {:>13} {:>7} {:>10} {:>10} {:>11} {:>8} {:>9}  power gini\n",
        "place",
        "actors",
        "connected",
        "relationships",
        "density",
        "components",
        "max degree",
        "reciprocity",
        "sessions",
        "anomalies"
    );
    for (p, m) in rows {
        let gini: BTreeMap<_, _> = m
            .power_gini
            .iter()
            .map(|(d, g)| (d.clone(), format!("{g:.2}")))
            .collect();
        let gini: Vec<String> = gini.into_iter().map(|(d, g)| format!("{d}={g}")).collect();
        out.push_str(&format!(
            "{:<16} {:>6} {:>9} {:>13} {:>7.3} {:>10} {:>10} {:>11.2} {:>8} {:>9}  {}\n",
            p,
            m.actors,
            m.connected_actors,
            m.relationships,
            m.density,
            m.components,
            m.max_degree,
            m.reciprocity,
            m.sessions,
            m.anomalies,
            gini.join(" ")
        ));
    }
    out
}

/// An evolution series as a table for people.
pub(crate) fn evolution_table(steps: &[shiftlog::Step]) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>9} {:>13} {:>7} {:>10} {:>10} {:>8} {:>13}  power gini\n",
        "to",
        "actors",
        "connected",
        "relationships",
        "density",
        "components",
        "max degree",
        "sessions",
        "absent voices"
    );
    for s in steps {
        let m = &s.metrics;
        let gini: Vec<String> = m.power_gini.iter().map(|(d, g)| format!("{d}={g:.2}")).collect();
        out.push_str(&format!(
            "{:<12} {:>6} {:>9} {:>13} {:>7.3} {:>10} {:>10} {:>8} {:>13}  {}\n",
            s.at.as_datetime().format("%Y-%m-%d"),
            m.actors,
            m.connected_actors,
            m.relationships,
            m.density,
            m.components,
            m.max_degree,
            s.period.sessions,
            s.period.absent_voices,
            gini.join(" ")
        ));
    }
    out
}

#[derive(Debug, clap::Args)]
pub(crate) struct SynthesisArgs {
    /// A place to include (repeat for several); every place when absent.
    #[arg(long = "place", value_name = "PLACE")]
    places: Vec<String>,
    /// First date (default: the earliest event of those places).
    #[arg(long)]
    from: Option<Timestamp>,
    /// Last date (default: the latest event of those places).
    #[arg(long)]
    to: Option<Timestamp>,
    /// The periods: day, week, month, quarter or year.
    #[arg(long, default_value = "quarter")]
    every: Every,
    #[command(flatten)]
    known: KnownArgs,
    /// Counts and tags only, as funders see it: no learning texts.
    #[arg(long)]
    without_texts: bool,
    /// text (for people) or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub(crate) async fn synthesis(engine: &Engine, a: SynthesisArgs) -> anyhow::Result<ExitCode> {
    let places = a.places.iter().map(|p| place(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let s = engine
        .synthesis(&places, a.every, a.from, a.to, a.known.known(), !a.without_texts)
        .await?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Format::Csv => anyhow::bail!("--format csv is not offered for the synthesis: use json or text"),
        Format::Text => print!("{}", synthesis_text(&s)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The synthesis for people: per place (and across places when there are several), one
/// line per period and vocabulary with the words that were used, then the texts by area.
pub(crate) fn synthesis_text(s: &shiftlog::projection::Synthesis) -> String {
    use shiftlog::projection::{PeriodSynthesis, Tally};
    use std::fmt::Write;
    fn used(t: &Tally) -> String {
        let words: Vec<String> = t
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(w, n)| format!("{} {n}", w.replace('_', " ")))
            .collect();
        if words.is_empty() {
            "-".into()
        } else {
            words.join(", ")
        }
    }
    fn periods(out: &mut String, ps: &[PeriodSynthesis]) {
        for p in ps {
            let _ = writeln!(
                out,
                "  {} to {}: {} sessions, {} absent voices, {} power shifts",
                &p.from.to_string()[..10],
                &p.to.to_string()[..10],
                p.sessions,
                p.absent_voices,
                p.power.shifts
            );
            let _ = writeln!(out, "    learning by area:      {}", used(&p.learning));
            let _ = writeln!(out, "    outcomes by condition: {}", used(&p.outcomes));
            let _ = writeln!(out, "    power by space:        {}", used(&p.power.by_space));
            let _ = writeln!(out, "    power by form:         {}", used(&p.power.by_form));
            let _ = writeln!(out, "    power by expression:   {}", used(&p.power.by_expression));
            let _ = writeln!(out, "    participation:         {}", used(&p.participation));
        }
    }
    let mut out = String::new();
    for place in &s.places {
        let _ = writeln!(out, "{}", place.place);
        periods(&mut out, &place.periods);
        if let Some(texts) = &place.texts {
            for (area, items) in texts {
                let _ = writeln!(out, "  learned, {}:", area.replace('_', " "));
                for t in items {
                    let from = t.session_title.as_deref().or(t.session.as_deref());
                    let _ = writeln!(
                        out,
                        "    {} {}{}",
                        &t.at.to_string()[..10],
                        t.text,
                        from.map(|f| format!(" (session: {f})")).unwrap_or_default()
                    );
                }
            }
        }
        out.push('\n');
    }
    if s.places.len() > 1 {
        let _ = writeln!(out, "across the {} places", s.places.len());
        periods(&mut out, &s.across);
    }
    out
}
