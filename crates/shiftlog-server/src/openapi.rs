//! The OpenAPI 3 document, generated from the same table of routes the tests walk.

use serde_json::{json, Map, Value};

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path, with `{place}` for the place.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it.
    pub roles: &'static str,
    /// Query parameters: (name, type, required, description).
    pub query: &'static [(&'static str, &'static str, bool, &'static str)],
    /// Responses: (status, description).
    pub responses: &'static [(&'static str, &'static str)],
}

const KNOWN: [(&str, &str, bool, &str); 2] = [
    (
        "known_at",
        "string",
        false,
        "As known at this recorded time (RFC 3339 or YYYY-MM-DD)",
    ),
    ("known_at_position", "integer", false, "As known at this log position"),
];

/// A view of some relationship kinds (`string[]`: the parameter repeats).
const KIND: (&str, &str, bool, &str) = (
    "kind",
    "string[]",
    false,
    "Count only relationships of this kind; repeat for several (default: every kind)",
);

const READ: &[(&str, &str)] = &[
    ("200", "OK"),
    ("400", "A malformed parameter"),
    ("401", "No valid token"),
    ("403", "The token may not read this place"),
    ("404", "No such place"),
];

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/",
        summary: "The dashboard (HTML; its script and style are under /assets/). It asks for a token and reads the routes below with it",
        roles: "anyone, no token (the data it shows needs one)",
        query: &[],
        responses: &[("200", "OK")],
    },
    Route {
        method: "get",
        path: "/record",
        summary: "The recording page (HTML; its script is /assets/record.js): a session in one go, single records, corrections and retractions, file uploads, the place's timeline. Recorder and admin tokens record; a funder's sees no recording controls",
        roles: "anyone, no token (recording needs a recorder or admin token)",
        query: &[],
        responses: &[("200", "OK")],
    },
    Route {
        method: "get",
        path: "/v1/measures",
        summary: "The measures a snapshot's `metrics` carry, in table order: [{\"key\", \"label\", \"shape\": count|ratio, \"about\"}] (docs/measures.md defines them)",
        roles: "anyone, no token",
        query: &[],
        responses: &[("200", "OK")],
    },
    Route {
        method: "get",
        path: "/v1/whoami",
        summary: "The caller's token: {\"role\": admin|recorder|funder, \"places\": [the recorder's places], \"token\": its id}",
        roles: "any token",
        query: &[],
        responses: &[("200", "OK"), ("401", "No valid token")],
    },
    Route {
        method: "get",
        path: "/health",
        summary: "Liveness, and the log's head position",
        roles: "anyone, no token",
        query: &[],
        responses: &[("200", "OK")],
    },
    Route {
        method: "get",
        path: "/v1/openapi.json",
        summary: "This document",
        roles: "anyone, no token",
        query: &[],
        responses: &[("200", "OK")],
    },
    Route {
        method: "post",
        path: "/v1/events",
        summary: "Append events atomically: NDJSON, a JSON array, or {\"events\": [...], \"expected_version\": {PLACE: N}}",
        roles: "admin; recorder (its places)",
        query: &[
            (
                "expected_version",
                "string",
                false,
                "PLACE:N, repeatable: the batch is refused with 409 unless the place is at version N",
            ),
            (
                "dry_run",
                "boolean",
                false,
                "true: check the batch exactly as an append would (same token, rules and errors) and answer 200 with what would be appended (id, place, version, position); nothing is written",
            ),
        ],
        responses: &[
            ("201", "Written (positions per event)"),
            ("200", "Every event was already present (idempotent retry)"),
            ("400", "Rejected events, each with line or index, event id and field; nothing written"),
            ("401", "No valid token"),
            ("403", "The token may not write there"),
            ("409", "Version conflict; nothing written"),
            ("413", "Body over the size limit"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/events",
        summary: "Events in log order, with position and recorded_at",
        roles: "admin; recorder (its places)",
        query: &[
            ("from", "integer", false, "First position (default 1)"),
            ("place", "string", false, "Only this place's events"),
            ("limit", "integer", false, "At most this many (default 1000, at most 10000)"),
        ],
        responses: &[("200", "OK"), ("400", "A malformed parameter"), ("401", "No valid token"), ("403", "Not for this token")],
    },
    Route {
        method: "get",
        path: "/v1/events/stream",
        summary: "Server-sent events: every event from a position on, then live; the SSE id is the position (resume with Last-Event-ID)",
        roles: "admin; recorder (its places)",
        query: &[
            ("from", "integer", false, "First position (default 1); Last-Event-ID takes precedence"),
            ("place", "string", false, "Only this place's events"),
        ],
        responses: &[("200", "text/event-stream"), ("401", "No valid token"), ("403", "Not for this token")],
    },
    Route {
        method: "get",
        path: "/v1/places",
        summary: "The places the token may read, with their versions",
        roles: "admin, funder; recorder (its places)",
        query: &[],
        responses: &[("200", "OK"), ("401", "No valid token")],
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/snapshot",
        summary: "The place's network at a date: actors, relationships, metrics (funders: no attributes)",
        roles: "admin, funder; recorder (its places)",
        query: &[
            ("at", "string", false, "Valid time (default now)"),
            KNOWN[0],
            KNOWN[1],
            KIND,
        ],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/diff",
        summary: "What changed between two dates",
        roles: "admin, funder; recorder (its places)",
        query: &[
            ("from", "string", true, "The earlier date"),
            ("to", "string", true, "The later date"),
            KNOWN[0],
            KNOWN[1],
            KIND,
        ],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/evolution",
        summary: "Metrics at the end of every period",
        roles: "admin, funder; recorder (its places)",
        query: &[
            ("every", "string", false, "day, week, month (default), quarter or year"),
            ("measures", "string", false, "standard (default: every measure but modularity and communities, which double the time) or all"),
            ("from", "string", false, "First date (default: the place's first event)"),
            ("to", "string", false, "Last date (default: the place's last event)"),
            KNOWN[0],
            KNOWN[1],
            KIND,
        ],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/anomalies",
        summary: "Events that made no sense at their moment",
        roles: "admin, funder; recorder (its places)",
        query: &[KNOWN[0], KNOWN[1]],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/kinds",
        summary: "The relationship kinds ever recorded in the place: what `kind=` on the other routes chooses from",
        roles: "admin, funder; recorder (its places)",
        query: &[KNOWN[0], KNOWN[1]],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/export",
        summary: "The network for other tools: json, dot, graphml, gexf, csv, kumu at a date; or the whole history: gexf-dynamic (default), kumu-years, kumu-quarters (Kumu blueprints tagged for its timeline)",
        roles: "admin, funder; recorder (its places)",
        query: &[
            ("format", "string", false, "json, dot, graphml, gexf, gexf-dynamic, csv, kumu, kumu-years or kumu-quarters"),
            ("at", "string", false, "Date for the snapshot formats (default: the place's last event)"),
            KNOWN[0],
            KNOWN[1],
            KIND,
        ],
        responses: READ,
    },
    Route {
        method: "post",
        path: "/v1/places/{place}/import",
        summary: "Record a file as what changed at a date: a survey wave (CSV as text/csv, or an XLSX workbook with Relationships and Actors sheets) or, with source=kumu, a Kumu map (a JSON blueprint, or a workbook with Elements and Connections sheets); one atomic batch, ids from the content (sending it again records nothing); problems name file, sheet, row and column (422)",
        roles: "admin; recorder (its places)",
        query: &[
            ("at", "string", true, "The date the file shows; every change is recorded then"),
            ("source", "string", false, "survey (default) or kumu"),
            ("dry_run", "boolean", false, "Plan and check only; write nothing"),
            ("sheet", "string", false, "The workbook sheet of a survey's relationships (default Relationships, Connections, else the first)"),
            ("name", "string", false, "The file's name, for problems (default upload.csv, upload.xlsx, ...)"),
        ],
        responses: &[
            ("200", "Planned (dry run), or nothing to record"),
            ("201", "Recorded"),
            ("400", "A malformed parameter, or a file that cannot be read"),
            ("401", "No valid token"),
            ("403", "Not for this token"),
            ("404", "No such place"),
            ("409", "The place changed while the file was compared with it"),
            ("413", "The body is too large"),
            ("415", "Not a file this route reads"),
            ("422", "The file's rows are wrong, each problem with where it is"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/places/{place}/network.svg",
        summary: "The network at a date drawn as SVG (the dashboard's picture): same layout at every date, size by degree or power, colour by sector, width by strength; no attributes or free text",
        roles: "admin, funder; recorder (its places)",
        query: &[
            ("at", "string", false, "Valid time (default now)"),
            ("size_by", "string", false, "degree (default) or power"),
            KNOWN[0],
            KNOWN[1],
            KIND,
        ],
        responses: READ,
    },
    Route {
        method: "get",
        path: "/v1/synthesis",
        summary: "The learning synthesis per period, per place and across places: learning records by the five inquiry areas, outcomes by the six conditions, power shifts by space, form and expression, participation tags, sessions and absent voices; recorders and admins also get the learning texts by area, funders never",
        roles: "admin, funder; recorder (its places only)",
        query: &[
            ("place", "string[]", false, "A place to include; repeat for several (default: every place the token reads)"),
            ("every", "string", false, "day, week, month, quarter (default) or year"),
            ("from", "string", false, "First date (default: the earliest event of those places)"),
            ("to", "string", false, "Last date (default: the latest event of those places)"),
            KNOWN[0],
            KNOWN[1],
        ],
        responses: &[
            ("200", "OK"),
            ("400", "A malformed parameter"),
            ("401", "No valid token"),
            ("403", "The token may not read a place asked for"),
            ("404", "No such place"),
        ],
    },
    Route {
        method: "get",
        path: "/v1/compare",
        summary: "One row of metrics per place at a date",
        roles: "admin, funder; recorder (its places only)",
        query: &[("at", "string", false, "Valid time (default now)"), KNOWN[0], KNOWN[1], KIND],
        responses: &[("200", "OK"), ("400", "A malformed parameter"), ("401", "No valid token")],
    },
];

/// The OpenAPI 3 document of [`ROUTES`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut params: Vec<Value> = r
            .query
            .iter()
            .map(|(name, ty, required, description)| {
                let schema = match ty.strip_suffix("[]") {
                    Some(item) => json!({"type": "array", "items": {"type": item}}),
                    None => json!({"type": ty}),
                };
                json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema})
            })
            .collect();
        if r.path.contains("{place}") {
            params.insert(
                0,
                json!({"name": "place", "in": "path", "required": true, "schema": {"type": "string"}}),
            );
            params.insert(
                1,
                json!({"name": "place", "in": "query", "required": false, "schema": {"type": "string"},
                       "description": "The place, instead of the path's segment (write `~` there): for ids a URL path cannot carry, such as `.` and `..`"}),
            );
        }
        let responses: Map<String, Value> = r
            .responses
            .iter()
            .map(|(code, d)| (code.to_string(), json!({"description": d})))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "description": format!("Who may call it: {}.", r.roles),
            "parameters": params,
            "responses": responses,
        });
        if !r.roles.contains("no token") {
            op["security"] = json!([{"bearer": []}]);
        }
        if r.method == "post" {
            op["requestBody"] = json!({"required": true, "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object", "properties": {"events": {"type": "array"}, "expected_version": {"type": "object", "additionalProperties": {"type": "integer"}}}}]}}
            }});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "shiftlog", "version": env!("CARGO_PKG_VERSION"), "description": "Record how local systems change; read networks over time. Events follow the interchange format (docs/interchange.md)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}
