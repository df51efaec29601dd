//! From interchange JSON to typed events, with errors that name the field.

use crate::event::{ActorKind, Event, EventBody, EventType, ExtraFields, PowerExpression, PowerForm, PowerSpace};
use crate::id::{ActorId, EventId, IdError, PlaceId, SessionId};
use crate::rejection::FieldError;
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Envelope fields, common to every type.
const ENVELOPE: &[&str] = &["type", "id", "occurred_at", "place", "recorded_by", "source", "tags"];

/// Fields the engine adds on output (`shiftlog log`); ignored on input so that a log
/// round-trips into `append`.
pub const ENGINE_FIELDS: &[&str] = &["position", "recorded_at"];

fn type_fields(t: EventType) -> &'static [&'static str] {
    match t {
        EventType::PlaceRegistered => &["name", "region", "parent"],
        EventType::ActorJoined => &["actor", "name", "kind", "sector", "roles", "power", "attributes"],
        EventType::ActorUpdated => &["actor", "name", "kind", "sector", "roles", "attributes"],
        EventType::ActorLeft => &["actor"],
        EventType::RelationshipFormed => &["from", "to", "kind", "strength", "directed", "trust", "value"],
        EventType::RelationshipChanged => &["from", "to", "kind", "strength", "trust", "value"],
        EventType::RelationshipEnded => &["from", "to", "kind"],
        EventType::PowerShifted => &[
            "domain",
            "amount",
            "from",
            "to",
            "form",
            "space",
            "expression",
            "evidence",
        ],
        EventType::SessionHeld => &["session", "title", "theme", "participants", "absent_voices"],
        EventType::LearningRecorded => &["text", "themes", "actors", "session"],
        EventType::OutcomeHarvested => &[
            "description",
            "actors",
            "significance",
            "contribution",
            "sources",
            "condition",
        ],
        EventType::EventRetracted => &["target", "reason"],
        EventType::ActorRedacted => &["actor", "reason"],
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> FieldError {
    FieldError::new(field, format!("expected {expected}, got {}", json_type(got)))
}

/// Reads the fields of one JSON object; `null` counts as absent.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn required(&self, field: &str) -> Result<&'a Value, FieldError> {
        self.get(field)
            .ok_or_else(|| FieldError::new(field, "missing required field"))
    }

    fn opt_str(&self, field: &str) -> Result<Option<String>, FieldError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(wrong_type(field, "a string", v)),
        }
    }

    fn str(&self, field: &str) -> Result<String, FieldError> {
        match self.required(field)? {
            Value::String(s) => Ok(s.clone()),
            v => Err(wrong_type(field, "a string", v)),
        }
    }

    fn id<T>(&self, field: &str, make: fn(String) -> Result<T, IdError>) -> Result<T, FieldError> {
        let s = self.str(field)?;
        make(s).map_err(|e| FieldError::new(field, format!("invalid id: {e}")))
    }

    fn opt_id<T>(&self, field: &str, make: fn(String) -> Result<T, IdError>) -> Result<Option<T>, FieldError> {
        match self.get(field) {
            None => Ok(None),
            Some(_) => self.id(field, make).map(Some),
        }
    }

    fn str_list(&self, field: &str, required: bool) -> Result<Option<Vec<String>>, FieldError> {
        let v = if required {
            Some(self.required(field)?)
        } else {
            self.get(field)
        };
        let Some(v) = v else { return Ok(None) };
        let Value::Array(items) = v else {
            return Err(wrong_type(field, "an array of strings", v));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(&format!("{field}[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn id_list<T>(
        &self,
        field: &str,
        required: bool,
        make: fn(String) -> Result<T, IdError>,
    ) -> Result<Vec<T>, FieldError> {
        let Some(items) = self.str_list(field, required)? else {
            return Ok(Vec::new());
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, s)| make(s).map_err(|e| FieldError::new(format!("{field}[{i}]"), format!("invalid id: {e}"))))
            .collect()
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>, FieldError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| FieldError::new(field, "number out of range")),
            Some(v) => Err(wrong_type(field, "a number", v)),
        }
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, FieldError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(field, "true or false", v)),
        }
    }

    fn string_map(&self, field: &str) -> Result<Option<BTreeMap<String, String>>, FieldError> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        let Value::Object(m) = v else {
            return Err(wrong_type(field, "an object of strings", v));
        };
        m.iter()
            .map(|(k, x)| match x {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(wrong_type(&format!("{field}.{k}"), "a string", other)),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some)
    }

    fn power_map(&self, field: &str) -> Result<BTreeMap<String, f64>, FieldError> {
        let Some(v) = self.get(field) else {
            return Ok(BTreeMap::new());
        };
        let Value::Object(m) = v else {
            return Err(wrong_type(field, "an object of domain -> number", v));
        };
        let mut out = BTreeMap::new();
        for (k, x) in m {
            let path = format!("{field}.{k}");
            let n = match x {
                Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
                other => return Err(wrong_type(&path, "a number", other)),
            };
            // Negative values are refused by `Event::check`.
            out.insert(
                k.clone(),
                n.ok_or_else(|| FieldError::new(path, "number out of range"))?,
            );
        }
        Ok(out)
    }

    fn named<T>(&self, field: &str, from_name: fn(&str) -> Option<T>, all: &[&str]) -> Result<Option<T>, FieldError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => from_name(&s)
                .map(Some)
                .ok_or_else(|| FieldError::new(field, format!("`{s}` is not one of {}", all.join(", ")))),
        }
    }
}

fn names<T: Copy>(all: &[T], f: fn(&T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(f).collect()
}

/// The `id` of a JSON event, when it has a readable one: for error messages, before
/// (or whatever) parsing finds wrong with the rest.
pub fn raw_event_id(v: &Value) -> Option<String> {
    match v.get("id") {
        Some(Value::String(s)) => Some(s.chars().take(140).collect()),
        _ => None,
    }
}

impl Event {
    /// Parses one event from a JSON value, checking every rule that needs nothing but
    /// the event itself (types, ranges, ids, timestamps).
    ///
    /// Rules that need the log (is the place registered, has the actor joined) are
    /// checked by [`crate::check_against_log`] when the event is appended.
    pub fn from_json(v: &Value) -> Result<Event, FieldError> {
        let Value::Object(obj) = v else {
            return Err(FieldError::whole(format!(
                "expected a JSON object, got {}",
                json_type(v)
            )));
        };
        let f = Fields { obj };
        let type_name = f.str("type")?;
        let event_type = EventType::from_name(&type_name).ok_or_else(|| {
            FieldError::new(
                "type",
                format!(
                    "unknown event type `{type_name}` (known: {})",
                    names(EventType::ALL, EventType::as_str).join(", ")
                ),
            )
        })?;
        let id = f.opt_id("id", EventId::new)?;
        let occurred_at: Timestamp = f
            .str("occurred_at")?
            .parse()
            .map_err(|e: crate::time::TimestampError| FieldError::new("occurred_at", e.to_string()))?;
        let place = if event_type.requires_place() {
            Some(f.id("place", PlaceId::new)?)
        } else {
            f.opt_id("place", PlaceId::new)?
        };
        let recorded_by = f.opt_str("recorded_by")?;
        let source = f.opt_str("source")?;
        let tags = f.str_list("tags", false)?.unwrap_or_default();
        let body = parse_body(event_type, &f)?;

        let known = type_fields(event_type);
        let extra: ExtraFields = obj
            .iter()
            .filter(|(k, _)| {
                !ENVELOPE.contains(&k.as_str()) && !known.contains(&k.as_str()) && !ENGINE_FIELDS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let event = Event {
            id,
            occurred_at,
            place,
            recorded_by,
            source,
            tags,
            body,
            extra,
        };
        event.check()?;
        Ok(event)
    }

    /// Checks the rules of [`Event::from_json`] that its types cannot hold by themselves
    /// (`from_json` ends with it; this is their one home):
    /// a place where the type needs one, numbers in range, a relationship or power shift
    /// between two different actors, and no unknown field named like a known one. For
    /// events built in code, or read back from storage, so that every event the engine
    /// holds could have come from the interchange format.
    ///
    /// ```
    /// use shiftlog_model::{Event, EventBody};
    /// let mut e: Event = serde_json::from_str(r#"{"type":"relationship_formed","id":"r1","occurred_at":"2023-02-01",
    ///     "place":"p","from":"a","to":"b","kind":"trust","strength":0.3}"#).unwrap();
    /// assert!(e.check().is_ok());
    /// if let EventBody::RelationshipFormed { strength, .. } = &mut e.body {
    ///     *strength = Some(f64::NAN);
    /// }
    /// assert_eq!(e.check().unwrap_err().field.as_deref(), Some("strength"));
    /// ```
    pub fn check(&self) -> Result<(), FieldError> {
        let t = self.event_type();
        if t.requires_place() && self.place.is_none() {
            return Err(FieldError::new("place", "missing required field"));
        }
        let known = type_fields(t);
        if let Some(k) = self.extra.keys().find(|k| {
            ENVELOPE.contains(&k.as_str()) || known.contains(&k.as_str()) || ENGINE_FIELDS.contains(&k.as_str())
        }) {
            return Err(FieldError::new(
                k.as_str(),
                "an unknown field may not have a known field's name",
            ));
        }
        let unit = |field: &str, x: &Option<f64>| match x {
            Some(x) if !(0.0..=1.0).contains(x) => {
                Err(FieldError::new(field, format!("must be between 0 and 1, got {x}")))
            }
            _ => Ok(()),
        };
        let distinct = |from: &ActorId, to: &ActorId| {
            if from == to {
                Err(FieldError::new(
                    "to",
                    format!("`from` and `to` are the same actor ({from})"),
                ))
            } else {
                Ok(())
            }
        };
        match &self.body {
            EventBody::ActorJoined { power, .. } => {
                for (domain, x) in power {
                    if !(x.is_finite() && *x >= 0.0) {
                        return Err(FieldError::new(
                            format!("power.{domain}"),
                            format!("must not be negative, got {x}"),
                        ));
                    }
                }
            }
            EventBody::RelationshipFormed {
                from,
                to,
                strength,
                trust,
                value,
                ..
            }
            | EventBody::RelationshipChanged {
                from,
                to,
                strength,
                trust,
                value,
                ..
            } => {
                distinct(from, to)?;
                unit("strength", strength)?;
                unit("trust", trust)?;
                unit("value", value)?;
            }
            EventBody::RelationshipEnded { from, to, .. } => distinct(from, to)?,
            EventBody::PowerShifted { amount, from, to, .. } => {
                if !(amount.is_finite() && *amount > 0.0) {
                    return Err(FieldError::new(
                        "amount",
                        format!("must be greater than 0, got {amount}"),
                    ));
                }
                match (from, to) {
                    (None, None) => {
                        return Err(FieldError::whole("a power shift needs at least one of `from` and `to`"))
                    }
                    (Some(a), Some(b)) => distinct(a, b)?,
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn parse_body(t: EventType, f: &Fields<'_>) -> Result<EventBody, FieldError> {
    let kinds = names(ActorKind::ALL, ActorKind::as_str);
    Ok(match t {
        EventType::PlaceRegistered => EventBody::PlaceRegistered {
            name: f.str("name")?,
            region: f.opt_str("region")?,
            parent: f.opt_id("parent", PlaceId::new)?,
        },
        EventType::ActorJoined => EventBody::ActorJoined {
            actor: f.id("actor", ActorId::new)?,
            name: f.opt_str("name")?,
            kind: {
                f.required("kind")?;
                f.named("kind", ActorKind::from_name, &kinds)?.expect("kind is present")
            },
            sector: f.opt_str("sector")?,
            roles: f.str_list("roles", false)?.unwrap_or_default(),
            power: f.power_map("power")?,
            attributes: f.string_map("attributes")?.unwrap_or_default(),
        },
        EventType::ActorUpdated => EventBody::ActorUpdated {
            actor: f.id("actor", ActorId::new)?,
            name: f.opt_str("name")?,
            kind: f.named("kind", ActorKind::from_name, &kinds)?,
            sector: f.opt_str("sector")?,
            roles: f.str_list("roles", false)?,
            attributes: f.string_map("attributes")?,
        },
        EventType::ActorLeft => EventBody::ActorLeft {
            actor: f.id("actor", ActorId::new)?,
        },
        EventType::RelationshipFormed => {
            let (from, to) = endpoints(f)?;
            EventBody::RelationshipFormed {
                from,
                to,
                kind: f.str("kind")?,
                strength: f.opt_f64("strength")?,
                directed: f.opt_bool("directed")?,
                trust: f.opt_f64("trust")?,
                value: f.opt_f64("value")?,
            }
        }
        EventType::RelationshipChanged => {
            let (from, to) = endpoints(f)?;
            EventBody::RelationshipChanged {
                from,
                to,
                kind: f.str("kind")?,
                strength: f.opt_f64("strength")?,
                trust: f.opt_f64("trust")?,
                value: f.opt_f64("value")?,
            }
        }
        EventType::RelationshipEnded => {
            let (from, to) = endpoints(f)?;
            EventBody::RelationshipEnded {
                from,
                to,
                kind: f.str("kind")?,
            }
        }
        EventType::PowerShifted => {
            let domain = f.str("domain")?;
            let amount = f
                .opt_f64("amount")?
                .ok_or_else(|| FieldError::new("amount", "missing required field"))?;
            // Its range and its sides are checked by `Event::check`.
            EventBody::PowerShifted {
                domain,
                amount,
                from: f.opt_id("from", ActorId::new)?,
                to: f.opt_id("to", ActorId::new)?,
                form: f.named("form", PowerForm::from_name, &names(PowerForm::ALL, PowerForm::as_str))?,
                space: f.named(
                    "space",
                    PowerSpace::from_name,
                    &names(PowerSpace::ALL, PowerSpace::as_str),
                )?,
                expression: f.named(
                    "expression",
                    PowerExpression::from_name,
                    &names(PowerExpression::ALL, PowerExpression::as_str),
                )?,
                evidence: f.opt_str("evidence")?,
            }
        }
        EventType::SessionHeld => EventBody::SessionHeld {
            session: f.id("session", SessionId::new)?,
            title: f.opt_str("title")?,
            theme: f.opt_str("theme")?,
            participants: f.id_list("participants", true, ActorId::new)?,
            absent_voices: f.str_list("absent_voices", false)?.unwrap_or_default(),
        },
        EventType::LearningRecorded => EventBody::LearningRecorded {
            text: f.str("text")?,
            themes: f.str_list("themes", false)?.unwrap_or_default(),
            actors: f.id_list("actors", false, ActorId::new)?,
            session: f.opt_id("session", SessionId::new)?,
        },
        EventType::OutcomeHarvested => EventBody::OutcomeHarvested {
            description: f.str("description")?,
            actors: f.id_list("actors", true, ActorId::new)?,
            significance: f.opt_str("significance")?,
            contribution: f.opt_str("contribution")?,
            sources: f.str_list("sources", false)?.unwrap_or_default(),
            condition: f.opt_str("condition")?,
        },
        EventType::EventRetracted => EventBody::EventRetracted {
            target: f.id("target", EventId::new)?,
            reason: f.str("reason")?,
        },
        EventType::ActorRedacted => EventBody::ActorRedacted {
            actor: f.id("actor", ActorId::new)?,
            reason: f.opt_str("reason")?,
        },
    })
}

/// A relationship's two ends (`Event::check` refuses the same actor at both).
fn endpoints(f: &Fields<'_>) -> Result<(ActorId, ActorId), FieldError> {
    Ok((f.id("from", ActorId::new)?, f.id("to", ActorId::new)?))
}
