//! Reading events from NDJSON or a JSON array, keeping each event's location.

use crate::event::Event;
use crate::parse::raw_event_id;
use crate::rejection::{FieldError, Location, Rejection};
use serde_json::Value;
use std::io::BufRead;

/// The longest line (in bytes) that NDJSON input may have; longer lines are rejected
/// without being held in memory whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One event read from input, with where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedEvent {
    /// Where it was in the input.
    pub location: Location,
    /// The parsed event.
    pub event: Event,
}

/// How many rejections [`parse_input`] keeps; past that it counts them
/// ([`ParsedInput::more_rejections`]), so that a hostile input of a million bad lines costs
/// a counter, not a million messages.
pub const MAX_KEPT_REJECTIONS: usize = 1_000;

/// All of an input: the events that parsed, and a rejection for each that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedInput {
    /// Events that passed every check that needs only the event itself, in input order.
    pub events: Vec<LocatedEvent>,
    /// Events (or lines) that did not, in input order: the first
    /// [`MAX_KEPT_REJECTIONS`] of them.
    pub rejections: Vec<Rejection>,
    /// How many more were rejected and not kept.
    pub more_rejections: usize,
}

impl ParsedInput {
    fn reject(&mut self, r: Rejection) {
        if self.rejections.len() < MAX_KEPT_REJECTIONS {
            self.rejections.push(r);
        } else {
            self.more_rejections += 1;
        }
    }

    /// How many events (or lines) were rejected in all, kept or not.
    pub fn rejected(&self) -> usize {
        self.rejections.len() + self.more_rejections
    }
}

fn parse_value(location: Location, v: &Value) -> Result<LocatedEvent, Rejection> {
    Event::from_json(v)
        .map(|event| LocatedEvent { location, event })
        .map_err(|error| Rejection {
            location,
            event_id: raw_event_id(v),
            error,
        })
}

fn syntax_error(location: Location, e: &serde_json::Error) -> Rejection {
    // serde_json says "... at line 1 column 7"; the line is already in `location` for
    // NDJSON, so keep only the column there.
    let text = e.to_string();
    let mut what = text.rsplit_once(" at line ").map_or(text.as_str(), |(w, _)| w);
    if what == "recursion limit exceeded" {
        what = "nested more than 128 levels deep";
    }
    let place = if location == Location::Line(e.line()) || e.line() == 1 {
        format!("column {}", e.column())
    } else {
        format!("line {} column {}", e.line(), e.column())
    };
    Rejection {
        location,
        event_id: None,
        error: FieldError::whole(format!("invalid JSON at {place}: {what}")),
    }
}

/// Parses a whole input held in memory: a JSON array of events, or NDJSON (one event per
/// line; blank lines are skipped but counted).
///
/// ```
/// use shiftlog_model::{parse_input, Location};
/// let input = "{\"type\":\"place_registered\",\"id\":\"p1\",\"occurred_at\":\"2023-01-01\",\"place\":\"x\",\"name\":\"X\"}\n\
///              {\"type\":\"actor_left\",\"occurred_at\":\"2023-01-01\",\"place\":\"x\"}\n";
/// let parsed = parse_input(input);
/// assert_eq!(parsed.events.len(), 1);
/// assert_eq!(parsed.rejections[0].location, Location::Line(2));
/// assert_eq!(parsed.rejections[0].field(), Some("actor"));
/// ```
pub fn parse_input(text: &str) -> ParsedInput {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('[') {
        parse_array(text)
    } else {
        let mut out = ParsedInput::default();
        for item in NdjsonReader::new(text.as_bytes()) {
            match item {
                Ok(e) => out.events.push(e),
                Err(ReadError::Rejected(r)) => out.reject(r),
                // Reading from a byte slice cannot fail.
                Err(ReadError::Io(_)) => unreachable!("reading from memory"),
            }
        }
        out
    }
}

/// A JSON array of events, read one element at a time: each element's JSON is dropped as
/// soon as it is an event or a rejection, so memory follows the events kept, not the text.
fn parse_array(text: &str) -> ParsedInput {
    use serde::de::{Deserializer, SeqAccess, Visitor};

    struct Elements<'a>(&'a mut ParsedInput);

    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while let Some(crate::strict::Strict(v)) = seq.next_element()? {
                match parse_value(Location::Index(i), &v) {
                    Ok(e) => self.0.events.push(e),
                    Err(r) => self.0.reject(r),
                }
                i += 1;
            }
            Ok(())
        }
    }

    let mut out = ParsedInput::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de.deserialize_seq(Elements(&mut out)).and_then(|()| de.end());
    if let Err(e) = read {
        // Nothing of a malformed array is appended: the whole input is refused.
        out = ParsedInput::default();
        // The text starts with `[`, so what failed is its syntax or a duplicate key.
        let error = syntax_error(Location::Line(e.line()), &e);
        out.rejections.push(error);
    }
    out
}

/// What can go wrong reading one item of streamed input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The line is not a valid event (and is skipped; reading may go on).
    #[error(transparent)]
    Rejected(Rejection),
    /// The input could not be read.
    #[error("could not read input: {0}")]
    Io(#[from] std::io::Error),
}

/// Streams events from NDJSON, one line at a time, so inputs larger than memory can be
/// appended batch by batch.
#[derive(Debug)]
pub struct NdjsonReader<R> {
    input: R,
    line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> NdjsonReader<R> {
    /// Reads from `input`.
    pub fn new(input: R) -> Self {
        NdjsonReader {
            input,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The number of the last line read.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Skips the rest of an over-long line.
    fn skip_line(&mut self) -> std::io::Result<()> {
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.input.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.input.consume(n);
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<LocatedEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            let read = std::io::Read::take(&mut self.input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut self.buf);
            match read {
                Err(e) => return Some(Err(ReadError::Io(e))),
                Ok(0) => return None,
                Ok(_) => {}
            }
            self.line += 1;
            let location = Location::Line(self.line);
            if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                if let Err(e) = self.skip_line() {
                    return Some(Err(ReadError::Io(e)));
                }
                return Some(Err(ReadError::Rejected(Rejection {
                    location,
                    event_id: None,
                    error: FieldError::whole(format!("line is longer than {MAX_LINE_BYTES} bytes")),
                })));
            }
            let mut bytes = &self.buf[..];
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(match crate::strict::parse_json(bytes) {
                Ok(v) => parse_value(location, &v).map_err(ReadError::Rejected),
                Err(e) => Err(ReadError::Rejected(syntax_error(location, &e))),
            });
        }
    }
}
