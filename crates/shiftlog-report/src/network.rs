//! One snapshot drawn as SVG: actors as circles (size by degree or power, colour by
//! sector), relationships as lines (width by strength, colour by kind, arrows when
//! directed), placed by a [`Layout`].

use crate::Layout;
use shiftlog::Snapshot;
use std::fmt::Write;
use svg::node::element::{Circle, Definitions, Group, Line, Marker, Path, Rectangle, Text, Title};
use svg::Document;

/// What a node's size shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SizeBy {
    /// Distinct neighbours.
    #[default]
    Degree,
    /// The actor's total holding over all power domains.
    Power,
}

impl std::str::FromStr for SizeBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "degree" => Ok(SizeBy::Degree),
            "power" => Ok(SizeBy::Power),
            other => Err(format!("`{other}` is not degree or power")),
        }
    }
}

/// How to draw a network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkStyle {
    /// Width of the drawing, in SVG user units.
    pub width: f64,
    /// Height of the drawing area for the network (the legend adds below it).
    pub height: f64,
    /// What a node's size shows.
    pub size_by: SizeBy,
    /// A drawing with more actors or relationships than this is *thinned* to stay light
    /// (see [`draw_network`]); `usize::MAX` never thins.
    pub thin_above: usize,
    /// Arrowheads refer to markers that the page defines once ([`shared_markers`]) instead
    /// of markers defined in every drawing: for pages with many drawings.
    pub shared_markers: bool,
}

impl Default for NetworkStyle {
    fn default() -> Self {
        NetworkStyle {
            width: 600.0,
            height: 420.0,
            size_by: SizeBy::Degree,
            thin_above: usize::MAX,
            shared_markers: false,
        }
    }
}

impl NetworkStyle {
    /// The style of the report's drawings: thinned above [`REPORT_THIN_ABOVE`] actors or
    /// relationships, with markers shared by the page.
    pub fn for_report(size_by: SizeBy) -> Self {
        NetworkStyle {
            size_by,
            thin_above: REPORT_THIN_ABOVE,
            shared_markers: true,
            ..NetworkStyle::default()
        }
    }

    /// Whether `snapshot` is drawn thinned in this style.
    pub fn thins(&self, snapshot: &Snapshot) -> bool {
        snapshot.actors.len() > self.thin_above || snapshot.relationships.len() > self.thin_above
    }
}

/// Above this many actors or relationships the report thins a drawing. Measured on the
/// scale generator's places (about 220 actors, 940 relationships): one relationship drawn
/// with its own line, tooltip and data attributes is about 320 bytes, thinned about 25, so
/// a place's page went from 1.6 MB to about 0.3 MB. Below it, every detail is kept.
pub const REPORT_THIN_ABOVE: usize = 300;

/// How many actors a thinned drawing names beside their circle (the largest); the others
/// are named in their tooltip.
pub const THINNED_LABELS: usize = 30;

/// Colours per sector (the spec's list; anything else is grey). Chosen to stay apart for
/// the common kinds of colour blindness (Okabe–Ito).
pub(crate) const SECTORS: &[(&str, &str)] = &[
    ("public", "#0072B2"),
    ("vcse", "#009E73"),
    ("health", "#D55E00"),
    ("community", "#E69F00"),
    ("funder", "#CC79A7"),
    ("academic", "#56B4E9"),
    ("faith", "#8C6D31"),
    ("business", "#000000"),
];
const OTHER_SECTOR: &str = "#999999";

/// Colours per relationship kind.
const KINDS: &[(&str, &str)] = &[
    ("collaboration", "#4d4d4d"),
    ("funding", "#CC79A7"),
    ("information", "#56B4E9"),
    ("accountability", "#0072B2"),
    ("trust", "#009E73"),
];
const OTHER_KIND: &str = "#bbbbbb";

pub(crate) fn sector_colour(sector: Option<&str>) -> &'static str {
    let s = sector.unwrap_or("");
    SECTORS.iter().find(|(k, _)| *k == s).map_or(OTHER_SECTOR, |(_, c)| c)
}

fn kind_colour(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map_or(OTHER_KIND, |(_, c)| c)
}

/// What a person should read for an actor: its name, or its id when it has none, or
/// "redacted" when its personal data was erased.
pub(crate) fn display_name(a: &shiftlog::projection::ActorView) -> String {
    if a.redacted {
        "(redacted)".to_string()
    } else {
        clean(a.name.as_deref().unwrap_or(&a.id))
    }
}

/// Free text made safe for XML: the `svg` crate escapes markup but cannot know that XML
/// forbids most control characters and U+FFFE/U+FFFF, which a name or a kind could carry.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if shiftlog::projection::xml_allows(c) {
                c
            } else {
                '\u{fffd}'
            }
        })
        .collect()
}

/// Draws `snapshot` as a standalone SVG document. The root carries `class="network"`,
/// `data-place`, `data-at`, `data-actors` and `data-relationships`; each actor is a
/// `g.actor` with `data-actor` (its id) and each relationship a `line.relationship` with
/// `data-from`, `data-to` and `data-kind`, so tools (and tests) can read what is drawn.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use shiftlog::{parse_input, Engine, KnownAt, PlaceId};
/// use shiftlog_report::{draw_network, Layout, NetworkStyle};
/// let engine = Engine::in_memory();
/// let input = r#"
/// {"type":"place_registered","occurred_at":"2024-01-01","place":"p","name":"P"}
/// {"type":"actor_joined","occurred_at":"2024-01-02","place":"p","actor":"a","kind":"group","sector":"community"}
/// {"type":"actor_joined","occurred_at":"2024-01-02","place":"p","actor":"b","kind":"organisation","sector":"public"}
/// {"type":"relationship_formed","occurred_at":"2024-01-03","place":"p","from":"a","to":"b","kind":"trust"}
/// "#;
/// engine.ingest(parse_input(input), &[]).await.unwrap();
/// let place = PlaceId::new("p").unwrap();
/// let history = engine.history(&place, KnownAt::Everything).await.unwrap();
/// let snapshot = history.snapshot("2024-02-01".parse().unwrap());
/// let svg = draw_network(&snapshot, &Layout::of_history(&history), &NetworkStyle::default());
/// assert!(svg.contains(r#"data-actor="a""#) && svg.contains(r#"data-relationships="1""#));
/// # });
/// ```
pub fn draw_network(snapshot: &Snapshot, layout: &Layout, style: &NetworkStyle) -> String {
    let (w, h) = (style.width, style.height);
    let pad = 36.0;
    let at = |id: &str| {
        let (x, y) = layout.position(id);
        (pad + x * (w - 2.0 * pad), pad + y * (h - 2.0 * pad))
    };
    let radius = |a: &shiftlog::projection::ActorView| match style.size_by {
        SizeBy::Degree => 4.0 + 3.0 * (a.degree as f64).sqrt(),
        SizeBy::Power => 4.0 + 12.0 * a.power.values().sum::<f64>().max(0.0).sqrt(),
    };
    let radii: std::collections::HashMap<&str, f64> =
        snapshot.actors.iter().map(|a| (a.id.as_str(), radius(a))).collect();

    let thin = style.thins(snapshot);
    let edges = if thin {
        thinned_relationships(snapshot, &at)
    } else {
        relationship_lines(snapshot, &at, &radii)
    };

    // A thinned drawing names only its largest actors beside their circle.
    let labelled: std::collections::HashSet<&str> = if thin {
        let mut by_size: Vec<_> = snapshot.actors.iter().collect();
        by_size.sort_by(|a, b| {
            radii[b.id.as_str()]
                .total_cmp(&radii[a.id.as_str()])
                .then(a.id.cmp(&b.id))
        });
        by_size.iter().take(THINNED_LABELS).map(|a| a.id.as_str()).collect()
    } else {
        snapshot.actors.iter().map(|a| a.id.as_str()).collect()
    };
    // What every actor shares is said once, on the group.
    let mut nodes = Group::new()
        .set("class", "actors")
        .set("stroke", "#fff")
        .set("stroke-width", 1)
        .set("font-size", 10)
        .set("font-family", "sans-serif")
        .set("fill", "#222");
    for a in &snapshot.actors {
        let (x, y) = at(&a.id);
        let r = radii[a.id.as_str()];
        let name = display_name(a);
        let power: Vec<String> = a.power.iter().map(|(d, v)| format!("{} {v:.2}", clean(d))).collect();
        let title = format!(
            "{name} ({}, {}), {} neighbours{}",
            clean(a.sector.as_deref().unwrap_or("no sector")),
            a.kind,
            a.degree,
            if power.is_empty() {
                String::new()
            } else {
                format!("; power: {}", power.join(", "))
            }
        );
        let mut label: String = name.chars().take(24).collect();
        if name.chars().count() > 24 {
            label.push('…');
        }
        let mut circle = Circle::new()
            .set("cx", round(x))
            .set("cy", round(y))
            .set("r", round(r))
            .set("fill", sector_colour(a.sector.as_deref()));
        if a.broker {
            circle = circle.set("stroke", "#000").set("stroke-width", 2);
        }
        let mut actor = Group::new()
            .set("class", "actor")
            .set("data-actor", clean(a.id.as_str()))
            .add(Title::new(title))
            .add(circle);
        if labelled.contains(a.id.as_str()) {
            // The group's white stroke rings the circles; labels have none.
            actor = actor.add(
                Text::new(label)
                    .set("x", round(x + r + 2.0))
                    .set("y", round(y + 3.5))
                    .set("stroke", "none"),
            );
        }
        nodes = nodes.add(actor);
    }

    let legend = legend(snapshot, w, h);
    let mut doc = Document::new()
        .set("class", "network")
        .set("data-place", clean(snapshot.place.as_str()))
        .set("data-at", snapshot.at.to_string())
        .set("data-actors", snapshot.actors.len())
        .set("data-relationships", snapshot.relationships.len())
        .set("viewBox", (0, 0, w, h + 44.0))
        .set("width", w)
        .set("height", h + 44.0)
        .set("role", "img")
        .add(Title::new(format!(
            "{} at {}: {} actors, {} relationships",
            snapshot.place,
            snapshot.at,
            snapshot.actors.len(),
            snapshot.relationships.len()
        )));
    if thin {
        doc = doc.set("data-thinned", "true");
    }
    if !style.shared_markers {
        doc = doc.add(markers());
    }
    doc.add(
        Rectangle::new()
            .set("width", w)
            .set("height", h + 44.0)
            .set("fill", "#fcfcfa"),
    )
    .add(edges)
    .add(nodes)
    .add(legend)
    .to_string()
}

/// Every relationship as a line of its own: width by strength, colour by kind, an arrow
/// when directed, a tooltip, and its ends and kind as data attributes.
fn relationship_lines(
    snapshot: &Snapshot,
    at: &dyn Fn(&str) -> (f64, f64),
    radii: &std::collections::HashMap<&str, f64>,
) -> Group {
    let mut edges = Group::new().set("class", "relationships");
    for r in &snapshot.relationships {
        let ((x1, y1), (x2, y2)) = (at(&r.from), at(&r.to));
        // Stop the line at the target's rim so the arrowhead shows.
        let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1e-9);
        let back = radii.get(r.to.as_str()).copied().unwrap_or(0.0) + 1.0;
        let (ex, ey) = if r.directed && len > back {
            (x2 - (x2 - x1) * back / len, y2 - (y2 - y1) * back / len)
        } else {
            (x2, y2)
        };
        let mut line = Line::new()
            .set("class", "relationship")
            .set("data-from", clean(r.from.as_str()))
            .set("data-to", clean(r.to.as_str()))
            .set("data-kind", clean(&r.kind))
            .set("x1", round(x1))
            .set("y1", round(y1))
            .set("x2", round(ex))
            .set("y2", round(ey))
            .set("stroke", kind_colour(&r.kind))
            .set("stroke-opacity", 0.75)
            .set("stroke-width", round(0.6 + 4.0 * r.strength));
        if r.directed {
            let marker = if KINDS.iter().any(|(k, _)| *k == r.kind) {
                r.kind.as_str()
            } else {
                "other"
            };
            line = line.set("marker-end", format!("url(#arrow-{marker})"));
        }
        let title = format!(
            "{} → {} ({}), strength {:.2}{}",
            r.from,
            r.to,
            clean(&r.kind),
            r.strength,
            r.trust.map(|t| format!(", trust {t:.2}")).unwrap_or_default()
        );
        edges = edges.add(line.add(Title::new(title)));
    }
    edges
}

/// The relationships of a thinned drawing: one path per kind and strength band (weak,
/// middling, strong), without arrowheads or tooltips. Which actors each path joins is kept
/// for tools (and tests) in `data-pairs`: space-separated `i-j` pairs of indexes into the
/// drawing's `g.actor` elements, in their order.
fn thinned_relationships(snapshot: &Snapshot, at: &dyn Fn(&str) -> (f64, f64)) -> Group {
    let index: std::collections::HashMap<&str, usize> = snapshot
        .actors
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    // (kind, band) -> (path data, pairs)
    let mut sets: std::collections::BTreeMap<(&str, usize), (String, String)> = Default::default();
    for r in &snapshot.relationships {
        let (Some(&i), Some(&j)) = (index.get(r.from.as_str()), index.get(r.to.as_str())) else {
            continue;
        };
        let band = ((r.strength.clamp(0.0, 1.0) * 3.0) as usize).min(2);
        let ((x1, y1), (x2, y2)) = (at(&r.from), at(&r.to));
        let (d, pairs) = sets.entry((r.kind.as_str(), band)).or_default();
        write!(d, "M{} {}L{} {}", round(x1), round(y1), round(x2), round(y2)).ok();
        if !pairs.is_empty() {
            pairs.push(' ');
        }
        write!(pairs, "{i}-{j}").ok();
    }
    let mut edges = Group::new()
        .set("class", "relationships")
        .set("data-thinned", "true")
        .set("fill", "none")
        .set("stroke-opacity", 0.6);
    for ((kind, band), (d, pairs)) in sets {
        edges = edges.add(
            Path::new()
                .set("class", "relationship-set")
                .set("data-kind", clean(kind))
                .set("data-pairs", pairs)
                .set("d", d)
                .set("stroke", kind_colour(kind))
                .set("stroke-width", round(0.6 + 4.0 * (band as f64 + 0.5) / 3.0)),
        );
    }
    edges
}

/// The arrowhead markers drawings refer to, as one hidden SVG element to put once in a page
/// whose drawings use [`NetworkStyle::shared_markers`].
pub fn shared_markers() -> String {
    Document::new()
        .set("class", "markers")
        .set("width", 0)
        .set("height", 0)
        .set("aria-hidden", "true")
        .set("style", "position:absolute")
        .add(markers())
        .to_string()
}

fn markers() -> Definitions {
    let mut defs = Definitions::new();
    for (kind, colour) in KINDS.iter().copied().chain([("other", OTHER_KIND)]) {
        defs = defs.add(
            Marker::new()
                .set("id", format!("arrow-{kind}"))
                .set("viewBox", "0 0 10 10")
                .set("refX", 10)
                .set("refY", 5)
                .set("markerWidth", 5)
                .set("markerHeight", 5)
                .set("orient", "auto-start-reverse")
                .add(Path::new().set("d", "M 0 0 L 10 5 L 0 10 z").set("fill", colour)),
        );
    }
    defs
}

/// What a thinned drawing leaves out, in words for the page; `None` when it is not thinned.
pub fn thinned_note(snapshot: &Snapshot, style: &NetworkStyle) -> Option<String> {
    style.thins(snapshot).then(|| {
        format!(
            "Thinned to keep the page light: names are written beside the {} largest of the {} actors \
             (hover over any actor for its name), and the {} relationships are drawn without arrowheads \
             or tooltips of their own, in three widths by strength.",
            THINNED_LABELS.min(snapshot.actors.len()),
            snapshot.actors.len(),
            snapshot.relationships.len()
        )
    })
}

/// At most this many relationships are drawn in a thumbnail (the strongest); the rest are
/// left out and the thumbnail says how many it drew.
pub const THUMBNAIL_RELATIONSHIPS: usize = 400;

/// Draws `snapshot` small, for the overview's small multiples: actors as dots coloured by
/// sector, relationships as thin grey lines (the [`THUMBNAIL_RELATIONSHIPS`] strongest), no
/// labels or tooltips. The root carries `class="thumbnail"`, `data-place`, `data-at`,
/// `data-actors`, `data-relationships` and `data-drawn-relationships`; each actor is one
/// `M x y` move in a `path.actors` (one path per sector colour).
pub fn draw_thumbnail(snapshot: &Snapshot, layout: &Layout, size: f64) -> String {
    // Integer coordinates on a 1000-unit square: short numbers, and finer than any screen
    // shows a thumbnail at.
    const UNITS: f64 = 1000.0;
    let pad = 40.0;
    let at = |id: &str| {
        let (x, y) = layout.position(id);
        (
            (pad + x * (UNITS - 2.0 * pad)).round() as i64,
            (pad + y * (UNITS - 2.0 * pad)).round() as i64,
        )
    };
    let mut strongest: Vec<_> = snapshot.relationships.iter().collect();
    strongest.sort_by(|a, b| {
        b.strength
            .total_cmp(&a.strength)
            .then_with(|| (&a.from, &a.to, &a.kind).cmp(&(&b.from, &b.to, &b.kind)))
    });
    strongest.truncate(THUMBNAIL_RELATIONSHIPS);
    let mut lines = String::new();
    for r in &strongest {
        let ((x1, y1), (x2, y2)) = (at(&r.from), at(&r.to));
        write!(lines, "M{x1} {y1}L{x2} {y2}").ok();
    }
    let mut dots: std::collections::BTreeMap<&str, String> = Default::default();
    for a in &snapshot.actors {
        let (x, y) = at(&a.id);
        write!(
            dots.entry(sector_colour(a.sector.as_deref())).or_default(),
            "M{x} {y}h0"
        )
        .ok();
    }
    let mut doc = Document::new()
        .set("class", "thumbnail")
        .set("data-place", clean(snapshot.place.as_str()))
        .set("data-at", snapshot.at.to_string())
        .set("data-actors", snapshot.actors.len())
        .set("data-relationships", snapshot.relationships.len())
        .set("data-drawn-relationships", strongest.len())
        .set("viewBox", (0, 0, UNITS, UNITS))
        .set("width", size)
        .set("height", size)
        .set("role", "img")
        .add(Title::new(format!(
            "{} at {}: {} actors, {} relationships",
            clean(snapshot.place.as_str()),
            snapshot.at,
            snapshot.actors.len(),
            snapshot.relationships.len()
        )))
        .add(
            Rectangle::new()
                .set("width", UNITS)
                .set("height", UNITS)
                .set("fill", "#fcfcfa"),
        );
    if !lines.is_empty() {
        doc = doc.add(
            Path::new()
                .set("class", "relationships")
                .set("d", lines)
                .set("fill", "none")
                .set("stroke", "#666")
                .set("stroke-opacity", 0.45)
                .set("stroke-width", 5),
        );
    }
    // Dots as large as a few hundred actors leave room for.
    let dot = (250.0 / (snapshot.actors.len().max(1) as f64).sqrt())
        .clamp(14.0, 44.0)
        .round();
    for (colour, d) in dots {
        doc = doc.add(
            Path::new()
                .set("class", "actors")
                .set("d", d)
                .set("stroke", colour)
                .set("stroke-width", dot)
                .set("stroke-linecap", "round"),
        );
    }
    doc.to_string()
}

/// Sectors present in the drawing, in a row under it.
fn legend(snapshot: &Snapshot, w: f64, h: f64) -> Group {
    let mut sectors: Vec<Option<&str>> = snapshot.actors.iter().map(|a| a.sector.as_deref()).collect();
    sectors.sort();
    sectors.dedup();
    let mut g = Group::new()
        .set("class", "legend")
        .set("font-size", 10)
        .set("font-family", "sans-serif");
    let mut x = 12.0;
    for s in sectors {
        let name = clean(s.unwrap_or("no sector"));
        g = g
            .add(
                Circle::new()
                    .set("cx", x + 5.0)
                    .set("cy", h + 20.0)
                    .set("r", 5)
                    .set("fill", sector_colour(s)),
            )
            .add(
                Text::new(name.as_str())
                    .set("x", x + 13.0)
                    .set("y", h + 24.0)
                    .set("fill", "#333"),
            );
        x += 20.0 + 6.0 * name.chars().count() as f64;
        if x > w - 60.0 {
            break;
        }
    }
    g
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
