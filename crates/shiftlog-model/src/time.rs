//! Points in time: valid time (`occurred_at`) and recorded time (`recorded_at`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::fmt;

/// A point in time, in UTC, to the nanosecond.
///
/// Parsed from RFC 3339 (`2023-03-01T09:30:00+01:00`), from a timestamp without an
/// offset (taken as UTC), or from a bare date `YYYY-MM-DD` (its midnight UTC).
///
/// ```
/// use shiftlog_model::Timestamp;
/// let a: Timestamp = "2023-03-01".parse().unwrap();
/// let b: Timestamp = "2023-03-01T01:00:00+01:00".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "2023-03-01T00:00:00Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Why a string is not a valid timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an RFC 3339 timestamp or a YYYY-MM-DD date{detail}")]
pub struct TimestampError {
    input: String,
    detail: String,
}

impl TimestampError {
    fn new(input: &str, detail: &str) -> Self {
        let mut shown: String = input.chars().take(64).collect();
        if shown.len() < input.len() {
            shown.push('…');
        }
        TimestampError {
            input: shown,
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
        }
    }
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// From seconds and nanoseconds since the Unix epoch; `None` outside the years the
    /// format can write (0000 to 9999), or with `nanos` of a second or more.
    ///
    /// ```
    /// use shiftlog_model::Timestamp;
    /// assert_eq!(Timestamp::from_unix(0, 0).unwrap().to_string(), "1970-01-01T00:00:00Z");
    /// assert!(Timestamp::from_unix(253_402_300_800, 0).is_none(), "year 10000");
    /// assert!(Timestamp::from_unix(59, 1_500_000_000).is_none());
    /// ```
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Self> {
        if nanos >= 1_000_000_000 {
            return None;
        }
        DateTime::from_timestamp(secs, nanos)
            .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
            .map(Timestamp)
    }

    /// Seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// The nanoseconds within the second.
    pub fn subsec_nanos(&self) -> u32 {
        self.0.timestamp_subsec_nanos()
    }

    /// A 12-byte big-endian key that sorts like the timestamp.
    pub fn sort_key(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        let secs = (self.unix_seconds() as u64) ^ (1u64 << 63);
        out[..8].copy_from_slice(&secs.to_be_bytes());
        out[8..].copy_from_slice(&self.subsec_nanos().to_be_bytes());
        out
    }

    /// The chrono value, for date arithmetic.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Wraps a chrono value.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Timestamp(dt)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, TimestampError> {
        let t = Self::parse(s)?;
        // chrono reads second 60 as a leap second, held as 1,000,000,000 nanoseconds or
        // more, which Unix time (and so the stored record) cannot represent: refused here
        // rather than accepted and then unreadable from the store (found by fuzzing).
        if t.subsec_nanos() >= 1_000_000_000 {
            return Err(TimestampError::new(
                s,
                "second 60 (a leap second) is not supported: write :59 or the next second",
            ));
        }
        Ok(t)
    }
}

impl Timestamp {
    fn parse(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        // The shape is checked by hand first: chrono alone accepts signs, years of
        // more than four digits and other forms the spec does not allow.
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() < 10 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
            return Err(TimestampError::new(s, "expected YYYY-MM-DD at the start"));
        }
        if b.len() == 10 {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| TimestampError::new(s, &e.to_string()))?;
            return Ok(Timestamp(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()));
        }
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(TimestampError::new(s, "expected `T` after the date"));
        }
        let has_offset = s.ends_with('Z')
            || s.ends_with('z')
            || (b.len() >= 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':');
        if has_offset {
            DateTime::parse_from_rfc3339(s)
                .map(|d| Timestamp(d.with_timezone(&Utc)))
                .map_err(|e| TimestampError::new(s, &e.to_string()))
        } else {
            let t = s.replace([' ', 't'], "T");
            NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|d| Timestamp(d.and_utc()))
                .map_err(|e| TimestampError::new(s, &e.to_string()))
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::SecondsFormat;
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Serialized as its RFC 3339 text (UTC, `Z`).
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Deserialized from any form [`Timestamp`]'s `FromStr` accepts.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Result<Timestamp, TimestampError> {
        s.parse()
    }

    #[test]
    fn accepted_forms() {
        let midnight = ts("2023-05-01").unwrap();
        assert_eq!(midnight, ts("2023-05-01T00:00:00Z").unwrap());
        assert_eq!(midnight, ts("2023-05-01T00:00:00").unwrap());
        assert_eq!(midnight, ts("2023-05-01T02:00:00+02:00").unwrap());
        assert_eq!(ts("2023-05-01T00:00:00.5Z").unwrap().subsec_nanos(), 500_000_000);
        // A leap second is refused with a reason, in every form.
        for leap in [
            "2023-02-22T05:48:60Z",
            "2016-12-31T23:59:60.5Z",
            "2023-02-22T05:48:60",
            "2023-02-22T06:48:60+01:00",
        ] {
            let e = ts(leap).unwrap_err().to_string();
            assert!(e.contains("leap second"), "{leap}: {e}");
        }
        assert_eq!(
            ts("2023-05-01T10:00:00.123456789Z").unwrap().to_string(),
            "2023-05-01T10:00:00.123456789Z"
        );
        assert!(ts("0000-01-01").is_ok());
        assert!(ts("9999-12-31T23:59:59Z").is_ok());
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "2023-02-30",
            "2023-13-01",
            "23-01-01",
            "2023/01/01",
            "",
            "2023-01-01T25:00:00Z",
            "+2023-01-01",
            "2023-01-01Tnoon",
            "20230-01-01",
            "2023-01-01T00:00:00+0200",
            "yesterday",
        ] {
            assert!(ts(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sort_key_orders_like_time() {
        let xs = [
            "0001-01-01",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01",
            "2023-01-01T00:00:00.000000001Z",
            "9999-12-31",
        ];
        let keys: Vec<_> = xs.iter().map(|s| ts(s).unwrap().sort_key()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
