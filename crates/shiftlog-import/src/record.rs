//! Recording a wave in an engine: choosing the sheets of what was sent, planning against the
//! place's network at the wave's date, and appending the plan as one atomic batch. The CLI
//! (`shiftlog import`) and the server (`POST /v1/places/{place}/import`) both go through
//! here, so a file is read, checked and recorded the same way whichever way it comes in.

use crate::{from_workbook, plan_wave, read_blueprint, read_bytes, ImportError, KumuMap, Plan};
use crate::{SurveyWave, Table};
use shiftlog::Version;
use shiftlog::{parse_input, AppendError, Engine, KnownAt, Location, PlaceId, ProjectionError, StoreError, Stream};

/// A file as it came: its name (whose ending tells its kind) and its bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The name, as the user gave it (`wave-2.xlsx`).
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Upload {
    /// Reads the file at `path` whole, refusing one over [`crate::MAX_FILE_BYTES`] before
    /// reading it.
    pub fn read(path: &std::path::Path) -> Result<Upload, ImportError> {
        let name = path.display().to_string();
        let read = |message: String| ImportError::Read {
            file: name.clone(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| read(e.to_string()))?;
        if meta.len() > crate::MAX_FILE_BYTES {
            return Err(read(format!(
                "it is {} MiB; files over {} MiB are refused",
                meta.len() >> 20,
                crate::MAX_FILE_BYTES >> 20
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
        Ok(Upload { name, bytes })
    }
}

/// The relationships and actors sheets of a survey wave: from `wave`'s sheet `sheet` (or
/// `Relationships`, `Connections`, else its first), and its `Actors` sheet or `actors`' (its
/// `Actors` sheet, else its first).
pub fn survey_sheets(
    wave: Upload,
    sheet: Option<&str>,
    actors: Option<Upload>,
) -> Result<(Table, Option<Table>), ImportError> {
    let name = wave.name.clone();
    let mut sheets = read_bytes(&wave.name, wave.bytes)?;
    let wanted = |t: &Table| match sheet {
        Some(s) => t.is_named(s),
        None => t.is_named("relationships") || t.is_named("connections"),
    };
    let relationships = match sheets.iter().position(wanted) {
        Some(i) => sheets.remove(i),
        None if sheet.is_some() => {
            return Err(ImportError::Read {
                file: name,
                message: format!(
                    "has no sheet `{}` (its sheets: {})",
                    sheet.unwrap_or_default(),
                    sheet_names(&sheets)
                ),
            })
        }
        None if sheets.is_empty() => {
            return Err(ImportError::Read {
                file: name,
                message: "has no sheet with anything in it".into(),
            })
        }
        None => sheets.remove(0),
    };
    let actors = match actors {
        Some(upload) => {
            let name = upload.name.clone();
            let mut sheets = read_bytes(&upload.name, upload.bytes)?;
            match sheets.iter().position(|t| t.is_named("actors")) {
                Some(i) => Some(sheets.remove(i)),
                None if sheets.is_empty() => {
                    return Err(ImportError::Read {
                        file: name,
                        message: "has no sheet with anything in it".into(),
                    })
                }
                None => Some(sheets.remove(0)),
            }
        }
        None => sheets.into_iter().find(|t| t.is_named("actors")),
    };
    Ok((relationships, actors))
}

fn sheet_names(sheets: &[Table]) -> String {
    sheets
        .iter()
        .filter_map(|t| t.sheet.as_deref())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Kumu map: a `.json` blueprint, a workbook with Elements and Connections sheets, or the
/// elements as CSV with the connections as a second CSV.
pub fn kumu_map(map: Upload, connections: Option<Upload>) -> Result<KumuMap, ImportError> {
    let lower = map.name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        return read_blueprint(&map.name, &map.bytes);
    }
    let name = map.name.clone();
    let sheets = read_bytes(&map.name, map.bytes)?;
    if lower.ends_with(".csv") || lower.ends_with(".txt") {
        let Some(connections) = connections else {
            return Err(ImportError::Read {
                file: name,
                message: "is one CSV file: give the connections too, with --connections FILE.csv (a Kumu map as CSV is two files; over HTTP send a workbook or a blueprint)".into(),
            });
        };
        let elements = sheets.into_iter().next().expect("a CSV file is one sheet");
        let connections = read_bytes(&connections.name, connections.bytes)?
            .into_iter()
            .next()
            .expect("a CSV file is one sheet");
        return Ok(KumuMap { elements, connections });
    }
    from_workbook(&name, sheets)
}

/// What recording a wave did.
#[derive(Debug)]
pub struct Recorded {
    /// What the wave records (empty: the network already matched it).
    pub plan: Plan,
    /// For a real import, what was appended; `None` for a dry run or an empty plan.
    pub appended: Option<shiftlog::AppendOutcome>,
}

/// Why a wave was not recorded. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The files are wrong; each problem says where.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The place is not in the store.
    #[error("place `{0}` is not registered in this store: record its place_registered event first")]
    NotRegistered(PlaceId),
    /// Someone else recorded in the place while the wave was compared with it.
    #[error(
        "{0} changed while the wave was being compared with it (someone else recorded); nothing was written: \
         import it again"
    )]
    Conflict(PlaceId),
    /// The engine's rules refused planned events: (where each came from, why).
    #[error("{} planned events break the log's rules; nothing was written", .0.len())]
    Rejected(Vec<(String, String)>),
    /// Reading the network failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The append failed for another reason.
    #[error(transparent)]
    Append(AppendError),
}

/// Plans `w` against the place's network at its date, then appends the plan as one atomic
/// batch, on condition that nobody else wrote to the place meanwhile; with `dry_run`,
/// checks the plan against the log's rules and writes nothing.
pub async fn record_wave(engine: &Engine, w: SurveyWave<'_>, dry_run: bool) -> Result<Recorded, RecordError> {
    let stream = Stream::Place(w.place.clone());
    // The version the plan is made against: an append by someone else in between makes
    // the import fail rather than record a stale comparison.
    let version: Version = engine.version(&stream).await?;
    if version == 0 {
        return Err(RecordError::NotRegistered(w.place.clone()));
    }
    let at_wave = engine.snapshot(w.place, w.wave, KnownAt::Everything).await?;
    let plan = plan_wave(&w, &at_wave)?;
    if plan.events.is_empty() {
        return Ok(Recorded { plan, appended: None });
    }
    let input = parse_input(&plan.ndjson());
    if !input.rejections.is_empty() {
        // The plan is made of the format's own events; a rejection here is a bug, and is
        // reported as a rejection naming the row rather than written.
        let why = input
            .rejections
            .iter()
            .map(|r| {
                (
                    plan.origin(r.location),
                    format!("the import made an event the format rejects: {}", r.error),
                )
            })
            .collect();
        return Err(RecordError::Rejected(why));
    }
    if dry_run {
        let events = input.events.into_iter().map(|e| e.event).collect();
        let rejections = engine.check(events).await?;
        if !rejections.is_empty() {
            let why = rejections
                .iter()
                .map(|r| (plan.origin(r.location), r.error.to_string()))
                .collect();
            return Err(RecordError::Rejected(why));
        }
        return Ok(Recorded { plan, appended: None });
    }
    match engine.ingest(input, &[(stream, version)]).await {
        Ok(out) => Ok(Recorded {
            plan,
            appended: Some(out),
        }),
        Err(AppendError::Rejected(rs)) => Err(RecordError::Rejected(
            rs.iter()
                .map(|r| (plan.origin(r.location), r.error.to_string()))
                .collect(),
        )),
        Err(AppendError::VersionConflict { .. }) => Err(RecordError::Conflict(w.place.clone())),
        Err(e) => Err(RecordError::Append(e)),
    }
}

impl Plan {
    /// Where the plan's event at `location` (a line of its NDJSON, or an index) came from,
    /// and what it records: `wave.csv, row 7 (+ a → b (trust) forms)`.
    pub fn origin(&self, location: Location) -> String {
        let i = match location {
            Location::Line(n) => n.saturating_sub(1),
            Location::Index(i) => i,
        };
        match self.events.get(i) {
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
}
