//! The self-contained HTML report: one file with every picture inline (SVG), no scripts,
//! fonts, styles or images fetched from anywhere.

use crate::chart::{line_chart, Series};
use crate::network::{display_name, draw_network, sector_colour, thinned_note, NetworkStyle, SizeBy, SECTORS};
use crate::{Layout, ReportError};
// Escaping for XML serves HTML too, and keeps the report well-formed XML (the tests parse it so).
pub(crate) use shiftlog::projection::escape_xml as esc;
use shiftlog::projection::{Change, Measure, Shape};
use shiftlog::{Diff, EventBody, Every, Kinds, KnownAt, Metrics, PlaceHistory, PlaceId, Snapshot, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The places, in this order; every place in the log when empty.
    pub places: Vec<PlaceId>,
    /// First date (default: each place's first `occurred_at`).
    pub from: Option<Timestamp>,
    /// Last date (default: each place's last `occurred_at`).
    pub to: Option<Timestamp>,
    /// Which part of the log the report sees.
    pub known: KnownAt,
    /// Which relationships it counts (every kind by default).
    pub kinds: Kinds,
    /// The step of the charts and of the search for moments of change.
    pub every: Every,
    /// What node size shows in the network drawings.
    pub size_by: SizeBy,
    /// The report's heading.
    pub title: String,
    /// How many moments of largest change to draw per place, between start and end.
    pub moments: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            places: Vec::new(),
            from: None,
            to: None,
            known: KnownAt::Everything,
            kinds: Kinds::all(),
            every: Every::Month,
            size_by: SizeBy::Degree,
            title: "How the networks changed".to_string(),
            moments: 2,
        }
    }
}

/// One place's part of the report, computed before any HTML is written.
pub(crate) struct PlaceView<'h> {
    pub(crate) history: &'h PlaceHistory,
    pub(crate) name: String,
    pub(crate) dates: Vec<Timestamp>,
    pub(crate) snapshots: Vec<Snapshot>,
    pub(crate) metrics: Vec<Metrics>,
    periods: Vec<shiftlog::projection::Period>,
    /// The learning synthesis over the same periods (counts and tags, no texts).
    synthesis: shiftlog::projection::PlaceSynthesis,
    drawn: Vec<usize>,
    names: HashMap<String, String>,
    /// Where each actor sits in every drawing of the place.
    pub(crate) layout: Layout,
}

pub(crate) fn place_view<'h>(
    h: &'h PlaceHistory,
    from: Timestamp,
    to: Timestamp,
    options: &ReportOptions,
) -> Result<PlaceView<'h>, ReportError> {
    let mut dates = h.steps(options.every, from, to)?;
    if dates.is_empty() {
        dates.push(to);
    }
    // Each step's change is measured from the step before; the first's from the network
    // just before its period (not from nothing, which would count every tie as formed).
    // Every measure, communities included: the report's table lists them all.
    let evolution = h.evolve_measuring(
        Some(shiftlog::projection::period_start(options.every, from)),
        &dates,
        shiftlog::EvolutionMeasures::All,
    );
    let synthesis = h.synthesis(options.every, Some(from), Some(to), false)?;
    let snapshots = h.snapshots(&dates);
    // How much changed into each step: actors in or out, relationships formed or ended
    // or re-weighted, and power moved.
    let mut scores = vec![0.0; snapshots.len()];
    for i in 1..snapshots.len() {
        scores[i] = change(&snapshots[i - 1], &snapshots[i]);
    }
    let last = snapshots.len() - 1;
    let mut middle: Vec<usize> = (1..last).filter(|&i| scores[i] > 0.0).collect();
    middle.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    middle.truncate(options.moments);
    let mut drawn: Vec<usize> = [0, last].into_iter().chain(middle).collect();
    drawn.sort_unstable();
    drawn.dedup();
    let mut names = HashMap::new();
    for s in &snapshots {
        for a in &s.actors {
            names.insert(a.id.clone(), display_name(a));
        }
    }
    let name = h
        .events()
        .find_map(|(_, e)| match &e.body {
            EventBody::PlaceRegistered { name, .. } => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| h.place().to_string());
    Ok(PlaceView {
        history: h,
        name,
        metrics: evolution.iter().map(|s| s.metrics.clone()).collect(),
        periods: evolution.into_iter().map(|s| s.period).collect(),
        synthesis,
        dates,
        snapshots,
        drawn,
        names,
        layout: Layout::of_history(h),
    })
}

/// A size for the change between two snapshots of one place.
fn change(a: &Snapshot, b: &Snapshot) -> f64 {
    fn ids(s: &Snapshot) -> BTreeSet<&str> {
        s.actors.iter().map(|x| x.id.as_str()).collect()
    }
    fn rels(s: &Snapshot) -> BTreeMap<(&str, &str, &str), f64> {
        s.relationships
            .iter()
            .map(|r| ((r.from.as_str(), r.to.as_str(), r.kind.as_str()), r.strength))
            .collect()
    }
    fn power(s: &Snapshot) -> BTreeMap<(&str, &str), f64> {
        s.actors
            .iter()
            .flat_map(|x| x.power.iter().map(move |(d, v)| ((x.id.as_str(), d.as_str()), *v)))
            .collect()
    }
    let actors = ids(a).symmetric_difference(&ids(b)).count() as f64;
    let (ra, rb) = (rels(a), rels(b));
    let mut relationships = 0.0;
    for (k, sa) in &ra {
        relationships += rb.get(k).map_or(1.0, |sb| (sa - sb).abs() * 2.0);
    }
    relationships += rb.keys().filter(|k| !ra.contains_key(*k)).count() as f64;
    let (pa, pb) = (power(a), power(b));
    let keys: BTreeSet<_> = pa.keys().chain(pb.keys()).collect();
    let moved: f64 = keys
        .into_iter()
        .map(|k| (pa.get(k).unwrap_or(&0.0) - pb.get(k).unwrap_or(&0.0)).abs())
        .sum();
    // A unit of power moved counts as much as ten relationships formed: power shifts are
    // rare and are what funders ask about.
    actors + relationships + 10.0 * moved
}

pub(crate) fn place_section(html: &mut String, v: &PlaceView<'_>, options: &ReportOptions) -> Result<(), ReportError> {
    let place = v.history.place().as_str();
    let (first, last) = (v.dates[0], *v.dates.last().unwrap_or(&v.dates[0]));
    write!(
        html,
        "<section class=\"place\" id=\"place-{}\">\n<h2>{}</h2>\n<p class=\"meta\">Place id <code>{}</code>; \
         {} to {}, one step per {}.</p>\n",
        esc(place),
        esc(&v.name),
        esc(place),
        day(first),
        day(last),
        options.every.name()
    )
    .ok();

    // The story in words, start to end.
    let d = v.history.diff(first, last);
    html.push_str("<div class=\"story\">\n");
    for p in story(&d, &v.names, &v.metrics[0], v.metrics.last().unwrap_or(&v.metrics[0])) {
        writeln!(html, "<p>{}</p>", esc(&p)).ok();
    }
    html.push_str("</div>\n");

    // The network at start, at the moments of largest change, and at the end.
    let style = NetworkStyle::for_report(options.size_by);
    write!(
        html,
        "<h3>The network</h3>\n<p class=\"note\">Node size: {}; colour: sector; line width: strength; \
         black ring: broker (removing it splits the network).</p>\n<div class=\"networks\">\n",
        match options.size_by {
            SizeBy::Degree => "number of neighbours",
            SizeBy::Power => "total power held",
        }
    )
    .ok();
    for (n, &i) in v.drawn.iter().enumerate() {
        let s = &v.snapshots[i];
        let caption = if i == 0 {
            "Start".to_string()
        } else if n + 1 == v.drawn.len() {
            "End".to_string()
        } else {
            let d = v.history.diff(v.dates[i - 1], v.dates[i]);
            format!("A moment of large change: {}", summary(&d))
        };
        let thinned =
            thinned_note(s, &style).map_or(String::new(), |n| format!(" <span class=\"note\">{}</span>", esc(&n)));
        writeln!(
            html,
            "<figure>{}<figcaption><strong>{}</strong>: {} actors, {} relationships. {}{thinned}</figcaption></figure>",
            draw_network(s, &v.layout, &style),
            day(s.at),
            s.actors.len(),
            s.relationships.len(),
            esc(&caption)
        )
        .ok();
    }
    html.push_str("</div>\n");

    // Metrics over time.
    let labels: Vec<String> = v.dates.iter().map(|&t| label(t, options.every)).collect();
    let col = |f: &dyn Fn(&Metrics) -> f64| v.metrics.iter().map(f).collect::<Vec<f64>>();
    html.push_str("<h3>Metrics over time</h3>\n<div class=\"charts\">\n");
    let counts = [
        Series {
            name: "actors".into(),
            values: col(&|m| m.actors as f64),
        },
        Series {
            name: "connected actors".into(),
            values: col(&|m| m.connected_actors as f64),
        },
        Series {
            name: "relationships".into(),
            values: col(&|m| m.relationships as f64),
        },
        Series {
            name: "components".into(),
            values: col(&|m| m.components as f64),
        },
        Series {
            name: "max degree".into(),
            values: col(&|m| m.max_degree as f64),
        },
    ];
    figure(html, &line_chart("Size and shape", &labels, &counts)?);
    let ratios = [
        Series {
            name: "density".into(),
            values: col(&|m| m.density),
        },
        Series {
            name: "reciprocity".into(),
            values: col(&|m| m.reciprocity),
        },
    ];
    figure(html, &line_chart("Density and reciprocity", &labels, &ratios)?);
    let participation = [
        Series {
            name: "sessions held".into(),
            values: v.periods.iter().map(|p| p.sessions as f64).collect(),
        },
        Series {
            name: "absent voices noted".into(),
            values: v.periods.iter().map(|p| p.absent_voices as f64).collect(),
        },
    ];
    figure(
        html,
        &line_chart(
            &format!("Per {}: sessions and absent voices", options.every.name()),
            &labels,
            &participation,
        )?,
    );
    html.push_str("</div>\n");

    whole_network(html, v, &labels, options)?;
    learning_synthesis(html, v, options);

    // Power per domain over time.
    let mut domains: BTreeSet<String> = BTreeSet::new();
    for s in &v.snapshots {
        for a in &s.actors {
            domains.extend(a.power.keys().cloned());
        }
    }
    if !domains.is_empty() {
        html.push_str("<h3>Power by domain</h3>\n<div class=\"charts\">\n");
        for domain in &domains {
            let series = power_series(v, domain);
            let gini: Vec<f64> = v
                .metrics
                .iter()
                .map(|m| m.power_gini.get(domain).copied().unwrap_or(0.0))
                .collect();
            figure(
                html,
                &line_chart(&format!("Power over {}", domain.replace('_', " ")), &labels, &series)?,
            );
            let (g0, g1) = (gini[0], *gini.last().unwrap_or(&0.0));
            writeln!(
                html,
                "<p class=\"note\">Concentration of power over {} (Gini): {:.2} at the start, {:.2} at the end.</p>",
                esc(&domain.replace('_', " ")),
                g0,
                g1
            )
            .ok();
        }
        html.push_str("</div>\n");
    }

    // Who is still not in the room.
    absent_voices(html, v, last);

    // Anomalies.
    let anomalies = v.history.anomalies();
    html.push_str("<h3>Anomalies</h3>\n");
    if anomalies.is_empty() {
        html.push_str("<p>None: every event applied as recorded.</p>\n");
    } else {
        html.push_str(
            "<p class=\"note\">Events that late recording made inconsistent; each did nothing. Put right with \
             <code>event_retracted</code> and a new event.</p>\n<ul class=\"anomalies\">\n",
        );
        for a in &anomalies {
            writeln!(
                html,
                "<li><strong>{}</strong> (event <code>{}</code>, position {}): {}</li>",
                day(a.occurred_at),
                esc(&a.event_id),
                a.position,
                esc(&a.message)
            )
            .ok();
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</section>\n");
    Ok(())
}

/// A measure's value as a table shows it: counts whole, the rest to three places.
pub(crate) fn shown(measure: Measure, x: Option<f64>) -> String {
    match (x, measure.shape()) {
        (None, _) => "—".into(),
        (Some(x), Shape::Count) => format!("{x:.0}"),
        (Some(x), Shape::Ratio) => format!("{x:.3}"),
    }
}

/// Every registered measure at the start and the end, ties formed and dissolved per
/// period, trust and value over time, and how much relationships cross sectors.
fn whole_network(
    html: &mut String,
    v: &PlaceView<'_>,
    labels: &[String],
    options: &ReportOptions,
) -> Result<(), ReportError> {
    let (m0, m1) = (&v.metrics[0], &v.metrics[v.metrics.len() - 1]);
    writeln!(
        html,
        "<h3>The whole network, start and end</h3>\n<div class=\"wide\"><table class=\"measures\"><thead><tr>\
         <th>measure</th><th>{}</th><th>{}</th><th>change</th></tr></thead><tbody>",
        day(v.dates[0]),
        day(v.dates[v.dates.len() - 1])
    )
    .ok();
    for &measure in Measure::ALL {
        let (a, b) = (measure.value(m0), measure.value(m1));
        let change = match (a, b) {
            (Some(a), Some(b)) => {
                let d = shown(measure, Some(b - a));
                if b > a {
                    format!("+{d}")
                } else {
                    d
                }
            }
            _ => "—".into(),
        };
        writeln!(
            html,
            "<tr data-measure=\"{}\"><th title=\"{}\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            measure.key(),
            esc(measure.about()),
            esc(measure.label()),
            shown(measure, a),
            shown(measure, b),
            change
        )
        .ok();
    }
    html.push_str(
        "</tbody></table></div>\n<p class=\"note\">Definitions: hover a measure's name, or see docs/measures.md. \
         \"—\": undefined at that date (no rated relationship, no actor with a sector).</p>\n<div class=\"charts\">\n",
    );
    let change = |f: fn(&Change) -> usize| -> Vec<f64> {
        v.metrics
            .iter()
            .map(|m| m.change.as_ref().map_or(f64::NAN, |c| f(c) as f64))
            .collect()
    };
    let ties = [
        Series {
            name: "formed".into(),
            values: change(|c| c.formed),
        },
        Series {
            name: "ended".into(),
            values: change(|c| c.ended),
        },
        Series {
            name: "strengthened".into(),
            values: change(|c| c.strengthened),
        },
        Series {
            name: "weakened".into(),
            values: change(|c| c.weakened),
        },
        Series {
            name: "actors joined".into(),
            values: change(|c| c.joined),
        },
        Series {
            name: "actors left".into(),
            values: change(|c| c.left),
        },
    ];
    figure(
        html,
        &line_chart(
            &format!("Per {}: ties formed and dissolved", options.every.name()),
            labels,
            &ties,
        )?,
    );
    let defined =
        |f: fn(&Metrics) -> Option<f64>| -> Vec<f64> { v.metrics.iter().map(|m| f(m).unwrap_or(f64::NAN)).collect() };
    let rated = [
        Series {
            name: "mean trust".into(),
            values: defined(|m| m.trust_mean),
        },
        Series {
            name: "mean value".into(),
            values: defined(|m| m.value_mean),
        },
    ];
    if rated.iter().any(|s| s.values.iter().any(|x| x.is_finite())) {
        figure(
            html,
            &line_chart("Trust and value of the rated relationships", labels, &rated)?,
        );
    }
    let mixing = [
        Series {
            name: "E-I index".into(),
            values: defined(|m| m.ei_index),
        },
        Series {
            name: "multiplexity".into(),
            values: defined(|m| Some(m.multiplexity)),
        },
    ];
    figure(
        html,
        &line_chart(
            "Across sectors (E-I: -1 all within, 1 all across) and kinds",
            labels,
            &mixing,
        )?,
    );
    html.push_str("</div>\n");
    if !rated.iter().any(|s| s.values.iter().any(|x| x.is_finite())) {
        html.push_str("<p class=\"note\">No relationship was rated for trust or value in this period.</p>\n");
    }
    Ok(())
}

/// The learning synthesis's counts, one row per period that has any: learning by area,
/// outcomes by condition, power shifts by space and participation tags.
fn learning_synthesis(html: &mut String, v: &PlaceView<'_>, options: &ReportOptions) {
    use shiftlog::model::{Condition, LearningArea, ParticipationRung, PowerExpression, PowerForm, PowerSpace};
    use shiftlog::projection::{PeriodSynthesis, Tally, UNTAGGED};
    let periods: Vec<&PeriodSynthesis> = v
        .synthesis
        .periods
        .iter()
        .filter(|p| {
            let any = |t: &Tally| t.values().any(|&n| n > 0);
            any(&p.learning) || any(&p.outcomes) || p.power.shifts > 0 || any(&p.participation) || p.sessions > 0
        })
        .collect();
    html.push_str("<h3>What was learned, harvested and shifted</h3>\n");
    if periods.is_empty() {
        html.push_str("<p>No session, learning, outcome or power shift was recorded in this period.</p>\n");
        return;
    }
    // Columns in the vocabulary's own order (the spec's), not the alphabet's.
    let table = |html: &mut String, caption: &str, words: Vec<&str>, pick: &dyn Fn(&PeriodSynthesis) -> &Tally| {
        // The periods with something to show in this table.
        let rows: Vec<&&PeriodSynthesis> = periods.iter().filter(|p| pick(p).values().any(|&n| n > 0)).collect();
        if rows.is_empty() {
            writeln!(html, "<p class=\"note\">{}: none recorded.</p>", esc(caption)).ok();
            return;
        }
        write!(
            html,
            "<div class=\"wide\"><table class=\"synthesis\"><caption>{}</caption><thead><tr><th>{}</th>",
            esc(caption),
            options.every.name()
        )
        .ok();
        for w in &words {
            write!(html, "<th>{}</th>", esc(&w.replace('_', " "))).ok();
        }
        html.push_str("</tr></thead><tbody>\n");
        for p in rows {
            write!(html, "<tr><td>{}</td>", label(p.to, options.every)).ok();
            for w in &words {
                let n = pick(p).get(w).copied().unwrap_or(0);
                if n == 0 {
                    html.push_str("<td></td>");
                } else {
                    write!(html, "<td>{n}</td>").ok();
                }
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody></table></div>\n");
    };
    let with_untagged = |words: Vec<&'static str>| [words, vec![UNTAGGED]].concat();
    table(
        html,
        "Learning records by inquiry area",
        with_untagged(LearningArea::ALL.iter().map(|a| a.as_str()).collect()),
        &|p| &p.learning,
    );
    table(
        html,
        "Outcomes by condition of systems change",
        with_untagged(Condition::ALL.iter().map(|c| c.as_str()).collect()),
        &|p| &p.outcomes,
    );
    table(
        html,
        "Power shifts by space",
        with_untagged(PowerSpace::ALL.iter().map(|s| s.as_str()).collect()),
        &|p| &p.power.by_space,
    );
    table(
        html,
        "Power shifts by form",
        with_untagged(PowerForm::ALL.iter().map(|f| f.as_str()).collect()),
        &|p| &p.power.by_form,
    );
    table(
        html,
        "Power shifts by expression",
        with_untagged(PowerExpression::ALL.iter().map(|x| x.as_str()).collect()),
        &|p| &p.power.by_expression,
    );
    table(
        html,
        "Participation (ladder tags)",
        ParticipationRung::ALL.iter().map(|r| r.as_str()).collect(),
        &|p| &p.participation,
    );
    let sessions: u64 = periods.iter().map(|p| p.sessions).sum();
    let from_sessions: u64 = periods.iter().map(|p| p.learning_from_sessions).sum();
    writeln!(
        html,
        "<p class=\"note\">{} sessions in all; {} learning records came from a session. Counts only: the texts \
         are read with <code>shiftlog synthesis</code> by those who may read them.</p>",
        sessions, from_sessions
    )
    .ok();
}

/// The holdings over time of the actors who ever held the most in `domain` (the rest
/// summed as "others").
fn power_series(v: &PlaceView<'_>, domain: &str) -> Vec<Series> {
    let mut per_actor: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, s) in v.snapshots.iter().enumerate() {
        for a in &s.actors {
            if let Some(x) = a.power.get(domain) {
                per_actor
                    .entry(a.id.clone())
                    .or_insert_with(|| vec![0.0; v.snapshots.len()])[i] = *x;
            }
        }
    }
    let mut ranked: Vec<(String, Vec<f64>)> = per_actor.into_iter().collect();
    let peak = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
    ranked.sort_by(|a, b| peak(&b.1).total_cmp(&peak(&a.1)).then(a.0.cmp(&b.0)));
    let mut out: Vec<Series> = Vec::new();
    let mut others = vec![0.0; v.snapshots.len()];
    for (n, (id, xs)) in ranked.into_iter().enumerate() {
        if n < 6 {
            out.push(Series {
                name: short(v.names.get(&id).map_or(id.as_str(), String::as_str)),
                values: xs,
            });
        } else {
            others.iter_mut().zip(xs).for_each(|(o, x)| *o += x);
        }
    }
    if others.iter().any(|x| *x > 0.0) {
        out.push(Series {
            name: "others".into(),
            values: others,
        });
    }
    out
}

fn absent_voices(html: &mut String, v: &PlaceView<'_>, last: Timestamp) {
    // voice -> (sessions naming it, first noted, last noted)
    let mut voices: BTreeMap<&str, (usize, Timestamp, Timestamp)> = BTreeMap::new();
    let mut sessions = 0;
    for (_, e) in v.history.events() {
        if e.occurred_at > last {
            break;
        }
        if let EventBody::SessionHeld { absent_voices, .. } = &e.body {
            sessions += 1;
            for voice in absent_voices {
                let entry = voices
                    .entry(voice.as_str())
                    .or_insert((0, e.occurred_at, e.occurred_at));
                entry.0 += 1;
                entry.2 = e.occurred_at;
            }
        }
    }
    html.push_str("<h3>Who is still not here</h3>\n");
    if voices.is_empty() {
        writeln!(html, "<p>{sessions} sessions recorded; none noted anyone missing.</p>").ok();
        return;
    }
    write!(
        html,
        "<p class=\"note\">Voices recorded as absent in the {sessions} sessions up to {}. A voice last noted well \
         before the end may since have joined.</p>\n<table class=\"voices\"><thead><tr><th>voice</th>\
         <th>sessions noting it</th><th>first noted</th><th>last noted</th></tr></thead><tbody>\n",
        day(last)
    )
    .ok();
    // Voices the latest session still noted are shown in bold.
    let latest = latest_session(v, last);
    let mut rows: Vec<_> = voices.into_iter().collect();
    rows.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(b.1 .0.cmp(&a.1 .0)).then(a.0.cmp(b.0)));
    for (voice, (n, f, l)) in rows {
        let still = if l == latest { " class=\"still\"" } else { "" };
        writeln!(
            html,
            "<tr{still}><td>{}</td><td>{n}</td><td>{}</td><td>{}</td></tr>",
            esc(voice),
            day(f),
            day(l)
        )
        .ok();
    }
    html.push_str("</tbody></table>\n");
}

fn latest_session(v: &PlaceView<'_>, last: Timestamp) -> Timestamp {
    v.history
        .events()
        .filter(|(_, e)| e.occurred_at <= last && matches!(e.body, EventBody::SessionHeld { .. }))
        .map(|(_, e)| e.occurred_at)
        .max()
        .unwrap_or(last)
}

/// The start-to-end change of a place, in sentences.
fn story(d: &Diff, names: &HashMap<String, String>, m0: &Metrics, m1: &Metrics) -> Vec<String> {
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut out = Vec::new();
    out.push(format!(
        "Between {} and {} the network went from {} to {} actors and from {} to {} relationships; \
         density {} from {:.3} to {:.3}, and the actors formed {} connected group{} (at the start, {}).",
        day(d.from),
        day(d.to),
        m0.actors,
        m1.actors,
        m0.relationships,
        m1.relationships,
        if m1.density > m0.density {
            "rose"
        } else if m1.density < m0.density {
            "fell"
        } else {
            "stayed"
        },
        m0.density,
        m1.density,
        m1.components,
        if m1.components == 1 { "" } else { "s" },
        m0.components
    ));
    let people = |ids: &[String]| ids.iter().map(|i| name(i)).collect::<Vec<_>>();
    let mut joining = String::new();
    if d.joined.is_empty() {
        joining.push_str("Nobody joined");
    } else {
        write!(
            joining,
            "{} joined: {}",
            count(d.joined.len(), "actor"),
            list_some(&people(&d.joined), NAMED)
        )
        .ok();
    }
    if d.left.is_empty() {
        joining.push_str("; nobody left.");
    } else {
        write!(
            joining,
            "; {} left: {}.",
            d.left.len(),
            list_some(&people(&d.left), NAMED)
        )
        .ok();
    }
    out.push(joining);
    let pair = |from: &str, to: &str, kind: &str| format!("{} and {} ({kind})", name(from), name(to));
    let mut rels = format!(
        "{} formed and {} ended",
        count(d.formed.len(), "relationship"),
        d.ended.len()
    );
    if !d.ended.is_empty() {
        let ended: Vec<String> = d.ended.iter().take(4).map(|r| pair(&r.from, &r.to, &r.kind)).collect();
        write!(rels, " (among them {})", list(&ended)).ok();
    }
    write!(
        rels,
        "; {} strengthened and {} weakened",
        d.strengthened.len(),
        d.weakened.len()
    )
    .ok();
    if let Some(c) = d
        .weakened
        .iter()
        .max_by(|a, b| (a.before - a.after).total_cmp(&(b.before - b.after)))
    {
        write!(
            rels,
            ", most of all {}, from {:.2} to {:.2}",
            pair(&c.from, &c.to, &c.kind),
            c.before,
            c.after
        )
        .ok();
    }
    rels.push('.');
    out.push(rels);
    for (domain, changes) in &d.power_changes {
        let domain = domain.replace('_', " ");
        let mut gained: Vec<_> = changes.iter().filter(|c| c.after > c.before + 1e-9).collect();
        let mut lost: Vec<_> = changes.iter().filter(|c| c.after + 1e-9 < c.before).collect();
        gained.sort_by(|a, b| (b.after - b.before).total_cmp(&(a.after - a.before)));
        lost.sort_by(|a, b| (b.before - b.after).total_cmp(&(a.before - a.after)));
        let show = |cs: &[&shiftlog::projection::HoldingChange]| {
            list_some(
                &cs.iter()
                    .map(|c| format!("{} ({:.2} → {:.2})", name(&c.actor), c.before, c.after))
                    .collect::<Vec<_>>(),
                NAMED / 2,
            )
        };
        let sentence = match (lost.is_empty(), gained.is_empty()) {
            (false, false) => format!("Power over {domain} moved from {} to {}.", show(&lost), show(&gained)),
            (true, false) => format!("Power over {domain} grew for {}.", show(&gained)),
            (false, true) => format!("Power over {domain} fell for {}.", show(&lost)),
            (true, true) => continue,
        };
        out.push(sentence);
    }
    out
}

/// A one-line summary of a diff, for captions.
fn summary(d: &Diff) -> String {
    let mut parts = Vec::new();
    if !d.joined.is_empty() {
        parts.push(format!("{} joined", d.joined.len()));
    }
    if !d.left.is_empty() {
        parts.push(format!("{} left", d.left.len()));
    }
    if !d.formed.is_empty() {
        parts.push(format!("{} formed", count(d.formed.len(), "relationship")));
    }
    if !d.ended.is_empty() {
        parts.push(format!("{} ended", count(d.ended.len(), "relationship")));
    }
    let changed = d.strengthened.len() + d.weakened.len();
    if changed > 0 {
        parts.push(format!("{} re-weighted", count(changed, "relationship")));
    }
    if !d.power_shifts.is_empty() {
        let domains: BTreeSet<String> = d.power_shifts.iter().map(|s| s.domain.replace('_', " ")).collect();
        parts.push(format!(
            "power over {} shifted",
            list(&domains.into_iter().collect::<Vec<_>>())
        ));
    }
    if parts.is_empty() {
        "little changed".to_string()
    } else {
        format!("{} since the step before.", parts.join(", "))
    }
}

pub(crate) fn sector_key() -> String {
    let mut out = String::from("<p class=\"key\">Sectors: ");
    for (s, c) in SECTORS {
        write!(out, "<span><i style=\"background:{c}\"></i>{s}</span> ").ok();
    }
    writeln!(
        out,
        "<span><i style=\"background:{}\"></i>other</span></p>",
        sector_colour(Some("?"))
    )
    .ok();
    out
}

pub(crate) fn figure(html: &mut String, svg: &str) {
    writeln!(html, "<figure class=\"chart\">{svg}</figure>").ok();
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// How many names a sentence of the story lists before "and N others": a place where
/// hundreds joined gets a sentence, not a page.
const NAMED: usize = 12;

/// The first `max` of `items` as a list, the rest counted.
fn list_some(items: &[String], max: usize) -> String {
    if items.len() <= max {
        return list(items);
    }
    format!("{} and {} others", items[..max].join(", "), items.len() - max)
}

fn list(items: &[String]) -> String {
    match items {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub(crate) fn short(s: &str) -> String {
    if s.chars().count() <= 26 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(25).collect();
        t.push('…');
        t
    }
}

pub(crate) fn day(t: Timestamp) -> String {
    t.as_datetime().format("%-d %b %Y").to_string()
}

pub(crate) fn label(t: Timestamp, every: Every) -> String {
    match every {
        Every::Day | Every::Week => t.as_datetime().format("%Y-%m-%d").to_string(),
        Every::Month | Every::Quarter => t.as_datetime().format("%Y-%m").to_string(),
        Every::Year => t.as_datetime().format("%Y").to_string(),
    }
}

/// The start of a page: its head (title, the stylesheet) and the markers its drawings share.
pub(crate) fn page_start(html: &mut String, title: &str) {
    write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta name=\"generator\" content=\"shiftlog {}\"/>\n\
         <meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n{}\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        CSS,
        crate::network::shared_markers()
    )
    .ok();
}

/// The end of a page.
pub(crate) fn page_end(html: &mut String) {
    html.push_str(
        "<footer>Made by shiftlog from its event log. This page needs nothing else to open: no network, \
         scripts, fonts or images from elsewhere.</footer>\n</body>\n</html>\n",
    );
}

const CSS: &str = "
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0 auto;max-width:1340px;padding:0 20px 40px}
header{border-bottom:1px solid #ddd;margin-bottom:12px}
h1{margin:20px 0 4px}h2{margin-top:36px;border-bottom:2px solid #0072B2;padding-bottom:4px}h3{margin-top:24px}
.meta,.note{color:#555}.note{font-size:13px}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:14px}
.key span{margin-right:10px;white-space:nowrap}.key i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
.story p{margin:6px 0}
.networks,.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;background:#fff;max-width:100%}
figure svg{display:block;max-width:100%;height:auto}
figcaption{padding:6px 10px;font-size:13px;color:#444;max-width:620px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border-bottom:1px solid #e4e4e4;padding:4px 8px;text-align:left}
td:not(:first-child){font-variant-numeric:tabular-nums}
tr.still td:first-child{font-weight:bold}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
footer{margin-top:40px;color:#777;font-size:12px}
nav.back{margin:14px 0}
.wide{overflow-x:auto}table.compare td:first-child{white-space:nowrap}
.ranked{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}caption{text-align:left;font-weight:bold;padding:4px 0}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.thumbs a{color:inherit;text-decoration:none}.thumbs figcaption{font-size:12px}
@media print{figure{break-inside:avoid}}
";
