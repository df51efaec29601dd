//! Evolution steps: the end of every day, week, month, quarter or year in a span.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, Utc};
use shiftlog_model::Timestamp;

/// The length of an evolution step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Calendar days.
    Day,
    /// ISO weeks (Monday to Sunday).
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
}

impl Every {
    /// Every step length, in order.
    pub const ALL: [Every; 5] = [Every::Day, Every::Week, Every::Month, Every::Quarter, Every::Year];

    /// Its name, as flags and query parameters spell it (`day`, `week`, `month`, `quarter`,
    /// `year`).
    pub fn name(self) -> &'static str {
        match self {
            Every::Day => "day",
            Every::Week => "week",
            Every::Month => "month",
            Every::Quarter => "quarter",
            Every::Year => "year",
        }
    }
}

impl std::str::FromStr for Every {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Every::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("`{s}` is not one of day, week, month, quarter, year"))
    }
}

fn start_of(every: Every, d: NaiveDate) -> NaiveDate {
    match every {
        Every::Day => d,
        Every::Week => d - Days::new(d.weekday().num_days_from_monday() as u64),
        Every::Month => d.with_day(1).expect("day 1 exists"),
        Every::Quarter => NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).expect("valid"),
        Every::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1).expect("valid"),
    }
}

fn next_start(every: Every, start: NaiveDate) -> Option<NaiveDate> {
    match every {
        Every::Day => start.checked_add_days(Days::new(1)),
        Every::Week => start.checked_add_days(Days::new(7)),
        Every::Month => start.checked_add_months(Months::new(1)),
        Every::Quarter => start.checked_add_months(Months::new(3)),
        Every::Year => start.checked_add_months(Months::new(12)),
    }
}

/// The first instant of the period holding `t`: where an evolution from `t` begins, and
/// what its first step's change is measured from.
pub fn period_start(every: Every, t: Timestamp) -> Timestamp {
    let start = start_of(every, t.as_datetime().date_naive());
    Timestamp::from_datetime(start.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

/// Each of `ends` (the period ends [`steps`] gives from `from`) with its period's first
/// instant: the start of the period holding `from`, then each end's next instant.
pub(crate) fn with_starts(every: Every, from: Timestamp, ends: &[Timestamp]) -> Vec<(Timestamp, Timestamp)> {
    let mut start = period_start(every, from);
    ends.iter()
        .map(|&end| {
            let period = (start, end);
            start = Timestamp::from_datetime(end.as_datetime() + Duration::nanoseconds(1));
            period
        })
        .collect()
}

/// The most steps one evolution may have: a day at a time for over 270 years. A span
/// from year 0 to 9999 a day at a time (3.65 million steps) would otherwise be computed
/// and sent whole.
pub const MAX_STEPS: usize = 100_000;

/// The last instant of every period from the one holding `from` to the one holding `to`;
/// `None` when there would be more than [`MAX_STEPS`].
pub fn steps(every: Every, from: Timestamp, to: Timestamp) -> Option<Vec<Timestamp>> {
    let mut out = Vec::new();
    let mut start = start_of(every, from.as_datetime().date_naive());
    let last = to.as_datetime().date_naive();
    while start <= last {
        if out.len() == MAX_STEPS {
            return None;
        }
        let Some(next) = next_start(every, start) else { break };
        let end: DateTime<Utc> = next.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - Duration::nanoseconds(1);
        out.push(Timestamp::from_datetime(end));
        start = next;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn month_ends() {
        let s = steps(Every::Month, t("2023-01-15"), t("2023-03-01")).unwrap();
        let shown: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            shown,
            [
                "2023-01-31T23:59:59.999999999Z",
                "2023-02-28T23:59:59.999999999Z",
                "2023-03-31T23:59:59.999999999Z"
            ]
        );
        assert_eq!(
            steps(Every::Quarter, t("2023-02-01"), t("2023-12-31")).unwrap().len(),
            4
        );
        assert_eq!(
            steps(Every::Week, t("2024-01-03"), t("2024-01-03")).unwrap()[0].to_string(),
            "2024-01-07T23:59:59.999999999Z"
        );
        assert_eq!(steps(Every::Year, t("2023-05-01"), t("2024-01-01")).unwrap().len(), 2);
        assert_eq!(
            steps(Every::Day, t("2023-05-01T10:00:00Z"), t("2023-05-03"))
                .unwrap()
                .len(),
            3
        );
    }
}
