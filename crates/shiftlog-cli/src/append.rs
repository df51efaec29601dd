//! `shiftlog append`.

use crate::progress::Progress;
use anyhow::Context;
use shiftlog::{
    parse_input, AppendError, Engine, LocatedEvent, Location, NdjsonReader, ParsedInput, PlaceId, ReadError, Rejection,
    Stream, Version,
};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

/// At most this many errors are printed.
const MAX_ERRORS_SHOWN: usize = 100;

#[derive(Debug, clap::Args)]
pub(crate) struct AppendArgs {
    /// The input: a file of NDJSON or a JSON array; `-` or nothing reads stdin.
    file: Option<PathBuf>,

    /// Append in atomic batches of N events instead of all at once, for imports too
    /// large to hold in memory; on a rejected batch, reports exactly which lines were
    /// written and stops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch: Option<u64>,

    /// Fail unless PLACE's version (events appended to it so far) is VERSION before this
    /// input (optimistic concurrency); repeatable. With --batch, checked before the first batch.
    #[arg(long, value_name = "PLACE=VERSION", value_parser = parse_expectation)]
    expect: Vec<(Stream, Version)>,

    /// Fail unless the unplaced stream (redactions) is at VERSION before this input.
    #[arg(long, value_name = "VERSION")]
    expect_unplaced: Option<Version>,

    /// Validate only: report what would be rejected, write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn parse_expectation(s: &str) -> Result<(Stream, Version), String> {
    let (place, version) = s.rsplit_once('=').ok_or("expected PLACE=VERSION")?;
    let place = PlaceId::new(place).map_err(|e| format!("place: {e}"))?;
    let version = version
        .parse()
        .map_err(|_| format!("`{version}` is not a version number"))?;
    Ok((Stream::Place(place), version))
}

pub(crate) async fn run(engine: &Engine, args: AppendArgs) -> anyhow::Result<ExitCode> {
    let (raw, total, name): (Box<dyn Read>, Option<u64>, String) = match &args.file {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len, p.display().to_string())
        }
        _ => (Box::new(std::io::stdin()), None, "stdin".to_string()),
    };
    let mut progress = Progress::new(total);
    let mut input = BufReader::with_capacity(1 << 20, progress.reader(raw));
    let is_array = first_byte(&mut input).with_context(|| format!("cannot read {name}"))? == Some(b'[');

    let mut expected = args.expect.clone();
    if let Some(v) = args.expect_unplaced {
        expected.push((Stream::Unplaced, v));
    }

    if let Some(n) = args.batch.filter(|_| !args.dry_run) {
        let result = batches(engine, input, is_array, n as usize, &expected, &mut progress).await;
        progress.finish();
        return result;
    }

    let parsed = if is_array {
        let mut text = String::new();
        input
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {name} as UTF-8 text"))?;
        parse_input(&text)
    } else {
        let mut parsed = ParsedInput::default();
        for item in NdjsonReader::new(input) {
            match item {
                Ok(e) => parsed.events.push(e),
                Err(ReadError::Rejected(r)) => parsed.rejections.push(r),
                Err(e) => return Err(e).with_context(|| format!("cannot read {name}")),
            }
            progress.events_read((parsed.events.len() + parsed.rejections.len()) as u64);
        }
        parsed
    };
    let total_events = parsed.events.len() + parsed.rejections.len();

    if args.dry_run {
        progress.message("checking");
        let mut rejections = parsed.rejections;
        let locations: Vec<Location> = parsed.events.iter().map(|e| e.location).collect();
        for mut r in engine
            .check(parsed.events.into_iter().map(|e| e.event).collect())
            .await?
        {
            if let Location::Index(i) = r.location {
                r.location = locations[i];
            }
            rejections.push(r);
        }
        rejections.sort_by_key(|r| r.location);
        progress.finish();
        if rejections.is_empty() {
            println!("ok: all {total_events} events would be accepted (dry run: nothing written)");
            return Ok(ExitCode::SUCCESS);
        }
        print_rejections(&rejections);
        eprintln!(
            "{} of {total_events} events would be rejected (dry run: nothing written)",
            rejections.len()
        );
        return Ok(ExitCode::FAILURE);
    }

    progress.message("writing");
    let result = engine.ingest(parsed, &expected).await;
    progress.finish();
    match result {
        Ok(out) => {
            println!(
                "appended {} events, {} already present; last position {}",
                out.appended(),
                out.already_present(),
                out.head
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(report_failure(e, total_events)?),
    }
}

fn report_failure(e: AppendError, total_events: usize) -> anyhow::Result<ExitCode> {
    match e {
        AppendError::Rejected(rs) => {
            print_rejections(&rs);
            let events: std::collections::BTreeSet<_> = rs.iter().map(|r| r.location).collect();
            eprintln!(
                "rejected: {} of {total_events} events have errors; nothing was written",
                events.len()
            );
            Ok(ExitCode::FAILURE)
        }
        AppendError::VersionConflict { .. } => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
        other => Err(other.into()),
    }
}

fn print_rejections(rs: &[Rejection]) {
    for r in rs.iter().take(MAX_ERRORS_SHOWN) {
        eprintln!("error: {r}");
    }
    if rs.len() > MAX_ERRORS_SHOWN {
        eprintln!("... and {} more errors not shown", rs.len() - MAX_ERRORS_SHOWN);
    }
}

fn first_byte(r: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let skip = buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || matches!(b, 0xef | 0xbb | 0xbf))
            .count();
        if skip < buf.len() {
            return Ok(Some(buf[skip]));
        }
        let n = buf.len();
        r.consume(n);
    }
}

fn describe(first: Location, last: Location) -> String {
    match (first, last) {
        (Location::Line(a), Location::Line(b)) if a == b => format!("line {a}"),
        (Location::Line(a), Location::Line(b)) => format!("lines {a}-{b}"),
        (Location::Index(a), Location::Index(b)) if a == b => format!("index {a}"),
        (Location::Index(a), Location::Index(b)) => format!("indices {a}-{b}"),
        (a, b) => format!("{a} to {b}"),
    }
}

/// `--batch N`: each batch is atomic; the first rejected batch stops the import.
async fn batches(
    engine: &Engine,
    input: impl BufRead,
    is_array: bool,
    n: usize,
    expected: &[(Stream, Version)],
    progress: &mut Progress,
) -> anyhow::Result<ExitCode> {
    let mut source: Box<dyn Iterator<Item = Result<LocatedEvent, ReadError>>> = if is_array {
        let mut text = String::new();
        let mut input = input;
        input
            .read_to_string(&mut text)
            .context("cannot read the input as UTF-8 text")?;
        let parsed = parse_input(&text);
        let rejected = parsed.rejections.into_iter().map(|r| Err(ReadError::Rejected(r)));
        let mut all: Vec<_> = parsed.events.into_iter().map(Ok).chain(rejected).collect();
        all.sort_by_key(|x| match x {
            Ok(e) => e.location,
            Err(ReadError::Rejected(r)) => r.location,
            Err(_) => Location::Index(usize::MAX),
        });
        Box::new(all.into_iter())
    } else {
        Box::new(NdjsonReader::new(input))
    };

    let (mut appended, mut present, mut read, mut batch_no) = (0usize, 0usize, 0u64, 0usize);
    let mut written: Option<(Location, Location)> = None;
    let mut head = engine.head();
    loop {
        let mut events = Vec::with_capacity(n);
        let mut rejections = Vec::new();
        let (mut first, mut last) = (None, None);
        while events.len() + rejections.len() < n {
            let Some(item) = source.next() else { break };
            let loc = match item {
                Ok(e) => {
                    let l = e.location;
                    events.push(e);
                    l
                }
                Err(ReadError::Rejected(r)) => {
                    let l = r.location;
                    rejections.push(r);
                    l
                }
                Err(e) => return Err(e).context("cannot read the input"),
            };
            first.get_or_insert(loc);
            last = Some(loc);
            read += 1;
            progress.events_read(read);
        }
        let (Some(first), Some(last)) = (first, last) else {
            break;
        };
        batch_no += 1;
        let expect = if batch_no == 1 { expected } else { &[] };
        let result = if rejections.is_empty() {
            engine.ingest_located(events, expect).await
        } else {
            engine
                .ingest(
                    ParsedInput {
                        events,
                        rejections,
                        more_rejections: 0,
                    },
                    expect,
                )
                .await
        };
        match result {
            Ok(out) => {
                appended += out.appended();
                present += out.already_present();
                head = out.head;
                written = Some((written.map_or(first, |w| w.0), last));
            }
            Err(e) => {
                progress.finish();
                let code = match e {
                    AppendError::Rejected(rs) => {
                        print_rejections(&rs);
                        ExitCode::FAILURE
                    }
                    AppendError::VersionConflict { .. } => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                    other => {
                        eprintln!("error: {other}");
                        ExitCode::FAILURE
                    }
                };
                eprintln!(
                    "batch {batch_no} ({}) was not written; the import stopped there",
                    describe(first, last)
                );
                match written {
                    Some((a, b)) => eprintln!(
                        "written: {} in {} batches ({appended} appended, {present} already present; last position {head})",
                        describe(a, b),
                        batch_no - 1
                    ),
                    None => eprintln!("written: nothing"),
                }
                return Ok(code);
            }
        }
    }
    println!("appended {appended} events, {present} already present, in {batch_no} batches; last position {head}");
    Ok(ExitCode::SUCCESS)
}
