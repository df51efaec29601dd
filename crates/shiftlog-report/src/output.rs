//! Making a report: reading the places a group at a time, writing each place's part before
//! reading the next, and putting the pages where they go: one file, or a folder with an
//! overview page and one page per place.
//!
//! Memory is bounded by a group of places (about [`GROUP_EVENTS`] events) and the largest
//! place's drawings, not by the log: a place's history and pictures are dropped once its
//! part is written, and the overview is made from one small summary per place.

use crate::html::{self, esc, place_section, place_view};
use crate::overview::{overview_section, span, PlaceSummary};
use crate::{ReportError, ReportOptions};
use shiftlog::{Engine, KnownAt, PlaceHistory, PlaceId};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Places are read in groups of about this many events, one pass over the log per group
/// (full events, names included: about twice the size of the evolution's).
pub const GROUP_EVENTS: u64 = 500_000;

/// Up to this many places, [`ReportForm::Auto`] writes one file; beyond, a folder.
pub const HANDFUL: usize = 8;

/// The form a report takes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportForm {
    /// One file for up to [`HANDFUL`] places, a folder beyond.
    #[default]
    Auto,
    /// One self-contained HTML file: the overview, then every place.
    SingleFile,
    /// A folder: `index.html` (the overview) and `places/<place>.html`, one page per
    /// place, linked both ways; every page self-contained.
    Folder,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The form it took ([`ReportForm::SingleFile`] or [`ReportForm::Folder`]).
    pub form: ReportForm,
    /// The file to open: the report itself, or the folder's `index.html`.
    pub open: PathBuf,
    /// The places reported on.
    pub places: usize,
    /// Pages written (1 for a single file).
    pub pages: usize,
    /// Bytes written, all pages together.
    pub bytes: u64,
}

/// How far a report has got, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Places written so far.
    pub done: usize,
    /// Places in the report.
    pub total: usize,
}

/// Writes the report on `options.places` as one HTML document, in memory: for small
/// selections and for embedding (see [`write_report`] for a report of many places).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use shiftlog::{parse_input, Engine};
/// use shiftlog_report::{report, ReportOptions};
/// let engine = Engine::in_memory();
/// let input = r#"
/// {"type":"place_registered","occurred_at":"2024-01-01","place":"p","name":"Millbrook"}
/// {"type":"actor_joined","occurred_at":"2024-01-02","place":"p","actor":"a","name":"Allotment society","kind":"group"}
/// {"type":"actor_joined","occurred_at":"2024-03-02","place":"p","actor":"b","name":"Parish council","kind":"organisation"}
/// {"type":"relationship_formed","occurred_at":"2024-04-03","place":"p","from":"a","to":"b","kind":"trust"}
/// "#;
/// engine.ingest(parse_input(input), &[]).await.unwrap();
/// let html = report(&engine, &ReportOptions::default()).await.unwrap();
/// assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Millbrook"));
/// // Nothing to fetch: no scripts, no links or sources outside the page.
/// assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href=\"http"));
/// # });
/// ```
pub async fn report(engine: &Engine, options: &ReportOptions) -> Result<String, ReportError> {
    let mut sections = Vec::new();
    let (summaries, known) = run(
        engine,
        options,
        &Links::OnePage,
        &mut |_, _, s| {
            sections.extend_from_slice(s.as_bytes());
            Ok(())
        },
        &mut |_| {},
    )
    .await?;
    let mut out = Vec::with_capacity(sections.len() + 256 * 1024);
    one_page(&mut out, &summaries, &sections[..], options, known).map_err(|e| io_error(Path::new("memory"), e))?;
    String::from_utf8(out).map_err(|_| ReportError::Chart("the report is not UTF-8 (a bug)".into()))
}

/// Writes the report on `options.places` to `out`, in `form`, calling `progress` after
/// each place.
///
/// One file goes to `out` as it is named; a folder is made at `out` (with its `.html`
/// ending dropped, if it has one). Either is written beside and renamed into place, so
/// a reader never sees half a report; an earlier shiftlog report at `out` is replaced,
/// anything else there is left alone and is an error.
pub async fn write_report(
    engine: &Engine,
    options: &ReportOptions,
    form: ReportForm,
    out: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Written, ReportError> {
    let count = if options.places.is_empty() {
        engine.places().await?.len()
    } else {
        options.places.len()
    };
    let form = match form {
        ReportForm::Auto if count > HANDFUL => ReportForm::Folder,
        ReportForm::Auto => ReportForm::SingleFile,
        f => f,
    };
    match form {
        ReportForm::Folder => write_folder(engine, options, out, progress).await,
        _ => write_single(engine, options, out, progress).await,
    }
}

async fn write_single(
    engine: &Engine,
    options: &ReportOptions,
    out: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Written, ReportError> {
    refuse_to_replace(out, false)?;
    let dir = parent(out);
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    // The places' parts go to a temporary file as they are made (the overview, written
    // first, is only known at the end), so memory holds one place at a time.
    let mut sections = tempfile::tempfile_in(&dir).map_err(|e| io_error(&dir, e))?;
    let (summaries, known) = {
        let mut buffered = std::io::BufWriter::new(&mut sections);
        let r = run(
            engine,
            options,
            &Links::OnePage,
            &mut |_, _, s| buffered.write_all(s.as_bytes()).map_err(|e| io_error(&dir, e)),
            progress,
        )
        .await?;
        buffered.flush().map_err(|e| io_error(&dir, e))?;
        r
    };
    use std::io::Seek;
    sections.rewind().map_err(|e| io_error(&dir, e))?;
    let partial = partial_path(out);
    let mut write = || -> std::io::Result<u64> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        one_page(
            &mut f,
            &summaries,
            std::io::BufReader::new(&mut sections),
            options,
            known,
        )?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(f.metadata()?.len())
    };
    let bytes = write().map_err(|e| {
        std::fs::remove_file(&partial).ok();
        io_error(&partial, e)
    })?;
    std::fs::rename(&partial, out).map_err(|e| io_error(out, e))?;
    Ok(Written {
        form: ReportForm::SingleFile,
        open: out.to_path_buf(),
        places: summaries.len(),
        pages: 1,
        bytes,
    })
}

async fn write_folder(
    engine: &Engine,
    options: &ReportOptions,
    out: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Written, ReportError> {
    let out = if out.extension().is_some_and(|e| e.eq_ignore_ascii_case("html")) {
        out.with_extension("")
    } else {
        out.to_path_buf()
    };
    refuse_to_replace(&out, true)?;
    let dir = parent(&out);
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.partial-",
            out.file_name().map_or("report".into(), |n| n.to_string_lossy())
        ))
        .tempdir_in(&dir)
        .map_err(|e| io_error(&dir, e))?;
    let places_dir = staging.path().join("places");
    std::fs::create_dir(&places_dir).map_err(|e| io_error(&places_dir, e))?;

    let places = places_in_order(engine, options).await?;
    let files = file_names(&places);
    let links = Links::Folder { files: &files };
    let mut bytes = 0u64;
    let (summaries, known) = run(
        engine,
        options,
        &links,
        &mut |place, name, section| {
            let path = places_dir.join(&files[place]);
            let mut page = String::with_capacity(section.len() + 8 * 1024);
            html::page_start(&mut page, &format!("{name} · {}", options.title));
            write!(
                page,
                "<header><nav class=\"back\"><a href=\"../index.html\">← All places: {}</a></nav></header>\n<main>\n",
                esc(&options.title)
            )
            .ok();
            page.push_str(section);
            page.push_str("</main>\n");
            html::page_end(&mut page);
            bytes += page.len() as u64;
            std::fs::write(&path, page).map_err(|e| io_error(&path, e))
        },
        progress,
    )
    .await?;

    let index = staging.path().join("index.html");
    let mut page = Vec::with_capacity(64 * 1024 + summaries.len() * 16 * 1024);
    overview_page(&mut page, &summaries, options, known).map_err(|e| io_error(&index, e))?;
    bytes += page.len() as u64;
    std::fs::write(&index, page).map_err(|e| io_error(&index, e))?;

    // Into place: the old report (if any) aside, the new one in, the old one removed.
    let staged = staging.keep();
    if out.exists() {
        let old = dir.join(format!(
            ".{}.old-{}",
            out.file_name().map_or("report".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        std::fs::rename(&out, &old).map_err(|e| io_error(&out, e))?;
        std::fs::rename(&staged, &out).map_err(|e| io_error(&out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| io_error(&old, e))?;
    } else {
        std::fs::rename(&staged, &out).map_err(|e| io_error(&out, e))?;
    }
    Ok(Written {
        form: ReportForm::Folder,
        open: out.join("index.html"),
        places: summaries.len(),
        pages: summaries.len() + 1,
        bytes,
    })
}

/// How the report's parts link to each other.
pub(crate) enum Links<'a> {
    /// Everything in one page: links are fragments.
    OnePage,
    /// The overview at `index.html`, each place at `places/<file>`.
    Folder { files: &'a HashMap<PlaceId, String> },
}

impl Links<'_> {
    /// The link to `place`'s part, from the overview.
    fn place(&self, place: &PlaceId) -> String {
        match self {
            Links::OnePage => format!("#place-{place}"),
            Links::Folder { files } => format!("places/{}", files[place]),
        }
    }
}

/// The places of the report in its order: those asked for (each once, in the order
/// given), else every place in the log.
async fn places_in_order(engine: &Engine, options: &ReportOptions) -> Result<Vec<PlaceId>, ReportError> {
    if options.places.is_empty() {
        return Ok(engine.places().await?);
    }
    let mut seen = HashSet::new();
    Ok(options.places.iter().filter(|p| seen.insert(*p)).cloned().collect())
}

/// Reads the places a group at a time and hands each place's section to `section`, in
/// the report's order; returns the places' summaries and the log position the report
/// shows.
async fn run(
    engine: &Engine,
    options: &ReportOptions,
    links: &Links<'_>,
    section: &mut (dyn FnMut(&PlaceId, &str, &str) -> Result<(), ReportError> + Send),
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(Vec<PlaceSummary>, u64), ReportError> {
    // One position for every group, so that the whole report shows one log even while
    // others append.
    let known = options.known.position(engine.log().as_ref(), engine.head().0).await?;
    let view = KnownAt::Position(known);
    let places = places_in_order(engine, options).await?;
    let groups = engine.place_groups_for(&places, view, GROUP_EVENTS).await?;
    let total = places.len();
    let mut summaries = Vec::with_capacity(total);
    let mut done = 0;
    for group in groups {
        let mut histories = engine.histories(&group, view).await?;
        // A few places at a time, one per core; each is written, in the report's order,
        // before the next few are drawn.
        let order: Vec<(PlaceId, Option<PlaceHistory>)> =
            group.into_iter().map(|p| (p.clone(), histories.remove(&p))).collect();
        drop(histories);
        let mut order = order.into_iter().peekable();
        while order.peek().is_some() {
            let batch: Vec<_> = order.by_ref().take(rayon::current_num_threads().max(1)).collect();
            let parts = off_the_executor(|| {
                use rayon::prelude::*;
                batch
                    .into_par_iter()
                    .map(|(place, h)| -> Result<_, ReportError> {
                        // A place with no event in this view has nothing to show.
                        let Some(mut h) = h else { return Ok((place, None)) };
                        options.kinds.apply_to_history(&mut h);
                        let Some((first, last)) = h.span() else {
                            return Ok((place, None));
                        };
                        let (from, to) = (options.from.unwrap_or(first), options.to.unwrap_or(last));
                        if from > to {
                            return Err(ReportError::EmptyRange { from, to });
                        }
                        let v = place_view(&h, from, to, options)?;
                        let mut html = String::with_capacity(256 * 1024);
                        place_section(&mut html, &v, options)?;
                        let summary = PlaceSummary::of(&v, links.place(&place));
                        Ok((place, Some((html, summary))))
                    })
                    .collect::<Vec<_>>()
            });
            for part in parts {
                done += 1;
                if let (place, Some((html, summary))) = part? {
                    section(&place, &summary.name, &html)?;
                    summaries.push(summary);
                }
                progress(Progress { done, total });
            }
        }
    }
    if summaries.is_empty() {
        return Err(ReportError::NoPlaces);
    }
    Ok((summaries, known))
}

/// Runs CPU-bound work where it does not hold up the async executor's other tasks.
fn off_the_executor<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The whole report as one page: header, overview, every place's section.
fn one_page(
    out: &mut impl std::io::Write,
    summaries: &[PlaceSummary],
    mut sections: impl std::io::Read,
    options: &ReportOptions,
    known: u64,
) -> std::io::Result<()> {
    let mut head = String::with_capacity(64 * 1024);
    html::page_start(&mut head, &options.title);
    header(&mut head, summaries, options, known);
    head.push_str("<nav><ul><li><a href=\"#overview\">Overview</a></li>");
    for s in summaries {
        write!(head, "<li><a href=\"{}\">{}</a></li>", esc(&s.href), esc(&s.name)).ok();
    }
    head.push_str("</ul></nav>\n");
    head.push_str(&html::sector_key());
    head.push_str("</header>\n<main>\n");
    overview_section(&mut head, summaries, options).map_err(std::io::Error::other)?;
    out.write_all(head.as_bytes())?;
    std::io::copy(&mut sections, out)?;
    let mut tail = String::from("</main>\n");
    html::page_end(&mut tail);
    out.write_all(tail.as_bytes())
}

/// The folder's `index.html`: header and overview.
fn overview_page(
    out: &mut impl std::io::Write,
    summaries: &[PlaceSummary],
    options: &ReportOptions,
    known: u64,
) -> std::io::Result<()> {
    let mut page = String::with_capacity(64 * 1024);
    html::page_start(&mut page, &options.title);
    header(&mut page, summaries, options, known);
    page.push_str(
        "<nav><ul><li><a href=\"#overview\">Places compared</a></li><li><a href=\"#moved-most\">Where things \
         moved most</a></li><li><a href=\"#over-time\">Over time</a></li><li><a href=\"#networks\">Every \
         place's network</a></li></ul></nav>\n",
    );
    page.push_str(&html::sector_key());
    page.push_str("</header>\n<main>\n");
    overview_section(&mut page, summaries, options).map_err(std::io::Error::other)?;
    page.push_str("</main>\n");
    html::page_end(&mut page);
    out.write_all(page.as_bytes())
}

fn header(html: &mut String, summaries: &[PlaceSummary], options: &ReportOptions, known: u64) {
    write!(html, "<header><h1>{}</h1>\n<p class=\"meta\">", esc(&options.title)).ok();
    if let Some((s, e)) = span(summaries) {
        write!(html, "From {} to {}, ", html::day(s), html::day(e)).ok();
    }
    writeln!(
        html,
        "{} place{}, as recorded up to log position {known}{}. Every name, place and organisation \
         comes from the log; drawings put each actor in the same spot on every date.</p>",
        summaries.len(),
        if summaries.len() == 1 { "" } else { "s" },
        match options.kinds.as_set() {
            None => String::new(),
            Some(kinds) => format!(
                "; relationships of {} only",
                kinds
                    .iter()
                    .map(|k| format!("kind {}", esc(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    )
    .ok();
}

/// A file name for every place's page: the id itself when it is a short, lower-case,
/// portable name; otherwise a portable version of it and a hash of the id (so that ids
/// differing only in case or punctuation, or Windows' reserved names, never collide).
pub(crate) fn file_names(places: &[PlaceId]) -> HashMap<PlaceId, String> {
    const RESERVED: &[&str] = &[
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1",
        "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "index",
    ];
    places
        .iter()
        .map(|p| {
            let id = p.as_str();
            let plain = id.len() <= 60
                && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
                && !RESERVED.contains(&id);
            let name = if plain {
                id.to_string()
            } else {
                let slug: String = id
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '-'
                        }
                    })
                    .take(40)
                    .collect();
                format!("{}~{:016x}", slug.trim_matches('-'), fnv1a(id.as_bytes()))
            };
            (p.clone(), format!("{name}.html"))
        })
        .collect()
}

/// FNV-1a, 64 bits: a stable hash for file names (the standard library's hasher may
/// change between releases, and a report's links must not). Eight lines, so not a crate.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Refuses to write over anything that is not an earlier shiftlog report of the same form.
fn refuse_to_replace(out: &Path, folder: bool) -> Result<(), ReportError> {
    let Ok(meta) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    let ours = if folder {
        meta.is_dir() && is_our_page(&out.join("index.html"))
    } else {
        meta.is_file() && is_our_page(out)
    };
    if ours {
        Ok(())
    } else {
        Err(ReportError::WouldReplace {
            path: out.to_path_buf(),
            what: if meta.is_dir() { "a folder" } else { "a file" },
        })
    }
}

/// Whether `path` is a page shiftlog wrote (it names itself in its `generator` meta).
fn is_our_page(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    String::from_utf8_lossy(&head[..n]).contains("<meta name=\"generator\" content=\"shiftlog ")
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn io_error(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}
