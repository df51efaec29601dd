//! The report's overview: the places compared at the end date, where things moved most,
//! the places over time, and every place's network small, each linked to its page.
//!
//! It is made from one small [`PlaceSummary`] per place, kept while the places' pages are
//! written one at a time, so the overview costs memory by the number of places, not by the
//! size of the log.

use crate::chart::{line_chart, Series};
use crate::html::{day, esc, figure, label, short, PlaceView};
use crate::network::draw_thumbnail;
use crate::ReportError;
use shiftlog::{Metrics, PlaceId, Snapshot, Timestamp};
use std::fmt::Write;

/// How many places each "moved most" table and the charts over time show.
pub(crate) const RANKED: usize = 8;

/// Width and height of a small multiple, in CSS pixels.
const THUMBNAIL: f64 = 180.0;

/// What the overview needs of one place.
pub(crate) struct PlaceSummary {
    pub(crate) place: PlaceId,
    pub(crate) name: String,
    /// The link to the place's part of the report, from the overview.
    pub(crate) href: String,
    /// The dates of the place's steps (period ends, so the dates of every place are on
    /// one calendar grid).
    pub(crate) dates: Vec<Timestamp>,
    pub(crate) start: Metrics,
    pub(crate) end: Metrics,
    pub(crate) trust: (Option<f64>, Option<f64>),
    pub(crate) relationships: Vec<f64>,
    pub(crate) density: Vec<f64>,
    pub(crate) thumbnail: String,
}

impl PlaceSummary {
    pub(crate) fn of(v: &PlaceView<'_>, href: String) -> PlaceSummary {
        let (first, last) = (&v.snapshots[0], &v.snapshots[v.snapshots.len() - 1]);
        PlaceSummary {
            place: v.history.place().clone(),
            name: v.name.clone(),
            href,
            dates: v.dates.clone(),
            start: first.metrics.clone(),
            end: last.metrics.clone(),
            // From the first step with a rated relationship: a place's first relationships
            // are often recorded before anyone rates them.
            trust: (v.snapshots.iter().find_map(Snapshot::trust_mean), last.trust_mean()),
            relationships: v.metrics.iter().map(|m| m.relationships as f64).collect(),
            density: v.metrics.iter().map(|m| m.density).collect(),
            thumbnail: draw_thumbnail(last, &v.layout, THUMBNAIL),
        }
    }

    fn first(&self) -> Timestamp {
        self.dates[0]
    }

    fn last(&self) -> Timestamp {
        self.dates[self.dates.len() - 1]
    }

    /// The value of `series` at `t` on the common grid: before the place's first step its
    /// network was empty (its first step is the end of the period of its first event);
    /// after its last, nothing changed (its last step is at or after its last event).
    fn at(&self, series: &[f64], t: Timestamp) -> f64 {
        match self.dates.binary_search(&t) {
            Ok(i) => series[i],
            Err(0) => 0.0,
            Err(i) => series[i - 1],
        }
    }

    /// The largest change in any domain's power concentration (Gini), with its domain.
    fn power_move(&self) -> Option<(String, f64, f64)> {
        let domains: std::collections::BTreeSet<&String> =
            self.start.power_gini.keys().chain(self.end.power_gini.keys()).collect();
        domains
            .into_iter()
            .map(|d| {
                let g = |m: &Metrics| m.power_gini.get(d).copied().unwrap_or(0.0);
                (d.clone(), g(&self.start), g(&self.end))
            })
            .max_by(|a, b| (a.2 - a.1).abs().total_cmp(&(b.2 - b.1).abs()).then(b.0.cmp(&a.0)))
    }
}

/// The first and last dates over every place.
pub(crate) fn span(summaries: &[PlaceSummary]) -> Option<(Timestamp, Timestamp)> {
    let start = summaries.iter().map(PlaceSummary::first).min()?;
    let end = summaries.iter().map(PlaceSummary::last).max()?;
    Some((start, end))
}

/// Writes the overview section.
pub(crate) fn overview_section(
    html: &mut String,
    summaries: &[PlaceSummary],
    options: &crate::ReportOptions,
) -> Result<(), ReportError> {
    let Some((start, end)) = span(summaries) else {
        return Ok(());
    };
    // One column per power domain, so that every row stays one line.
    let domains: std::collections::BTreeSet<&str> = summaries
        .iter()
        .flat_map(|s| s.end.power_gini.keys().map(String::as_str))
        .collect();
    write!(
        html,
        "<section id=\"overview\">\n<h2>Places compared</h2>\n<p class=\"meta\">Each place at the end of its \
         period ({}, or its last recorded change when earlier). Select a place's name for its page. Power \
         concentration is the Gini coefficient of the holdings in each domain (0: equal, 1: one actor holds \
         it all).</p>\n<div class=\"wide\"><table class=\"compare\"><thead><tr><th>place</th><th>actors</th>\
         <th>connected</th><th>relationships</th><th>density</th><th>components</th><th>max degree</th>\
         <th>reciprocity</th><th>brokers</th><th>mean trust</th><th>sessions</th><th>absent voices</th>\
         <th>outcomes</th><th>anomalies</th>",
        day(end)
    )
    .ok();
    for d in &domains {
        write!(html, "<th>power: {}</th>", esc(&d.replace('_', " "))).ok();
    }
    html.push_str("</tr></thead><tbody>\n");
    for s in summaries {
        let m = &s.end;
        write!(
            html,
            "<tr data-place=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.3}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td>",
            esc(s.place.as_str()),
            esc(&s.href),
            esc(&s.name),
            m.actors,
            m.connected_actors,
            m.relationships,
            m.density,
            m.components,
            m.max_degree,
            m.reciprocity,
            m.brokers.len(),
            s.trust.1.map_or("unrated".to_string(), |t| format!("{t:.2}")),
            m.sessions,
            m.absent_voices,
            m.outcomes,
            m.anomalies,
        )
        .ok();
        for d in &domains {
            match m.power_gini.get(*d) {
                Some(g) => write!(html, "<td>{g:.2}</td>").ok(),
                None => write!(html, "<td></td>").ok(),
            };
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table></div>\n");
    every_measure(html, summaries);

    moved_most(html, summaries);
    over_time(html, summaries, options, start, end)?;

    write!(
        html,
        "<h3 id=\"networks\">Every place's network at the end</h3>\n<p class=\"note\">Dots are actors (colour: \
         sector), lines relationships; each drawing shows at most the {} strongest relationships and says so \
         when it leaves some out. Select a drawing for the place's page.</p>\n<div class=\"thumbs\">\n",
        crate::network::THUMBNAIL_RELATIONSHIPS
    )
    .ok();
    for s in summaries {
        let drawn = s.end.relationships.min(crate::network::THUMBNAIL_RELATIONSHIPS);
        let left_out = if drawn < s.end.relationships {
            format!(" ({drawn} strongest drawn)")
        } else {
            String::new()
        };
        writeln!(
            html,
            "<a class=\"thumb\" href=\"{}\"><figure>{}<figcaption><strong>{}</strong><br/>{} actors, \
             {} relationships{}</figcaption></figure></a>",
            esc(&s.href),
            s.thumbnail,
            esc(&short(&s.name)),
            s.end.actors,
            s.end.relationships,
            left_out
        )
        .ok();
    }
    html.push_str("</div>\n</section>\n");
    Ok(())
}

/// Every registered measure, place by place, at the end and its change since the start.
fn every_measure(html: &mut String, summaries: &[PlaceSummary]) {
    use shiftlog::projection::Measure;
    html.push_str(
        "<h3>Every measure, side by side</h3>\n<p class=\"note\">Each place at the end of its period, and in \
         brackets the change since its start; hover a measure for its definition (docs/measures.md).</p>\n\
         <div class=\"wide\"><table class=\"compare measures\"><thead><tr><th>place</th>",
    );
    for m in Measure::ALL {
        write!(html, "<th title=\"{}\">{}</th>", esc(m.about()), esc(m.label())).ok();
    }
    html.push_str("</tr></thead><tbody>\n");
    for s in summaries {
        write!(
            html,
            "<tr data-measures-of=\"{}\"><td>{}</td>",
            esc(s.place.as_str()),
            esc(&s.name)
        )
        .ok();
        for &m in Measure::ALL {
            let (a, b) = (m.value(&s.start), m.value(&s.end));
            let change = match (a, b) {
                (Some(a), Some(b)) if a != b => {
                    let d = crate::html::shown(m, Some(b - a));
                    format!(" ({}{d})", if b > a { "+" } else { "" })
                }
                _ => String::new(),
            };
            write!(html, "<td>{}{change}</td>", crate::html::shown(m, b)).ok();
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table></div>\n");
}

/// The places where density, power concentration, trust and the absent voices moved most
/// between the start and the end of their period, largest change first.
fn moved_most(html: &mut String, summaries: &[PlaceSummary]) {
    html.push_str(
        "<h3 id=\"moved-most\">Where things moved most</h3>\n<p class=\"note\">Between the start and the end of \
         each place's period, the largest changes first (at most ",
    );
    write!(html, "{RANKED} places each).</p>\n<div class=\"ranked\">\n").ok();
    type Row = (f64, f64, String);
    type Measure = Box<dyn Fn(&PlaceSummary) -> Option<Row>>;
    let tables: [(&str, Measure); 4] = [
        (
            "Density",
            Box::new(|s| Some((s.start.density, s.end.density, String::new()))),
        ),
        (
            "Power concentration (Gini, the domain that moved most)",
            Box::new(|s| s.power_move().map(|(d, a, b)| (a, b, d.replace('_', " ")))),
        ),
        (
            "Mean trust (from the first rating)",
            Box::new(|s| match s.trust {
                (Some(a), Some(b)) => Some((a, b, String::new())),
                _ => None,
            }),
        ),
        (
            "Absent voices noted",
            Box::new(|s| Some((s.start.absent_voices as f64, s.end.absent_voices as f64, String::new()))),
        ),
    ];
    for (title, measure) in &tables {
        let mut rows: Vec<(&PlaceSummary, Row)> = summaries
            .iter()
            .filter_map(|s| measure(s).map(|r| (s, r)))
            .filter(|(_, (a, b, _))| (b - a).abs() > 1e-12)
            .collect();
        rows.sort_by(|(s, (a, b, _)), (t, (c, d, _))| {
            (d - c).abs().total_cmp(&(b - a).abs()).then(s.place.cmp(&t.place))
        });
        rows.truncate(RANKED);
        write!(html, "<table class=\"moved\"><caption>{}</caption>", esc(title)).ok();
        if rows.is_empty() {
            html.push_str("<tbody><tr><td>No place changed.</td></tr></tbody></table>\n");
            continue;
        }
        html.push_str("<thead><tr><th>place</th><th>start</th><th>end</th><th>change</th></tr></thead><tbody>");
        let exact = title.starts_with("Absent");
        for (s, (a, b, note)) in rows {
            let shown = |x: f64| if exact { format!("{x:.0}") } else { format!("{x:.2}") };
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"note\">({})</span>", esc(&note))
            };
            write!(
                html,
                "<tr><td><a href=\"{}\">{}</a>{note}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                esc(&s.href),
                esc(&s.name),
                shown(a),
                shown(b),
                if b > a { "+" } else { "−" },
                shown((b - a).abs())
            )
            .ok();
        }
        html.push_str("</tbody></table>\n");
    }
    html.push_str("</div>\n");
}

/// Relationships and density by place over time, on one calendar grid; beyond [`RANKED`]
/// places, the places whose relationships changed most.
fn over_time(
    html: &mut String,
    summaries: &[PlaceSummary],
    options: &crate::ReportOptions,
    start: Timestamp,
    end: Timestamp,
) -> Result<(), ReportError> {
    let grid = shiftlog::projection::steps(options.every, start, end).ok_or_else(|| {
        ReportError::Projection(shiftlog::ProjectionError::TooManySteps {
            place: summaries[0].place.clone(),
            every: options.every,
            from: start,
            to: end,
        })
    })?;
    if grid.len() < 2 {
        return Ok(());
    }
    let mut shown: Vec<&PlaceSummary> = summaries.iter().collect();
    if shown.len() > RANKED {
        let moved = |s: &PlaceSummary| (s.end.relationships as f64 - s.start.relationships as f64).abs();
        shown.sort_by(|a, b| moved(b).total_cmp(&moved(a)).then(a.place.cmp(&b.place)));
        shown.truncate(RANKED);
    }
    html.push_str("<h3 id=\"over-time\">Over time</h3>\n");
    if shown.len() < summaries.len() {
        writeln!(
            html,
            "<p class=\"note\">The {} places (of {}) whose number of relationships changed most; every place's \
             own charts are on its page.</p>",
            shown.len(),
            summaries.len()
        )
        .ok();
    }
    let labels: Vec<String> = grid.iter().map(|&t| label(t, options.every)).collect();
    let series = |pick: &dyn Fn(&PlaceSummary) -> &[f64]| -> Vec<Series> {
        shown
            .iter()
            .map(|s| Series {
                name: short(&s.name),
                values: grid.iter().map(|&t| s.at(pick(s), t)).collect(),
            })
            .collect()
    };
    html.push_str("<div class=\"charts\">\n");
    figure(
        html,
        &line_chart("Relationships, by place", &labels, &series(&|s| &s.relationships))?,
    );
    figure(
        html,
        &line_chart("Density, by place", &labels, &series(&|s| &s.density))?,
    );
    html.push_str("</div>\n");
    Ok(())
}
