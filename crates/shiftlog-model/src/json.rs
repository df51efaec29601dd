//! From typed events back to interchange JSON (and serde glue both ways).

use crate::event::{Event, EventBody};
use crate::id::ActorId;
use serde::ser::SerializeMap;
use serde_json::{json, Value};

impl Event {
    /// The event's interchange fields in a stable, readable order: `type`, `id`,
    /// `occurred_at`, `place`, the type's own fields, `recorded_by`, `source`, `tags`,
    /// then unknown fields as they came.
    pub fn json_fields(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = Vec::with_capacity(12);
        let mut put = |k: &str, v: Value| out.push((k.to_string(), v));
        put("type", json!(self.event_type().as_str()));
        if let Some(id) = &self.id {
            put("id", json!(id.as_str()));
        }
        put("occurred_at", json!(self.occurred_at.to_string()));
        if let Some(p) = &self.place {
            put("place", json!(p.as_str()));
        }
        let ids = |xs: &[ActorId]| Value::Array(xs.iter().map(|a| json!(a.as_str())).collect());
        macro_rules! opt {
            ($k:literal, $v:expr) => {
                if let Some(v) = $v {
                    put($k, json!(v));
                }
            };
        }
        match &self.body {
            EventBody::PlaceRegistered { name, region, parent } => {
                put("name", json!(name));
                opt!("region", region);
                opt!("parent", parent.as_ref().map(|p| p.as_str()));
            }
            EventBody::ActorJoined {
                actor,
                name,
                kind,
                sector,
                roles,
                power,
                attributes,
            } => {
                put("actor", json!(actor.as_str()));
                opt!("name", name);
                put("kind", json!(kind.as_str()));
                opt!("sector", sector);
                if !roles.is_empty() {
                    put("roles", json!(roles));
                }
                if !power.is_empty() {
                    put("power", json!(power));
                }
                if !attributes.is_empty() {
                    put("attributes", json!(attributes));
                }
            }
            EventBody::ActorUpdated {
                actor,
                name,
                kind,
                sector,
                roles,
                attributes,
            } => {
                put("actor", json!(actor.as_str()));
                opt!("name", name);
                opt!("kind", kind.map(|k| k.as_str()));
                opt!("sector", sector);
                opt!("roles", roles);
                opt!("attributes", attributes);
            }
            EventBody::ActorLeft { actor } => put("actor", json!(actor.as_str())),
            EventBody::RelationshipFormed {
                from,
                to,
                kind,
                strength,
                directed,
                trust,
                value,
            } => {
                put("from", json!(from.as_str()));
                put("to", json!(to.as_str()));
                put("kind", json!(kind));
                opt!("strength", strength);
                opt!("directed", directed);
                opt!("trust", trust);
                opt!("value", value);
            }
            EventBody::RelationshipChanged {
                from,
                to,
                kind,
                strength,
                trust,
                value,
            } => {
                put("from", json!(from.as_str()));
                put("to", json!(to.as_str()));
                put("kind", json!(kind));
                opt!("strength", strength);
                opt!("trust", trust);
                opt!("value", value);
            }
            EventBody::RelationshipEnded { from, to, kind } => {
                put("from", json!(from.as_str()));
                put("to", json!(to.as_str()));
                put("kind", json!(kind));
            }
            EventBody::PowerShifted {
                domain,
                amount,
                from,
                to,
                form,
                space,
                expression,
                evidence,
            } => {
                opt!("from", from.as_ref().map(|a| a.as_str()));
                opt!("to", to.as_ref().map(|a| a.as_str()));
                put("domain", json!(domain));
                put("amount", json!(amount));
                opt!("form", form.map(|x| x.as_str()));
                opt!("space", space.map(|x| x.as_str()));
                opt!("expression", expression.map(|x| x.as_str()));
                opt!("evidence", evidence);
            }
            EventBody::SessionHeld {
                session,
                title,
                theme,
                participants,
                absent_voices,
            } => {
                put("session", json!(session.as_str()));
                opt!("title", title);
                opt!("theme", theme);
                put("participants", ids(participants));
                if !absent_voices.is_empty() {
                    put("absent_voices", json!(absent_voices));
                }
            }
            EventBody::LearningRecorded {
                text,
                themes,
                actors,
                session,
            } => {
                put("text", json!(text));
                if !themes.is_empty() {
                    put("themes", json!(themes));
                }
                if !actors.is_empty() {
                    put("actors", ids(actors));
                }
                opt!("session", session.as_ref().map(|s| s.as_str()));
            }
            EventBody::OutcomeHarvested {
                description,
                actors,
                significance,
                contribution,
                sources,
                condition,
            } => {
                put("description", json!(description));
                put("actors", ids(actors));
                opt!("significance", significance);
                opt!("contribution", contribution);
                if !sources.is_empty() {
                    put("sources", json!(sources));
                }
                opt!("condition", condition);
            }
            EventBody::EventRetracted { target, reason } => {
                put("target", json!(target.as_str()));
                put("reason", json!(reason));
            }
            EventBody::ActorRedacted { actor, reason } => {
                put("actor", json!(actor.as_str()));
                opt!("reason", reason);
            }
        }
        opt!("recorded_by", &self.recorded_by);
        opt!("source", &self.source);
        if !self.tags.is_empty() {
            put("tags", json!(self.tags));
        }
        for (k, v) in &self.extra {
            out.push((k.clone(), v.clone()));
        }
        out
    }

    /// The event as an interchange JSON object (keys sorted, as `serde_json::Map` keeps them).
    pub fn to_json(&self) -> Value {
        Value::Object(self.json_fields().into_iter().collect())
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = self.json_fields();
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Event::from_json(&v).map_err(serde::de::Error::custom)
    }
}
