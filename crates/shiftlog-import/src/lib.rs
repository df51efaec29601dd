//! Bringing in what practitioners keep, as shiftlog events: network survey waves
//! (PARTNER-style: a sheet of who works with whom, with strength, trust and value) from
//! CSV or XLSX, and Kumu maps (a JSON blueprint, or Elements and Connections sheets) read
//! as a wave. And one way out: a snapshot as a workbook of Actors and Relationships
//! ([`write_workbook`]), in the shape a wave is read from.
//!
//! An import is *planned* against the place's network as known at the wave's date, then
//! appended as one atomic batch through the engine's own rules: nothing is written unless
//! every row is right. Every planned event's id is derived from its source and its content,
//! so importing the same file again writes nothing, and a corrected file writes only the
//! correction. Every problem names its file, sheet, row and column.
//!
//! Reading uses `csv` and `calamine`; the events are written as the interchange format's
//! NDJSON and parsed by the engine's own parser, so an import can only ever produce what
//! the format allows. See `docs/recording.md`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod kumu;
mod record;
mod survey;
mod table;
mod workbook;

pub use kumu::{as_wave, from_workbook, read_blueprint, KumuFields, KumuMap};
pub use record::{kumu_map, record_wave, survey_sheets, RecordError, Recorded, Upload};
pub use survey::{plan_wave, Change, Plan, PlannedEvent, SurveyWave};
pub use table::{
    column_letter, read_bytes, read_csv, read_file, read_workbook, read_workbook_within, Row, Table, WorkbookLimits,
    MAX_FILE_BYTES,
};
pub use workbook::{write_workbook, WorkbookError};

use std::fmt;

/// One thing wrong with an input, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the user named it.
    pub file: String,
    /// The sheet of a workbook.
    pub sheet: Option<String>,
    /// The row, numbered as a spreadsheet shows it.
    pub row: Option<usize>,
    /// The column: its letter and header, `C (kind)`.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(s) = &self.sheet {
            write!(f, ", sheet {s}")?;
        }
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why an import could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read at all.
    #[error("cannot read {file}: {message}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// What the files hold is wrong; each problem says where.
    #[error("{} problem{} in the input; nothing was written", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Problems(Vec<Problem>),
}
