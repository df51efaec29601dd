//! A snapshot as a workbook for people who work in spreadsheets: an `Actors` sheet and a
//! `Relationships` sheet, in the shape a survey wave is read from, so that the workbook
//! can be edited and imported back as a wave (`shiftlog import survey`).

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use shiftlog::projection::ActorMeasure;
use shiftlog::Snapshot;
use std::collections::BTreeSet;

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the workbook: {0}")]
pub struct WorkbookError(#[from] XlsxError);

/// `snapshot` as XLSX bytes. Actors: `id`, `name`, `kind`, `sector`, `roles` (separated by
/// `; `), `since`, every actor measure of the registry (`ActorMeasure::ALL`: `degree`,
/// `betweenness`, then the others; empty where undefined), then `power: DOMAIN` for each
/// power domain.
/// Relationships: `from`, `to`, `kind`, `strength`, `trust`, `value`, `directed`, `since`.
/// A redacted actor's name is left empty. Cells starting with `=`, `+`, `-` or `@` are
/// written as text, never as formulas.
pub fn write_workbook(snapshot: &Snapshot) -> Result<Vec<u8>, WorkbookError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let domains: BTreeSet<&str> = snapshot
        .actors
        .iter()
        .flat_map(|a| a.power.keys().map(String::as_str))
        .collect();

    let actors = book.add_worksheet();
    actors.set_name("Actors")?;
    let mut header = vec![
        "id".to_string(),
        "name".into(),
        "kind".into(),
        "sector".into(),
        "roles".into(),
        "since".into(),
    ];
    header.extend(ActorMeasure::ALL.iter().map(|m| m.key().to_string()));
    let first_power = header.len() as u16;
    header.extend(domains.iter().map(|d| format!("power: {d}")));
    for (c, h) in header.iter().enumerate() {
        actors.write_string_with_format(0, c as u16, h, &bold)?;
    }
    for (i, a) in snapshot.actors.iter().enumerate() {
        let r = i as u32 + 1;
        actors.write_string(r, 0, &a.id)?;
        if !a.redacted {
            actors.write_string(r, 1, a.name.as_deref().unwrap_or(""))?;
        }
        actors.write_string(r, 2, &a.kind)?;
        actors.write_string(r, 3, a.sector.as_deref().unwrap_or(""))?;
        actors.write_string(r, 4, a.roles.join("; "))?;
        actors.write_string(r, 5, a.since.to_string())?;
        for (j, m) in ActorMeasure::ALL.iter().enumerate() {
            if let Some(v) = m.value(a) {
                actors.write_number(r, 6 + j as u16, v)?;
            }
        }
        for (j, d) in domains.iter().enumerate() {
            if let Some(v) = a.power.get(*d) {
                actors.write_number(r, first_power + j as u16, *v)?;
            }
        }
    }
    actors.autofit();

    let rels = book.add_worksheet();
    rels.set_name("Relationships")?;
    for (c, h) in ["from", "to", "kind", "strength", "trust", "value", "directed", "since"]
        .iter()
        .enumerate()
    {
        rels.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, x) in snapshot.relationships.iter().enumerate() {
        let r = i as u32 + 1;
        rels.write_string(r, 0, &x.from)?;
        rels.write_string(r, 1, &x.to)?;
        rels.write_string(r, 2, &x.kind)?;
        rels.write_number(r, 3, x.strength)?;
        if let Some(t) = x.trust {
            rels.write_number(r, 4, t)?;
        }
        if let Some(v) = x.value {
            rels.write_number(r, 5, v)?;
        }
        rels.write_boolean(r, 6, x.directed)?;
        rels.write_string(r, 7, x.since.to_string())?;
    }
    rels.autofit();
    Ok(book.save_to_buffer()?)
}
