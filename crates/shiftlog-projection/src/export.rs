//! Writing networks out for other tools: DOT (Graphviz), GraphML, GEXF 1.3 (Gephi; a
//! static snapshot, or the whole history with spells), CSV edge lists and Kumu blueprints.

use crate::fold::{ActorState, PlaceState, RelationshipKey, RelationshipState};
use crate::query::PlaceHistory;
use crate::snapshot::Snapshot;
use shiftlog_model::{ActorId, Timestamp};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Whether XML 1.0 (and so GEXF, GraphML and SVG) may hold `c` as text: not a control
/// character other than tab and line ends, and not the noncharacters U+FFFE and U+FFFF.
pub fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !(c.is_control() || c == '\u{fffe}' || c == '\u{ffff}')
}

/// Escapes text for XML 1.0 (and HTML) attributes and content; characters XML cannot
/// hold become U+FFFD.
///
/// ```
/// assert_eq!(shiftlog_projection::escape_xml("Tom & \"Jerry\" <\u{1}>"), "Tom &amp; &quot;Jerry&quot; &lt;\u{fffd}&gt;");
/// assert_eq!(shiftlog_projection::escape_xml("A\u{ffff}B"), "A\u{fffd}B");
/// ```
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if xml_allows(c) => out.push(c),
            _ => out.push('\u{fffd}'),
        }
    }
    out
}

/// Escapes text for a DOT quoted string.
fn dot(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            '\n' => "\\n".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn label(id: &str, name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| id.to_string())
}

/// A snapshot as a Graphviz DOT digraph: nodes labelled by name, edges by kind, edge
/// width by strength.
pub fn to_dot(s: &Snapshot) -> String {
    let mut out = format!("digraph \"{}\" {{\n", dot(&s.place));
    for a in &s.actors {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\", kind=\"{}\", sector=\"{}\"];",
            dot(&a.id),
            dot(&label(&a.id, &a.name)),
            a.kind,
            dot(a.sector.as_deref().unwrap_or(""))
        );
    }
    for r in &s.relationships {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\", strength={}, penwidth={:.2}];",
            dot(&r.from),
            dot(&r.to),
            dot(&r.kind),
            r.strength,
            0.5 + 4.0 * r.strength
        );
    }
    out.push_str("}\n");
    out
}

/// A snapshot as GraphML.
pub fn to_graphml(s: &Snapshot) -> String {
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
        "  <key id=\"name\" for=\"node\" attr.name=\"name\" attr.type=\"string\"/>\n",
        "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n",
        "  <key id=\"sector\" for=\"node\" attr.name=\"sector\" attr.type=\"string\"/>\n",
        "  <key id=\"rkind\" for=\"edge\" attr.name=\"kind\" attr.type=\"string\"/>\n",
        "  <key id=\"strength\" for=\"edge\" attr.name=\"strength\" attr.type=\"double\"/>\n",
    ));
    let _ = writeln!(
        out,
        "  <graph id=\"{}\" edgedefault=\"directed\">",
        escape_xml(&s.place)
    );
    for a in &s.actors {
        let _ = writeln!(
            out,
            "    <node id=\"{}\"><data key=\"name\">{}</data><data key=\"kind\">{}</data><data key=\"sector\">{}</data></node>",
            escape_xml(&a.id),
            escape_xml(&label(&a.id, &a.name)),
            a.kind,
            escape_xml(a.sector.as_deref().unwrap_or(""))
        );
    }
    for (i, r) in s.relationships.iter().enumerate() {
        let _ = writeln!(
            out,
            "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"rkind\">{}</data><data key=\"strength\">{}</data></edge>",
            escape_xml(&r.from),
            escape_xml(&r.to),
            escape_xml(&r.kind),
            r.strength
        );
    }
    out.push_str("  </graph>\n</graphml>\n");
    out
}

const GEXF_HEAD: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<gexf xmlns=\"http://gexf.net/1.3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
    "xsi:schemaLocation=\"http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd\" version=\"1.3\">\n",
    "  <meta><creator>shiftlog</creator></meta>\n",
);

/// A snapshot as a static GEXF 1.3 graph.
pub fn to_gexf(s: &Snapshot) -> String {
    let mut out = String::from(GEXF_HEAD);
    out.push_str("  <graph mode=\"static\" defaultedgetype=\"directed\">\n");
    out.push_str("    <attributes class=\"node\"><attribute id=\"kind\" title=\"kind\" type=\"string\"/><attribute id=\"sector\" title=\"sector\" type=\"string\"/></attributes>\n");
    out.push_str(
        "    <attributes class=\"edge\"><attribute id=\"strength\" title=\"strength\" type=\"double\"/></attributes>\n",
    );
    out.push_str("    <nodes>\n");
    for a in &s.actors {
        let _ = writeln!(
            out,
            "      <node id=\"{}\" label=\"{}\"><attvalues><attvalue for=\"kind\" value=\"{}\"/><attvalue for=\"sector\" value=\"{}\"/></attvalues></node>",
            escape_xml(&a.id),
            escape_xml(&label(&a.id, &a.name)),
            a.kind,
            escape_xml(a.sector.as_deref().unwrap_or(""))
        );
    }
    out.push_str("    </nodes>\n    <edges>\n");
    for (i, r) in s.relationships.iter().enumerate() {
        let _ = writeln!(
            out,
            "      <edge id=\"e{i}\" source=\"{}\" target=\"{}\" label=\"{}\" weight=\"{}\"><attvalues><attvalue for=\"strength\" value=\"{}\"/></attvalues></edge>",
            escape_xml(&r.from),
            escape_xml(&r.to),
            escape_xml(&r.kind),
            r.strength,
            r.strength
        );
    }
    out.push_str("    </edges>\n  </graph>\n</gexf>\n");
    out
}

/// A CSV cell. Text a spreadsheet would read as a formula (starting `=`, `+`, `-`, `@`,
/// a tab or a line end) gets a leading `'`, so opening an export never runs anything.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A snapshot's relationships as a CSV edge list (`from,to,kind,strength,trust,value,directed,since`).
pub fn to_csv(s: &Snapshot) -> String {
    let mut out = String::from("from,to,kind,strength,trust,value,directed,since\n");
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &s.relationships {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv_field(&r.from),
            csv_field(&r.to),
            csv_field(&r.kind),
            r.strength,
            opt(r.trust),
            opt(r.value),
            r.directed,
            r.since
        );
    }
    out
}

/// A snapshot as a Kumu JSON blueprint (`elements` and `connections`).
pub fn to_kumu(s: &Snapshot) -> serde_json::Value {
    let elements: Vec<_> = s
        .actors
        .iter()
        .map(|a| {
            let mut element = serde_json::json!({
                "label": a.id,
                "type": a.kind,
                "name": label(&a.id, &a.name),
                "sector": a.sector,
                "roles": a.roles,
                "power": a.power,
            });
            // Every actor measure from the registry, as Kumu fields (null when undefined).
            for m in crate::ActorMeasure::ALL {
                element[m.key()] = serde_json::json!(m.value(a));
            }
            element
        })
        .collect();
    let connections: Vec<_> = s
        .relationships
        .iter()
        .map(|r| {
            serde_json::json!({
                "from": r.from,
                "to": r.to,
                "type": r.kind,
                "direction": if r.directed { "directed" } else { "mutual" },
                "strength": r.strength,
                "trust": r.trust,
                "value": r.value,
            })
        })
        .collect();
    serde_json::json!({ "elements": elements, "connections": connections })
}

/// A place's whole history as a Kumu JSON blueprint for Kumu's tagged-timeline control:
/// every element and connection the place ever had, each with `tags` naming every period
/// (`2024`, or `2024 Q1`, by `every`) in which it was active at some moment, and with its
/// latest values (name, kind, sector; strength, trust, value, direction). Elements are
/// labelled by actor id, as [`to_kumu`] does, so that a map read back gives the same ids.
pub fn to_kumu_timeline(h: &PlaceHistory, every: crate::Every) -> serde_json::Value {
    let period = |t: Timestamp| {
        let d = t.as_datetime();
        match every {
            crate::Every::Quarter => {
                let month: u32 = d.format("%m").to_string().parse().unwrap_or(1);
                format!("{} Q{}", d.format("%Y"), (month - 1) / 3 + 1)
            }
            _ => d.format("%Y").to_string(),
        }
    };
    let tag = |tags: &mut Vec<String>, p: &str| {
        if tags.last().map(String::as_str) != Some(p) {
            tags.push(p.to_string());
        }
    };
    let mut actor_tags: BTreeMap<ActorId, Vec<String>> = BTreeMap::new();
    let mut rel_tags: BTreeMap<RelationshipKey, Vec<String>> = BTreeMap::new();
    // The values each had when last active: an actor that left keeps its name, a
    // relationship that ended its last strength.
    let mut last_actor: BTreeMap<ActorId, ActorState> = BTreeMap::new();
    let mut last_rel: BTreeMap<RelationshipKey, RelationshipState> = BTreeMap::new();
    // Every period from the first event's to the last's, quiet ones included.
    let periods: Vec<String> = h
        .span()
        .and_then(|(first, last)| crate::steps(every, first, last))
        .unwrap_or_default()
        .into_iter()
        .map(period)
        .collect();
    let mut state = PlaceState::default();
    let mut next = 0;
    for (p, e) in h.events() {
        let now = period(e.occurred_at);
        // Entering new periods: everything still active is in each, even if nothing
        // touches it there.
        while next < periods.len() && periods[next] <= now {
            for (a, _) in state.actors.iter().filter(|(_, s)| s.active) {
                tag(actor_tags.entry(a.clone()).or_default(), &periods[next]);
            }
            for k in state.relationships.keys() {
                tag(rel_tags.entry(k.clone()).or_default(), &periods[next]);
            }
            next += 1;
        }
        let mut touched = Touched::default();
        touched.note(&state, e);
        state.apply(e, *p);
        // What an event makes active is in this period, even if it ends before its end.
        for a in touched.actors.keys() {
            if let Some(s) = state.actors.get(a).filter(|s| s.active) {
                tag(actor_tags.entry(a.clone()).or_default(), &now);
                last_actor.insert(a.clone(), s.clone());
            }
        }
        for k in touched.relationships.keys() {
            if let Some(r) = state.relationships.get(k) {
                tag(rel_tags.entry(k.clone()).or_default(), &now);
                last_rel.insert(k.clone(), r.clone());
            }
        }
    }
    let redacted = h.redacted();
    let elements: Vec<_> = actor_tags
        .iter()
        .filter_map(|(a, tags)| {
            let s = last_actor.get(a)?;
            let name = if redacted.contains(a) { None } else { s.name.clone() };
            Some(serde_json::json!({
                "label": a.as_str(),
                "type": s.kind.as_str(),
                "name": label(a.as_str(), &name),
                "sector": s.sector,
                "tags": tags,
            }))
        })
        .collect();
    let connections: Vec<_> = rel_tags
        .iter()
        .filter_map(|(k, tags)| {
            let r = last_rel.get(k)?;
            Some(serde_json::json!({
                "from": k.0.as_str(),
                "to": k.1.as_str(),
                "type": k.2,
                "direction": if r.directed { "directed" } else { "mutual" },
                "strength": r.strength,
                "trust": r.trust,
                "value": r.value,
                "tags": tags,
            }))
        })
        .collect();
    serde_json::json!({ "elements": elements, "connections": connections })
}

/// Open and closed spells of presence, and of values.
#[derive(Default)]
struct Spells {
    actors: BTreeMap<ActorId, Vec<(Timestamp, Option<Timestamp>)>>,
    names: BTreeMap<ActorId, Option<String>>,
    relationships: BTreeMap<RelationshipKey, Vec<(Timestamp, Option<Timestamp>)>>,
    strengths: BTreeMap<RelationshipKey, Vec<(f64, Timestamp, Option<Timestamp>)>>,
}

/// What a group of same-instant events may change: the actors and relationships they
/// touch, with their values before.
#[derive(Default)]
struct Touched {
    actors: BTreeMap<ActorId, bool>,
    relationships: BTreeMap<RelationshipKey, Option<f64>>,
}

impl Touched {
    fn note(&mut self, state: &PlaceState, e: &shiftlog_model::Event) {
        use shiftlog_model::EventBody as B;
        let mut actor = |a: &ActorId, also_relationships: bool| {
            self.actors
                .entry(a.clone())
                .or_insert_with(|| state.actors.get(a).is_some_and(|s| s.active));
            if also_relationships {
                for (k, r) in state.relationships.iter().filter(|(k, _)| &k.0 == a || &k.1 == a) {
                    self.relationships.entry(k.clone()).or_insert(Some(r.strength));
                }
            }
        };
        match &e.body {
            B::ActorJoined { actor: a, .. } | B::ActorUpdated { actor: a, .. } => actor(a, false),
            B::ActorLeft { actor: a } => actor(a, true),
            B::RelationshipFormed { from, to, kind, .. }
            | B::RelationshipChanged { from, to, kind, .. }
            | B::RelationshipEnded { from, to, kind } => {
                let k = (from.clone(), to.clone(), kind.clone());
                let before = state.relationships.get(&k).map(|r| r.strength);
                self.relationships.entry(k).or_insert(before);
            }
            _ => {}
        }
    }
}

impl Spells {
    /// Records at time `t` what changed for the touched actors and relationships.
    fn record(&mut self, touched: Touched, after: &PlaceState, t: Timestamp) {
        for (a, was) in touched.actors {
            let Some(s) = after.actors.get(&a) else { continue };
            if s.name.is_some() || !self.names.contains_key(&a) {
                self.names.insert(a.clone(), s.name.clone());
            }
            let spells = self.actors.entry(a).or_default();
            match (was, s.active) {
                (false, true) => spells.push((t, None)),
                (true, false) => {
                    if let Some(last) = spells.last_mut() {
                        last.1 = Some(t);
                    }
                }
                _ => {}
            }
        }
        for (k, before) in touched.relationships {
            match (before, after.relationships.get(&k)) {
                (None, Some(r)) => {
                    self.relationships.entry(k.clone()).or_default().push((t, None));
                    self.strengths.entry(k).or_default().push((r.strength, t, None));
                }
                (Some(_), None) => {
                    if let Some((_, end @ None)) = self.relationships.get_mut(&k).and_then(|s| s.last_mut()) {
                        *end = Some(t);
                    }
                    if let Some((_, _, end @ None)) = self.strengths.get_mut(&k).and_then(|s| s.last_mut()) {
                        *end = Some(t);
                    }
                }
                (Some(x), Some(r)) if x != r.strength => {
                    let values = self.strengths.entry(k).or_default();
                    if let Some((_, _, end @ None)) = values.last_mut() {
                        *end = Some(t);
                    }
                    values.push((r.strength, t, None));
                }
                _ => {}
            }
        }
    }
}

fn spell_xml(out: &mut String, start: Timestamp, end: Option<Timestamp>) {
    match end {
        Some(e) => {
            let _ = write!(out, "<spell start=\"{start}\" end=\"{e}\"/>");
        }
        None => {
            let _ = write!(out, "<spell start=\"{start}\"/>");
        }
    }
}

/// A place's whole history as one dynamic GEXF 1.3 graph that Gephi's timeline plays:
/// actors and relationships carry spells (when they were active) and strength is a dynamic
/// attribute. Actors whose data was redacted are labelled by id only.
pub fn to_gexf_dynamic(h: &PlaceHistory) -> String {
    let mut spells = Spells::default();
    let mut state = PlaceState::default();
    // Events at the same instant are folded together; the change is recorded once.
    let mut events = h.events().peekable();
    while let Some((p, e)) = events.next() {
        let mut touched = Touched::default();
        touched.note(&state, e);
        state.apply(e, *p);
        while let Some((q, f)) = events.next_if(|(_, f)| f.occurred_at == e.occurred_at) {
            touched.note(&state, f);
            state.apply(f, *q);
        }
        spells.record(touched, &state, e.occurred_at);
    }
    let redacted = h.redacted();
    let mut out = String::from(GEXF_HEAD);
    out.push_str("  <graph mode=\"dynamic\" defaultedgetype=\"directed\" timeformat=\"dateTime\">\n");
    out.push_str("    <attributes class=\"edge\" mode=\"dynamic\"><attribute id=\"strength\" title=\"strength\" type=\"double\"/></attributes>\n");
    out.push_str("    <nodes>\n");
    for (a, ss) in &spells.actors {
        let name = if redacted.contains(a) {
            None
        } else {
            spells.names.get(a).cloned().flatten()
        };
        let _ = write!(
            out,
            "      <node id=\"{}\" label=\"{}\"><spells>",
            escape_xml(a.as_str()),
            escape_xml(&label(a.as_str(), &name))
        );
        for (s, e) in ss {
            spell_xml(&mut out, *s, *e);
        }
        out.push_str("</spells></node>\n");
    }
    out.push_str("    </nodes>\n    <edges>\n");
    for (i, (k, ss)) in spells.relationships.iter().enumerate() {
        let _ = write!(
            out,
            "      <edge id=\"e{i}\" source=\"{}\" target=\"{}\" label=\"{}\"><attvalues>",
            escape_xml(k.0.as_str()),
            escape_xml(k.1.as_str()),
            escape_xml(&k.2)
        );
        for (v, s, e) in spells.strengths.get(k).into_iter().flatten() {
            let _ = write!(out, "<attvalue for=\"strength\" value=\"{v}\" start=\"{s}\"");
            if let Some(e) = e {
                let _ = write!(out, " end=\"{e}\"");
            }
            out.push_str("/>");
        }
        out.push_str("</attvalues><spells>");
        for (s, e) in ss {
            spell_xml(&mut out, *s, *e);
        }
        out.push_str("</spells></edge>\n");
    }
    out.push_str("    </edges>\n  </graph>\n</gexf>\n");
    out
}
