//! Pictures of shiftlog's networks for people: a stable [`Layout`] per place, one
//! snapshot drawn as SVG ([`draw_network`]), and the self-contained HTML [`report`]
//! (networks at the moments that matter, metric and power charts, the change in words,
//! absent voices, anomalies, and a comparison of places).
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

pub use html::{report, ReportOptions};
pub use layout::Layout;
pub use network::{draw_network, NetworkStyle, SizeBy};

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
}
