//! Pictures of shiftlog's networks for people: a stable [`Layout`] per place, one
//! snapshot drawn as SVG ([`draw_network`], small as [`draw_thumbnail`]), and the
//! self-contained HTML report ([`report`] in memory, [`write_report`] to one file or to a
//! folder of pages): an overview first (the places compared, where things moved most,
//! every place's network small), then per place the networks at the moments that matter,
//! metric and power charts, the change in words, absent voices and anomalies.
//!
//! It owns how things are drawn. It reads only the facade's query results
//! ([`shiftlog::PlaceHistory`], [`shiftlog::Snapshot`], [`shiftlog::Diff`]) and knows
//! nothing of storage, HTTP or the command line. Layout is ForceAtlas2 from the `fa2`
//! crate; charts are drawn by `plotters`; network drawings are built with the `svg`
//! crate (which escapes every text and attribute). See `docs/pictures.md`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod chart;
mod html;
mod layout;
mod network;
mod output;
mod overview;

pub use html::ReportOptions;
pub use layout::Layout;
pub use network::{
    draw_network, draw_thumbnail, shared_markers, thinned_note, NetworkStyle, SizeBy, REPORT_THIN_ABOVE,
    THINNED_LABELS, THUMBNAIL_RELATIONSHIPS,
};
pub use output::{report, write_report, Progress, ReportForm, Written, GROUP_EVENTS, HANDFUL};

use shiftlog::Timestamp;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A query failed.
    #[error(transparent)]
    Projection(#[from] shiftlog::ProjectionError),
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] shiftlog::StoreError),
    /// The log holds no places (or none were asked for).
    #[error("there are no places to report on: append events first")]
    NoPlaces,
    /// `from` is after `to`.
    #[error("the period is empty: from {from} is after to {to}")]
    EmptyRange {
        /// The first date asked for.
        from: Timestamp,
        /// The last date asked for.
        to: Timestamp,
    },
    /// A chart could not be drawn.
    #[error("drawing a chart failed: {0}")]
    Chart(String),
    /// Writing the report failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something other than an earlier shiftlog report is where the report would go.
    #[error("{} is {what} that is not a shiftlog report; choose another --out, or move it away first", path.display())]
    WouldReplace {
        /// Where the report would go.
        path: std::path::PathBuf,
        /// "a file" or "a folder".
        what: &'static str,
    },
}
