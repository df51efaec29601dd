//! A network survey wave: a whole observation, at one date, of a place's relationships of
//! the kinds that appear in it.
//!
//! Compared with the network as known at the wave's date, the wave records: actors joining
//! (those on its actors sheet, or named in a relationship, who are not active then),
//! relationships formed (in the wave, not active), changed (active, and a strength, trust
//! or value in the wave differs) and ended (active, of a kind the wave covers, and absent
//! from it), all at the wave's date. An actor missing from a wave does not leave: a survey
//! not answered is not a departure.

use crate::{ImportError, Problem, Table};
use sha2::{Digest, Sha256};
use shiftlog::{PlaceId, Snapshot, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one wave is.
#[derive(Debug, Clone, Copy)]
pub struct SurveyWave<'a> {
    /// The place surveyed.
    pub place: &'a PlaceId,
    /// The date of the wave: every event it records happens then.
    pub wave: Timestamp,
    /// One row per relationship: `from`, `to`, `kind`, optionally `strength`, `trust`,
    /// `value` (each in [0, 1]) and `directed` (true or false).
    pub relationships: &'a Table,
    /// One row per actor: `id`, `kind`, optionally `name`, `sector`, `roles` (separated by
    /// `;`). Needed for actors who are not active in the place at the wave's date.
    pub actors: Option<&'a Table>,
    /// Who records the import (the events' `recorded_by`).
    pub recorded_by: Option<&'a str>,
    /// What the events' ids start with: `survey`, `kumu`.
    pub source: &'a str,
}

/// What the import would record.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The events, in the order they are appended.
    pub events: Vec<PlannedEvent>,
}

/// One event of a plan.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    /// The event in the interchange format.
    pub event: serde_json::Value,
    /// What it changes, for people.
    pub change: Change,
    /// Where it comes from: the file, sheet and row (or "not in the wave" for an ending).
    pub origin: Problem,
}

/// What a planned event changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An actor joins the place.
    ActorJoins {
        /// The actor.
        actor: String,
    },
    /// A relationship forms.
    Forms {
        /// (from, to, kind)
        key: (String, String, String),
    },
    /// A relationship's values change: (field, before, after) for each that differs.
    Changes {
        /// (from, to, kind)
        key: (String, String, String),
        /// The fields that change.
        fields: Vec<(&'static str, Option<f64>, f64)>,
    },
    /// A relationship ends.
    Ends {
        /// (from, to, kind)
        key: (String, String, String),
    },
}

impl Change {
    /// The event type it is recorded as.
    pub fn event_type(&self) -> &'static str {
        match self {
            Change::ActorJoins { .. } => "actor_joined",
            Change::Forms { .. } => "relationship_formed",
            Change::Changes { .. } => "relationship_changed",
            Change::Ends { .. } => "relationship_ended",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::ActorJoins { actor } => write!(f, "+ actor {actor} joins"),
            Change::Forms { key: (a, b, k) } => write!(f, "+ {a} → {b} ({k}) forms"),
            Change::Changes { key: (a, b, k), fields } => {
                write!(f, "~ {a} → {b} ({k}):")?;
                for (field, before, after) in fields {
                    match before {
                        Some(x) => write!(f, " {field} {x} → {after}")?,
                        None => write!(f, " {field} unrated → {after}")?,
                    }
                }
                Ok(())
            }
            Change::Ends { key: (a, b, k) } => write!(f, "- {a} → {b} ({k}) ends"),
        }
    }
}

impl Plan {
    /// The events as NDJSON, one per line, in order.
    pub fn ndjson(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            out.push_str(&e.event.to_string());
            out.push('\n');
        }
        out
    }

    /// How many events of each type.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for e in &self.events {
            *out.entry(e.change.event_type()).or_insert(0) += 1;
        }
        out
    }
}

/// The actor kinds of the interchange format.
const ACTOR_KINDS: [&str; 4] = ["person", "organisation", "group", "network"];

struct ActorRow {
    row: usize,
    id: String,
    kind: String,
    name: Option<String>,
    sector: Option<String>,
    roles: Vec<String>,
}

struct RelationshipRow {
    row: usize,
    key: (String, String, String),
    strength: Option<f64>,
    trust: Option<f64>,
    value: Option<f64>,
    directed: Option<bool>,
}

/// Plans `wave` against `at_wave`, the place's snapshot at the wave's date as the log
/// stands. Every problem in the files is reported, not only the first.
pub fn plan_wave(wave: &SurveyWave<'_>, at_wave: &Snapshot) -> Result<Plan, ImportError> {
    let mut problems = Vec::new();
    let actors = match wave.actors {
        Some(t) => read_actors(t, &mut problems),
        None => Vec::new(),
    };
    let listed: HashMap<&str, &ActorRow> = actors.iter().map(|a| (a.id.as_str(), a)).collect();
    let active: BTreeSet<&str> = at_wave.actors.iter().map(|a| a.id.as_str()).collect();
    let rows = read_relationships(wave.relationships, &mut problems, |id| {
        active.contains(id) || listed.contains_key(id)
    });
    if !problems.is_empty() {
        return Err(ImportError::Problems(problems));
    }

    let place = wave.place.as_str();
    let mut plan = Plan::default();
    let mut push = |mut event: serde_json::Value, change: Change, origin: Problem| {
        event["occurred_at"] = wave.wave.to_string().into();
        event["place"] = place.into();
        if let Some(who) = wave.recorded_by {
            event["recorded_by"] = who.into();
        }
        // The id is the source's and the content's: the same wave imported again gives
        // the same ids (and the engine writes nothing), a corrected one new ids only for
        // what changed.
        let digest = Sha256::digest(format!("{place}\n{event}").as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        event["id"] = format!("{}-{}-{hex}", wave.source, wave.wave.as_datetime().format("%Y-%m-%d")).into();
        plan.events.push(PlannedEvent { event, change, origin });
    };

    // Actors first: the relationships below need them active.
    for a in actors.iter().filter(|a| !active.contains(a.id.as_str())) {
        let mut e = serde_json::json!({"type": "actor_joined", "actor": a.id, "kind": a.kind});
        if let Some(n) = &a.name {
            e["name"] = n.as_str().into();
        }
        if let Some(s) = &a.sector {
            e["sector"] = s.as_str().into();
        }
        if !a.roles.is_empty() {
            e["roles"] = a.roles.clone().into();
        }
        let origin = wave
            .actors
            .map_or_else(|| origin_of(wave.relationships, None), |t| origin_of(t, Some(a.row)));
        push(e, Change::ActorJoins { actor: a.id.clone() }, origin);
    }

    // Then endings: active relationships of the kinds the wave covers that it no longer has.
    let kinds: BTreeSet<&str> = rows.iter().map(|r| r.key.2.as_str()).collect();
    let in_wave: BTreeSet<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.key.0.as_str(), r.key.1.as_str(), r.key.2.as_str()))
        .collect();
    for r in &at_wave.relationships {
        let key = (r.from.as_str(), r.to.as_str(), r.kind.as_str());
        if kinds.contains(key.2) && !in_wave.contains(&key) {
            let e = serde_json::json!({"type": "relationship_ended", "from": r.from, "to": r.to, "kind": r.kind});
            let mut origin = origin_of(wave.relationships, None);
            origin.message = "active before the wave and not in it".into();
            push(e, Change::Ends { key: owned(key) }, origin);
        }
    }

    // Then what the wave holds, row by row: new relationships form, known ones change
    // where a value differs.
    let current: HashMap<(&str, &str, &str), &shiftlog::projection::RelationshipView> = at_wave
        .relationships
        .iter()
        .map(|r| ((r.from.as_str(), r.to.as_str(), r.kind.as_str()), r))
        .collect();
    for row in &rows {
        let key = (row.key.0.as_str(), row.key.1.as_str(), row.key.2.as_str());
        let origin = origin_of(wave.relationships, Some(row.row));
        match current.get(&key) {
            None => {
                let mut e =
                    serde_json::json!({"type": "relationship_formed", "from": key.0, "to": key.1, "kind": key.2});
                for (field, v) in [("strength", row.strength), ("trust", row.trust), ("value", row.value)] {
                    if let Some(v) = v {
                        e[field] = v.into();
                    }
                }
                if let Some(d) = row.directed {
                    e["directed"] = d.into();
                }
                push(e, Change::Forms { key: row.key.clone() }, origin);
            }
            Some(now) => {
                let mut fields = Vec::new();
                for (field, before, after) in [
                    ("strength", Some(now.strength), row.strength),
                    ("trust", now.trust, row.trust),
                    ("value", now.value, row.value),
                ] {
                    if let Some(after) = after {
                        if before.is_none_or(|b| (b - after).abs() > 1e-9) {
                            fields.push((field, before, after));
                        }
                    }
                }
                if fields.is_empty() {
                    continue;
                }
                let mut e =
                    serde_json::json!({"type": "relationship_changed", "from": key.0, "to": key.1, "kind": key.2});
                for (field, _, after) in &fields {
                    e[*field] = (*after).into();
                }
                push(
                    e,
                    Change::Changes {
                        key: row.key.clone(),
                        fields,
                    },
                    origin,
                );
            }
        }
    }
    Ok(plan)
}

fn owned((a, b, c): (&str, &str, &str)) -> (String, String, String) {
    (a.to_string(), b.to_string(), c.to_string())
}

fn origin_of(t: &Table, row: Option<usize>) -> Problem {
    t.problem(row, None, String::new())
}

/// The columns a sheet must have, by index; a problem for each one missing.
fn required<const N: usize>(t: &Table, names: [&str; N], problems: &mut Vec<Problem>) -> Option<[usize; N]> {
    let mut out = [0; N];
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        match t.column(name) {
            Some(c) => out[i] = c,
            None => {
                ok = false;
                problems.push(t.problem(
                    None,
                    None,
                    format!(
                        "no column `{name}` (the header row has: {})",
                        match t.columns.len() {
                            0 => "nothing".to_string(),
                            // Enough to recognise the sheet; a wide one is not listed whole.
                            n @ 13.. => format!("{}, and {} more", t.columns[..12].join(", "), n - 12),
                            _ => t.columns.join(", "),
                        }
                    ),
                ));
            }
        }
    }
    ok.then_some(out)
}

fn cell(row: &crate::Row, column: usize) -> &str {
    row.cells.get(column).map_or("", String::as_str)
}

/// An identifier cell: not empty, and a valid id (1 to 128 characters, no control
/// characters).
fn id_cell(t: &Table, row: &crate::Row, column: usize, problems: &mut Vec<Problem>) -> Option<String> {
    let v = cell(row, column);
    if v.is_empty() {
        problems.push(t.problem(Some(row.number), Some(column), "is empty"));
        return None;
    }
    match shiftlog::ActorId::new(v) {
        Ok(_) => Some(v.to_string()),
        Err(e) => {
            problems.push(t.problem(
                Some(row.number),
                Some(column),
                format!("`{v}` is not a valid id: it {e}"),
            ));
            None
        }
    }
}

fn read_actors(t: &Table, problems: &mut Vec<Problem>) -> Vec<ActorRow> {
    let Some([id, kind]) = required(t, ["id", "kind"], problems) else {
        return Vec::new();
    };
    let (name, sector, roles) = (t.column("name"), t.column("sector"), t.column("roles"));
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for row in &t.rows {
        let Some(actor) = id_cell(t, row, id, problems) else {
            continue;
        };
        if let Some(first) = seen.insert(actor.clone(), row.number) {
            problems.push(t.problem(
                Some(row.number),
                Some(id),
                format!("actor `{actor}` is listed again (first on row {first})"),
            ));
            continue;
        }
        let k = cell(row, kind).to_lowercase();
        if !ACTOR_KINDS.contains(&k.as_str()) {
            problems.push(t.problem(
                Some(row.number),
                Some(kind),
                format!(
                    "`{}` is not a kind of actor: use person, organisation, group or network",
                    cell(row, kind)
                ),
            ));
            continue;
        }
        let optional = |c: Option<usize>| c.map(|c| cell(row, c)).filter(|v| !v.is_empty()).map(str::to_string);
        out.push(ActorRow {
            row: row.number,
            id: actor,
            kind: k,
            name: optional(name),
            sector: optional(sector).map(|s| s.to_lowercase()),
            roles: optional(roles)
                .map(|r| {
                    r.split([';', ','])
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    out
}

fn read_relationships(t: &Table, problems: &mut Vec<Problem>, known: impl Fn(&str) -> bool) -> Vec<RelationshipRow> {
    let Some([from, to, kind]) = required(t, ["from", "to", "kind"], problems) else {
        return Vec::new();
    };
    if t.rows.is_empty() {
        problems.push(t.problem(
            None,
            None,
            "has no relationships: a wave with none would end every relationship",
        ));
        return Vec::new();
    }
    let numbers = [
        ("strength", t.column("strength")),
        ("trust", t.column("trust")),
        ("value", t.column("value")),
    ];
    let directed = t.column("directed");
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let mut out = Vec::new();
    for row in &t.rows {
        let before = problems.len();
        let ends: Vec<Option<String>> = [from, to]
            .into_iter()
            .map(|c| {
                let id = id_cell(t, row, c, problems)?;
                if !known(&id) {
                    problems.push(t.problem(
                        Some(row.number),
                        Some(c),
                        format!(
                            "actor `{id}` is not in the place at the wave's date and not on the actors sheet \
                             (for a Kumu map: not among its elements): add it there"
                        ),
                    ));
                }
                Some(id)
            })
            .collect();
        let k = cell(row, kind);
        if k.is_empty() {
            problems.push(t.problem(Some(row.number), Some(kind), "is empty"));
        }
        let mut values = [None; 3];
        for (slot, (field, column)) in values.iter_mut().zip(numbers) {
            let Some(c) = column else { continue };
            let v = cell(row, c);
            if v.is_empty() {
                continue;
            }
            match v.parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => *slot = Some(x),
                Ok(x) => problems.push(t.problem(
                    Some(row.number),
                    Some(c),
                    format!("{field} {x} is out of range: it must be between 0 and 1"),
                )),
                Err(_) => problems.push(t.problem(
                    Some(row.number),
                    Some(c),
                    format!("`{v}` is not a number (a {field} between 0 and 1)"),
                )),
            }
        }
        let mut is_directed = None;
        if let Some(c) = directed {
            match cell(row, c).to_lowercase().as_str() {
                "" => {}
                "true" | "yes" | "y" | "1" => is_directed = Some(true),
                "false" | "no" | "n" | "0" => is_directed = Some(false),
                v => problems.push(t.problem(
                    Some(row.number),
                    Some(c),
                    format!("`{v}` is not true or false (yes or no)"),
                )),
            }
        }
        let (Some(a), Some(b)) = (ends[0].clone(), ends[1].clone()) else {
            continue;
        };
        if a == b {
            problems.push(t.problem(
                Some(row.number),
                Some(to),
                format!("a relationship of `{a}` with itself: from and to must differ"),
            ));
        }
        if problems.len() > before {
            continue;
        }
        let key = (a, b, k.to_string());
        if let Some(first) = seen.insert(key.clone(), row.number) {
            problems.push(t.problem(
                Some(row.number),
                None,
                format!(
                    "repeats row {first} ({} → {}, {}): a wave holds each relationship once",
                    key.0, key.1, key.2
                ),
            ));
            continue;
        }
        out.push(RelationshipRow {
            row: row.number,
            key,
            strength: values[0],
            trust: values[1],
            value: values[2],
            directed: is_directed,
        });
    }
    out
}
