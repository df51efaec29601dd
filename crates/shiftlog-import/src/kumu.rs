//! A Kumu map as a survey wave: its elements are the actors, its connections the
//! relationships, observed at one date.
//!
//! Read from a Kumu JSON blueprint (`{"elements": [...], "connections": [...]}`, each an
//! object of fields), from a workbook with `Elements` and `Connections` sheets, or from two
//! CSV files; then mapped onto the survey's columns and planned as a wave
//! ([`crate::plan_wave`]), so a map records what changed since the network as known at its
//! date, and importing it again records nothing.
//!
//! The mapping (documented in `docs/recording.md`):
//!
//! | Kumu | shiftlog |
//! |---|---|
//! | element `ID` (else `Label`) | actor id |
//! | element `Name` (else `Label`) | actor name |
//! | element `Type` | actor kind: person, organisation (organization), group, network; others as `--element-kind` |
//! | element field named by `--sector-field` (default `Sector`) | sector (lower case) |
//! | connection `From`, `To` (an element's ID or Label) | from, to |
//! | connection `Type` | relationship kind (lower case; empty: `--connection-kind`) |
//! | connection `Direction` | directed (`directed`: true; `mutual`, `undirected`: false) |
//! | connection fields named by `--strength-field`, `--trust-field`, `--value-field` (default `Strength`, `Trust`, `Value`) | strength, trust, value |

use crate::table::Row;
use crate::{ImportError, Table};
use std::collections::HashMap;

/// A Kumu map as read: its elements and its connections.
#[derive(Debug, Clone)]
pub struct KumuMap {
    /// One row per element.
    pub elements: Table,
    /// One row per connection.
    pub connections: Table,
}

/// Which Kumu fields carry what (names compared without case, spaces or underscores).
#[derive(Debug, Clone)]
pub struct KumuFields {
    /// The element field holding the sector.
    pub sector: String,
    /// The connection field holding the strength.
    pub strength: String,
    /// The connection field holding the trust score.
    pub trust: String,
    /// The connection field holding the value score.
    pub value: String,
    /// The kind of an actor whose element `Type` is empty or not one of shiftlog's.
    pub element_kind: String,
    /// The kind of a relationship whose connection `Type` is empty.
    pub connection_kind: String,
}

impl Default for KumuFields {
    fn default() -> Self {
        KumuFields {
            sector: "Sector".into(),
            strength: "Strength".into(),
            trust: "Trust".into(),
            value: "Value".into(),
            element_kind: "organisation".into(),
            connection_kind: "connection".into(),
        }
    }
}

/// Reads a Kumu JSON blueprint.
pub fn read_blueprint(file: &str, bytes: &[u8]) -> Result<KumuMap, ImportError> {
    let read = |message: String| ImportError::Read {
        file: file.to_string(),
        message,
    };
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| read(format!("is not JSON: {e} (line {}, column {})", e.line(), e.column())))?;
    let sheet = |name: &str| -> Result<Table, ImportError> {
        let items = match v.get(name) {
            Some(serde_json::Value::Array(items)) => items.as_slice(),
            None => &[],
            Some(_) => return Err(read(format!("`{name}` is not a list"))),
        };
        let mut columns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut rows = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(fields) = item.as_object() else {
                return Err(read(format!("{name} item {} is not an object", i + 1)));
            };
            let mut cells = vec![String::new(); columns.len()];
            // Kumu nests fields under `attributes` in some exports; read both levels.
            let nested = fields.get("attributes").and_then(|a| a.as_object());
            for (key, value) in fields.iter().chain(nested.into_iter().flatten()) {
                if key == "attributes" {
                    continue;
                }
                let c = *index.entry(key.clone()).or_insert_with(|| {
                    columns.push(key.clone());
                    columns.len() - 1
                });
                if cells.len() <= c {
                    cells.resize(c + 1, String::new());
                }
                cells[c] = match value {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.trim().to_string(),
                    serde_json::Value::Array(xs) => xs
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
            }
            rows.push(Row { number: i + 1, cells });
        }
        Ok(Table {
            file: file.to_string(),
            sheet: Some(name.to_string()),
            // A blueprint has fields, not lettered columns: problems name the field.
            labels: Some(columns.clone()),
            columns,
            rows,
        })
    };
    Ok(KumuMap {
        elements: sheet("elements")?,
        connections: sheet("connections")?,
    })
}

/// The map as a survey wave's relationships and actors sheets, every problem pointing at
/// the map's own rows and columns.
pub fn as_wave(map: &KumuMap, fields: &KumuFields) -> Result<(Table, Table), ImportError> {
    let mut problems = Vec::new();
    let (e, c) = (&map.elements, &map.connections);

    // Elements: who is who, by ID and by Label.
    let id_col = e.column("id").or_else(|| e.column("_id"));
    let label_col = e.column("label");
    let Some(key_col) = id_col.or(label_col) else {
        problems.push(e.problem(None, None, "no column `Label` (or `ID`) to name the elements by"));
        return Err(ImportError::Problems(problems));
    };
    let name_col = e.column("name").or(label_col);
    let (type_col, sector_col) = (
        e.column("type").or_else(|| e.column("element type")),
        e.column(&fields.sector),
    );
    let mut by_label: HashMap<String, String> = HashMap::new();
    let mut actors = derived(
        e,
        [
            ("id", Some(key_col)),
            ("name", name_col),
            ("kind", type_col),
            ("sector", sector_col),
        ],
    );
    for row in &e.rows {
        let cell = |c: Option<usize>| c.and_then(|c| row.cells.get(c)).map_or("", |s| s.as_str());
        let id = cell(Some(key_col)).to_string();
        if let Some(l) = label_col {
            by_label.insert(cell(Some(l)).to_string(), id.clone());
        }
        let kind = match cell(type_col).to_lowercase().as_str() {
            "person" | "people" | "individual" => "person",
            "organisation" | "organization" => "organisation",
            "group" | "community group" => "group",
            "network" | "partnership" => "network",
            _ => fields.element_kind.as_str(),
        }
        .to_string();
        actors.rows.push(Row {
            number: row.number,
            cells: vec![id, cell(name_col).to_string(), kind, cell(sector_col).to_lowercase()],
        });
    }

    // Connections.
    let (from, to) = (c.column("from"), c.column("to"));
    for (name, col) in [("From", from), ("To", to)] {
        if col.is_none() && !c.rows.is_empty() {
            problems.push(c.problem(None, None, format!("no column `{name}` in the connections")));
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Problems(problems));
    }
    let type_col = c.column("type").or_else(|| c.column("connection type"));
    let direction = c.column("direction");
    let numbers = [
        c.column(&fields.strength),
        c.column(&fields.trust),
        c.column(&fields.value),
    ];
    let mut rels = derived(
        c,
        [
            ("from", from),
            ("to", to),
            ("kind", type_col),
            ("strength", numbers[0]),
            ("trust", numbers[1]),
            ("value", numbers[2]),
            ("directed", direction),
        ],
    );
    for row in &c.rows {
        let cell = |col: Option<usize>| col.and_then(|i| row.cells.get(i)).map_or("", |s| s.as_str());
        // From and To name an element by its ID or its Label.
        let end = |v: &str| by_label.get(v).cloned().unwrap_or_else(|| v.to_string());
        let kind = match cell(type_col) {
            "" => fields.connection_kind.clone(),
            k => k.to_lowercase(),
        };
        let directed = match cell(direction).to_lowercase().as_str() {
            "" => String::new(),
            "directed" => "true".into(),
            "mutual" | "undirected" => "false".into(),
            other => {
                let col = direction.expect("a direction was read");
                problems.push(c.problem(
                    Some(row.number),
                    Some(col),
                    format!("`{other}` is not a direction: use directed, mutual or undirected"),
                ));
                continue;
            }
        };
        rels.rows.push(Row {
            number: row.number,
            cells: vec![
                end(cell(from)),
                end(cell(to)),
                kind,
                cell(numbers[0]).to_string(),
                cell(numbers[1]).to_string(),
                cell(numbers[2]).to_string(),
                directed,
            ],
        });
    }
    if !problems.is_empty() {
        return Err(ImportError::Problems(problems));
    }
    Ok((rels, actors))
}

/// An empty sheet with the survey's `columns`, each labelled as the source column it comes
/// from (or as the survey's name when the source has none).
fn derived<const N: usize>(source: &Table, columns: [(&str, Option<usize>); N]) -> Table {
    Table {
        file: source.file.clone(),
        sheet: source.sheet.clone(),
        columns: columns.iter().map(|(n, _)| n.to_string()).collect(),
        rows: Vec::new(),
        labels: Some(
            columns
                .iter()
                .map(|(n, c)| c.map_or_else(|| format!("({n})"), |c| source.column_label(c)))
                .collect(),
        ),
    }
}

/// The elements and connections sheets of a workbook (`Elements` and `Connections`).
pub fn from_workbook(file: &str, mut sheets: Vec<Table>) -> Result<KumuMap, ImportError> {
    let mut take = |name: &str| -> Result<Table, ImportError> {
        match sheets.iter().position(|t| t.is_named(name)) {
            Some(i) => Ok(sheets.remove(i)),
            None => Err(ImportError::Read {
                file: file.to_string(),
                message: format!(
                    "has no sheet `{name}` (its sheets: {})",
                    sheets
                        .iter()
                        .filter_map(|t| t.sheet.as_deref())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    };
    let elements = take("Elements")?;
    let connections = take("Connections").unwrap_or_else(|_| Table {
        file: file.to_string(),
        sheet: Some("Connections".into()),
        columns: Vec::new(),
        rows: Vec::new(),
        labels: None,
    });
    Ok(KumuMap { elements, connections })
}
