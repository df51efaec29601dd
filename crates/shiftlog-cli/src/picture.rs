//! `shiftlog report` and `shiftlog demo`: pictures for people, drawn by `shiftlog-report`.

use crate::project::{evolution_table, metrics_table, KindArgs, KnownArgs};
use anyhow::Context;
use shiftlog::{parse_input, Engine, Every, KnownAt, PlaceId, Timestamp};
use shiftlog_report::{report, write_report, Progress, ReportForm, ReportOptions, SizeBy, HANDFUL};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The worked example shipped with the project (examples/data/worked-example.ndjson):
/// six fictional places over two years.
pub(crate) const WORKED_EXAMPLE: &str = include_str!("../../../examples/data/worked-example.ndjson");

/// The place whose evolution the demo prints.
const DEMO_PLACE: &str = "ashford-vale";

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A place to include (repeat for several); every place when absent.
    #[arg(long = "place", value_name = "PLACE")]
    places: Vec<String>,
    /// First date (default: each place's first `occurred_at`).
    #[arg(long)]
    from: Option<Timestamp>,
    /// Last date (default: each place's last `occurred_at`).
    #[arg(long)]
    to: Option<Timestamp>,
    #[command(flatten)]
    known: KnownArgs,
    #[command(flatten)]
    kinds: KindArgs,
    /// The step of the charts: day, week, month, quarter or year.
    #[arg(long, default_value = "month")]
    every: Every,
    /// What node size shows: degree or power.
    #[arg(long, default_value = "degree")]
    size_by: SizeBy,
    /// The report's heading.
    #[arg(long, default_value = "How the networks changed")]
    title: String,
    /// Where to write the report: one HTML file for a handful of places (up to 8), else a
    /// folder (named without the `.html`) holding index.html and one page per place.
    #[arg(long, value_name = "FILE.html|DIR")]
    out: PathBuf,
    /// Write one file whatever the number of places.
    #[arg(long, conflicts_with = "folder")]
    single_file: bool,
    /// Write a folder (index.html and one page per place) whatever the number of places.
    #[arg(long)]
    folder: bool,
}

pub(crate) async fn report_command(engine: &Engine, a: ReportArgs) -> anyhow::Result<ExitCode> {
    let places = a
        .places
        .iter()
        .map(|p| PlaceId::new(p).map_err(|e| anyhow::anyhow!("--place: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = ReportOptions {
        places,
        from: a.from,
        to: a.to,
        known: a.known.known(),
        kinds: a.kinds.kinds(),
        every: a.every,
        size_by: a.size_by,
        title: a.title,
        ..ReportOptions::default()
    };
    let form = if a.single_file {
        ReportForm::SingleFile
    } else if a.folder {
        ReportForm::Folder
    } else {
        ReportForm::Auto
    };
    // A bar on a terminal, for reports over more than a handful of places.
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden()).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} places ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("report");
    let mut progress = |p: Progress| {
        if p.done == 1 && p.total > HANDFUL {
            bar.set_length(p.total as u64);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_position(p.done as u64);
    };
    let written = write_report(engine, &options, form, &a.out, &mut progress).await;
    bar.finish_and_clear();
    let w = written?;
    let size = if w.bytes >= 10 << 20 {
        format!("{} MiB", w.bytes >> 20)
    } else {
        format!("{} KiB", w.bytes.div_ceil(1024))
    };
    match w.form {
        ReportForm::Folder => eprintln!(
            "wrote {} pages ({size}) on {} places; open {}",
            w.pages,
            w.places,
            w.open.display()
        ),
        _ => eprintln!("wrote {} ({size})", w.open.display()),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Put the store and the report here (a new or empty directory) instead of a fresh
    /// temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Open the report in the default browser.
    #[arg(long)]
    open: bool,
}

/// Loads the worked example into a fresh store, prints what it shows and writes the
/// report.
pub(crate) async fn demo(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match a.dir {
        Some(dir) => {
            let empty = match std::fs::read_dir(&dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
            };
            anyhow::ensure!(
                empty,
                "{} is not empty: the demo loads the worked example into a fresh store; give a new or empty directory",
                dir.display()
            );
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("shiftlog-demo-")
            .tempdir()
            .context("cannot create a temporary directory")?
            .keep(),
    };
    let store = dir.join("store");
    let engine = Engine::open(&store)?;
    let input = parse_input(WORKED_EXAMPLE);
    // The date the comparison is made at: the example's last event.
    let last = input
        .events
        .iter()
        .map(|e| e.event.occurred_at)
        .max()
        .context("the worked example is empty")?;
    let outcome = engine
        .ingest(input, &[])
        .await
        .context("the worked example did not load (this is a bug in shiftlog)")?;
    let places = engine.places().await?;
    println!(
        "Loaded the worked example: {} events about {} fictional places into {}\n",
        outcome.appended(),
        places.len(),
        store.display()
    );

    println!(
        "How the places compare on {}:\n",
        last.as_datetime().format("%-d %b %Y")
    );
    let rows: Vec<_> = engine.compare(last, KnownAt::Everything).await?.into_iter().collect();
    println!("{}", metrics_table(&rows));

    let place = PlaceId::new(DEMO_PLACE)?;
    let series = engine
        .evolve(Some(&place), Every::Quarter, None, None, KnownAt::Everything)
        .await?;
    println!("How {DEMO_PLACE} evolved, quarter by quarter:\n");
    println!(
        "{}",
        evolution_table(series.get(DEMO_PLACE).map_or(&[][..], Vec::as_slice))
    );

    let html = report(
        &engine,
        &ReportOptions {
            title: "shiftlog worked example: six fictional places, 2024 to 2025".to_string(),
            ..ReportOptions::default()
        },
    )
    .await?;
    let out = dir.join("shiftlog-report.html");
    write_file(&out, &html)?;
    println!(
        "The report (one HTML file, nothing fetched from the internet): {}",
        out.display()
    );
    println!("\nExplore further:");
    // This very binary, so the lines can be pasted as they are.
    let exe = std::env::current_exe().map_or_else(|_| "shiftlog".to_string(), |p| p.display().to_string());
    let d = store.display();
    println!("  {exe} --data-dir {d} snapshot --place {DEMO_PLACE} --at 2025-06-30 --format text");
    println!("  {exe} --data-dir {d} diff --place {DEMO_PLACE} --from 2024-01-31 --to 2025-12-31 --format text");
    println!("  {exe} --data-dir {d} serve --open    # then browse http://127.0.0.1:7878/");
    if a.open {
        open_in_browser(&out);
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Write beside and rename, so a reader never sees half a report.
    let tmp = path.with_extension("html.partial");
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn open_in_browser(path: &Path) {
    if let Err(e) = open::that_detached(path) {
        eprintln!("could not open a browser ({e}); open {} yourself", path.display());
    }
}
