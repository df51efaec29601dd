//! The learning synthesis: what was learned, harvested and shifted, read by the inquiry's
//! own vocabularies (the five learning areas, the six conditions of systems change, the
//! power cube, the ladder of participation), per period, per place and across places.
//!
//! Counts and tags are for everyone who may read the place; the texts (what was learned,
//! grouped by area) are only put in when asked for, and the server asks only for
//! recorders and admins.

use crate::period::{with_starts, Every};
use crate::query::PlaceHistory;
use crate::ProjectionError;
use serde::Serialize;
use shiftlog_model::{
    Condition, Event, EventBody, LearningArea, ParticipationRung, PlaceId, PowerExpression, PowerForm, PowerSpace,
    Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};

/// What a record carries no word of the vocabulary for.
pub const UNTAGGED: &str = "untagged";

/// Counts by each word of a vocabulary (every word present, 0 when unused) and
/// [`UNTAGGED`].
pub type Tally = BTreeMap<&'static str, u64>;

fn tally(words: impl IntoIterator<Item = &'static str>) -> Tally {
    words.into_iter().chain([UNTAGGED]).map(|w| (w, 0)).collect()
}

/// Power shifts of a period, by the power cube's dimensions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerTally {
    /// How many shifts.
    pub shifts: u64,
    /// The amount they moved, all domains together.
    pub amount: f64,
    /// By space (closed, invited, claimed).
    pub by_space: Tally,
    /// By form (visible, hidden, invisible).
    pub by_form: Tally,
    /// By expression (power over, with, to, within).
    pub by_expression: Tally,
}

/// One period of a place's (or every place's) synthesis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodSynthesis {
    /// The period's first instant.
    pub from: Timestamp,
    /// Its last (events that occurred up to and including it count).
    pub to: Timestamp,
    /// Learning records by area (a record tagged with two areas counts in both).
    pub learning: Tally,
    /// Outcomes harvested by condition (the `condition` field and condition tags).
    pub outcomes: Tally,
    /// Power shifts by space, form and expression.
    pub power: PowerTally,
    /// Tags of the ladder of participation, on events of any type.
    pub participation: Tally,
    /// Sessions held.
    pub sessions: u64,
    /// Distinct voices recorded as absent in those sessions.
    pub absent_voices: u64,
    /// Learning records made in a session (they name one).
    pub learning_from_sessions: u64,
}

impl PeriodSynthesis {
    fn empty(from: Timestamp, to: Timestamp) -> PeriodSynthesis {
        PeriodSynthesis {
            from,
            to,
            learning: tally(LearningArea::ALL.iter().map(|a| a.as_str())),
            outcomes: tally(Condition::ALL.iter().map(|c| c.as_str())),
            power: PowerTally {
                shifts: 0,
                amount: 0.0,
                by_space: tally(PowerSpace::ALL.iter().map(|s| s.as_str())),
                by_form: tally(PowerForm::ALL.iter().map(|f| f.as_str())),
                by_expression: tally(PowerExpression::ALL.iter().map(|e| e.as_str())),
            },
            participation: ParticipationRung::ALL.iter().map(|r| (r.as_str(), 0)).collect(),
            sessions: 0,
            absent_voices: 0,
            learning_from_sessions: 0,
        }
    }

    /// Adds `other`'s counts (the same period of another place); absent voices are
    /// added too (one place's voices are not another's).
    fn add(&mut self, other: &PeriodSynthesis) {
        fn sum(a: &mut Tally, b: &Tally) {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
        }
        sum(&mut self.learning, &other.learning);
        sum(&mut self.outcomes, &other.outcomes);
        sum(&mut self.participation, &other.participation);
        sum(&mut self.power.by_space, &other.power.by_space);
        sum(&mut self.power.by_form, &other.power.by_form);
        sum(&mut self.power.by_expression, &other.power.by_expression);
        self.power.shifts += other.power.shifts;
        self.power.amount += other.power.amount;
        self.sessions += other.sessions;
        self.absent_voices += other.absent_voices;
        self.learning_from_sessions += other.learning_from_sessions;
    }
}

/// A learning record's text, for those who may read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningText {
    /// When it was learned.
    pub at: Timestamp,
    /// What was learned.
    pub text: String,
    /// The session it came from, if any.
    pub session: Option<String>,
    /// That session's title, if recorded.
    pub session_title: Option<String>,
}

/// One place's synthesis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceSynthesis {
    /// The place.
    pub place: PlaceId,
    /// Its periods, in order.
    pub periods: Vec<PeriodSynthesis>,
    /// Learning texts by area, each area's in time order (only when texts were asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub texts: Option<BTreeMap<&'static str, Vec<LearningText>>>,
}

/// The synthesis of some places over the same periods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Synthesis {
    /// The last log position read.
    pub known_at_position: u64,
    /// Whether the texts are included.
    pub with_texts: bool,
    /// Every place, in the order asked.
    pub places: Vec<PlaceSynthesis>,
    /// Every place's counts added, period by period.
    pub across: Vec<PeriodSynthesis>,
}

/// The words of `vocabulary` among `words`, each once, in the vocabulary's order.
fn found<T: Copy + Ord>(words: impl IntoIterator<Item = impl AsRef<str>>, parse: fn(&str) -> Option<T>) -> BTreeSet<T> {
    words.into_iter().filter_map(|w| parse(w.as_ref())).collect()
}

/// Adds one event to its period (and its text to `texts`).
fn count(
    period: &mut PeriodSynthesis,
    e: &Event,
    titles: &BTreeMap<String, Option<String>>,
    texts: Option<&mut BTreeMap<&'static str, Vec<LearningText>>>,
) {
    for rung in found(&e.tags, ParticipationRung::from_name) {
        *period.participation.entry(rung.as_str()).or_default() += 1;
    }
    let bump = |t: &mut Tally, key: Option<&'static str>| *t.entry(key.unwrap_or(UNTAGGED)).or_default() += 1;
    match &e.body {
        EventBody::LearningRecorded {
            text, themes, session, ..
        } => {
            let areas = found(themes.iter().chain(&e.tags), LearningArea::from_name);
            if areas.is_empty() {
                bump(&mut period.learning, None);
            }
            for a in &areas {
                bump(&mut period.learning, Some(a.as_str()));
            }
            period.learning_from_sessions += u64::from(session.is_some());
            if let Some(texts) = texts {
                let entry = LearningText {
                    at: e.occurred_at,
                    text: text.clone(),
                    session: session.as_ref().map(|s| s.to_string()),
                    session_title: session.as_ref().and_then(|s| titles.get(s.as_str()).cloned().flatten()),
                };
                let keys: Vec<&'static str> = if areas.is_empty() {
                    vec![UNTAGGED]
                } else {
                    areas.iter().map(|a| a.as_str()).collect()
                };
                for k in keys {
                    texts.entry(k).or_default().push(entry.clone());
                }
            }
        }
        EventBody::OutcomeHarvested { condition, .. } => {
            let conditions = found(condition.iter().chain(&e.tags), Condition::from_name);
            if conditions.is_empty() {
                bump(&mut period.outcomes, None);
            }
            for c in conditions {
                bump(&mut period.outcomes, Some(c.as_str()));
            }
        }
        EventBody::PowerShifted {
            amount,
            form,
            space,
            expression,
            ..
        } => {
            period.power.shifts += 1;
            period.power.amount += amount;
            bump(&mut period.power.by_space, space.map(|s| s.as_str()));
            bump(&mut period.power.by_form, form.map(|f| f.as_str()));
            bump(&mut period.power.by_expression, expression.map(|x| x.as_str()));
        }
        EventBody::SessionHeld { .. } => period.sessions += 1,
        EventBody::PlaceRegistered { .. }
        | EventBody::ActorJoined { .. }
        | EventBody::ActorUpdated { .. }
        | EventBody::ActorLeft { .. }
        | EventBody::RelationshipFormed { .. }
        | EventBody::RelationshipChanged { .. }
        | EventBody::RelationshipEnded { .. }
        | EventBody::EventRetracted { .. }
        | EventBody::ActorRedacted { .. } => {}
    }
}

impl PlaceHistory {
    /// The place's synthesis over the periods of `every` from `from` to `to` (by default
    /// its first and last event); with `texts`, the learning texts by area too.
    pub fn synthesis(
        &self,
        every: Every,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        texts: bool,
    ) -> Result<PlaceSynthesis, ProjectionError> {
        let place = self.place().clone();
        let Some((first, last)) = self.span() else {
            return Ok(PlaceSynthesis {
                place,
                periods: Vec::new(),
                texts: texts.then(BTreeMap::new),
            });
        };
        let (from, to) = (from.unwrap_or(first), to.unwrap_or(last));
        let ends = self.steps(every, from, to)?;
        let mut periods: Vec<PeriodSynthesis> = with_starts(every, from, &ends)
            .into_iter()
            .map(|(start, end)| PeriodSynthesis::empty(start, end))
            .collect();
        let titles: BTreeMap<String, Option<String>> = self
            .events()
            .filter_map(|(_, e)| match &e.body {
                EventBody::SessionHeld { session, title, .. } => Some((session.to_string(), title.clone())),
                _ => None,
            })
            .collect();
        let mut by_area = texts.then(BTreeMap::new);
        let mut voices: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); periods.len()];
        let first_start = periods.first().map(|p| p.from);
        for (_, e) in self.events() {
            let at = e.occurred_at;
            if first_start.is_none_or(|s| at < s) {
                continue;
            }
            // The first period whose end is at or after the event.
            let i = ends.partition_point(|&end| end < at);
            let Some(period) = periods.get_mut(i) else { break };
            if let EventBody::SessionHeld { absent_voices, .. } = &e.body {
                voices[i].extend(absent_voices.iter().map(String::as_str));
            }
            count(period, e, &titles, by_area.as_mut());
        }
        for (p, v) in periods.iter_mut().zip(&voices) {
            p.absent_voices = v.len() as u64;
        }
        Ok(PlaceSynthesis {
            place,
            periods,
            texts: by_area,
        })
    }
}

/// The synthesis of `histories` (in the order given) over the same periods: each place's
/// from `from` to `to` (by default the earliest and latest event of them all), and every
/// place's counts added.
pub fn synthesis(
    histories: &[&PlaceHistory],
    every: Every,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    texts: bool,
) -> Result<Synthesis, ProjectionError> {
    let places = histories
        .iter()
        .map(|h| h.synthesis(every, from, to, texts))
        .collect::<Result<Vec<_>, _>>()?;
    let known = histories.iter().map(|h| h.known_at_position()).max().unwrap_or(0);
    combine(places, every, known, texts)
}

/// Puts places' syntheses (each over its own periods, as [`PlaceHistory::synthesis`]
/// gives them) on one grid of periods, from the earliest period of any to the latest,
/// and adds them up: how a synthesis of many places is made a group of places at a time.
/// Periods follow the calendar (`every`), so every place's periods are periods of the
/// grid; a place is given empty periods where it had none.
pub fn combine(
    mut places: Vec<PlaceSynthesis>,
    every: Every,
    known_at_position: u64,
    texts: bool,
) -> Result<Synthesis, ProjectionError> {
    // The earliest period of any place (with that place, for an error), and the latest.
    let first = places
        .iter()
        .filter_map(|p| p.periods.first().map(|x| (x.from, &p.place)))
        .min_by_key(|(from, _)| *from);
    let last = places.iter().filter_map(|p| p.periods.last()).map(|p| p.to).max();
    let mut across = Vec::new();
    if let (Some((first, place)), Some(last)) = (first, last) {
        let ends = crate::period::steps(every, first, last).ok_or_else(|| ProjectionError::TooManySteps {
            place: place.clone(),
            every,
            from: first,
            to: last,
        })?;
        let grid = with_starts(every, first, &ends);
        for p in &mut places {
            let mut own: BTreeMap<Timestamp, PeriodSynthesis> = std::mem::take(&mut p.periods)
                .into_iter()
                .map(|x| (x.from, x))
                .collect();
            p.periods = grid
                .iter()
                .map(|&(s, e)| own.remove(&s).unwrap_or_else(|| PeriodSynthesis::empty(s, e)))
                .collect();
        }
        across = grid.iter().map(|&(s, e)| PeriodSynthesis::empty(s, e)).collect();
        for p in &places {
            for (a, x) in across.iter_mut().zip(&p.periods) {
                a.add(x);
            }
        }
    }
    Ok(Synthesis {
        known_at_position,
        with_texts: texts,
        places,
        across,
    })
}
