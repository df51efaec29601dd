//! The routes: each one authorises, calls the engine, and shapes the answer.

use crate::error::ApiError;
use crate::tokens::{Principal, Role};
use crate::{authorise, Access, ServerConfig};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};
use shiftlog::projection::Pseudonyms;
use shiftlog::{
    parse_input, Engine, EventOutcome, Every, ExportFormat, Kinds, KnownAt, PlaceId, Position, RecordedEvent, Stream,
    Timestamp, Version, View,
};
use shiftlog_report::{draw_network, Layout, NetworkStyle, SizeBy};
use std::collections::BTreeMap;
use std::sync::Arc;

struct AppState {
    engine: Engine,
    access: Access,
    config: ServerConfig,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Each place's drawing layout: made again only when the place has new events, so
    /// drawings stay put while people browse.
    layouts: PerPlace<Layout>,
    /// Each place's people's pseudonyms, for funders.
    pseudonyms: PerPlace<Pseudonyms>,
    /// Live event streams open.
    streams: Streams,
}

type Result<T> = std::result::Result<T, ApiError>;

/// The API's router (what [`crate::serve`] serves). `stop` ends live streams when it
/// turns true.
pub fn router(
    engine: Engine,
    access: Access,
    config: ServerConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let max_body = config.max_body;
    let state = Arc::new(AppState {
        engine,
        access,
        config,
        stop,
        layouts: PerPlace::default(),
        pseudonyms: PerPlace::default(),
        streams: Streams::default(),
    });
    let router = Router::new()
        .route("/", get(dashboard))
        .route("/assets/dashboard.js", get(dashboard_js))
        .route("/assets/dashboard.css", get(dashboard_css))
        .route("/record", get(record_page))
        .route("/assets/record.js", get(record_js))
        .route("/v1/whoami", get(whoami))
        .route("/v1/measures", get(measures))
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/events", post(append).get(read_events))
        .route("/v1/events/stream", get(stream_events))
        .route("/v1/places", get(places))
        .route("/v1/places/{place}/snapshot", get(snapshot))
        .route("/v1/places/{place}/diff", get(diff))
        .route("/v1/places/{place}/evolution", get(evolution))
        .route("/v1/places/{place}/anomalies", get(anomalies))
        .route("/v1/places/{place}/kinds", get(kinds))
        .route("/v1/places/{place}/export", get(export))
        .route("/v1/places/{place}/network.svg", get(network_svg))
        .route("/v1/places/{place}/import", post(import))
        .route("/v1/compare", get(compare))
        .route("/v1/synthesis", get(synthesis))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route (see /v1/openapi.json)") })
        .layer(axum::extract::DefaultBodyLimit::max(max_body));
    let router = match &state.access {
        Access::Open => router.layer(axum::middleware::from_fn(crate::guard::open_server_guard)),
        Access::Tokens(_) => router,
    };
    let budget = crate::guard::TimeBudget(state.config.query_time);
    router
        .layer(axum::middleware::from_fn_with_state(budget, crate::guard::time_budget))
        .layer(axum::middleware::from_fn(crate::guard::answer_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn who(s: &AppState, headers: &HeaderMap) -> Result<Principal> {
    authorise(&s.access, headers.get(header::AUTHORIZATION)).await
}

/// The query string's pairs, in order (keys may repeat).
fn query(raw: Option<String>) -> Result<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parsed<T: std::str::FromStr>(q: &[(String, String)], name: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    param(q, name)
        .map(|v| {
            v.parse()
                .map_err(|e| ApiError::bad_request(format!("query parameter `{name}`: {e}")))
        })
        .transpose()
}

fn required<T: std::str::FromStr>(q: &[(String, String)], name: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    parsed(q, name)?.ok_or_else(|| ApiError::bad_request(format!("query parameter `{name}` is required")))
}

fn known(q: &[(String, String)]) -> Result<KnownAt> {
    match (
        parsed::<Timestamp>(q, "known_at")?,
        parsed::<u64>(q, "known_at_position")?,
    ) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give `known_at` or `known_at_position`, not both",
        )),
        (Some(t), None) => Ok(KnownAt::Time(t)),
        (None, Some(k)) => Ok(KnownAt::Position(k)),
        (None, None) => Ok(KnownAt::Everything),
    }
}

/// The view a reading route asks for: `known_at` or `known_at_position`, and `kind`
/// (repeated) for the relationships of some kinds only.
fn view(q: &[(String, String)]) -> Result<View> {
    let mut kinds = Vec::new();
    for (_, k) in q.iter().filter(|(name, _)| name == "kind") {
        if k.trim().is_empty() {
            return Err(ApiError::bad_request(
                "query parameter `kind`: empty (name a relationship kind)",
            ));
        }
        kinds.push(k.clone());
    }
    Ok(View::new(known(q)?, Kinds::only(kinds)))
}

fn place_id(p: &str) -> Result<PlaceId> {
    PlaceId::new(p).map_err(|e| ApiError::bad_request(format!("place `{p}`: {e}")))
}

/// The place in the path (or in a `place` query parameter, which takes its place: URLs
/// cannot carry some ids, such as `.` and `..`, in a path), if the principal may read it.
fn readable_place(who: &Principal, path: &str, q: &[(String, String)]) -> Result<PlaceId> {
    let place = place_id(param(q, "place").unwrap_or(path))?;
    if !who.reads_place(&place) {
        return Err(ApiError::forbidden(format!("this token may not read place `{place}`")));
    }
    Ok(place)
}

fn admin_or_recorder(who: &Principal) -> Result<()> {
    if who.role == Role::Funder {
        return Err(ApiError::forbidden(
            "funder tokens read projections (snapshots, diffs, evolution, comparisons, exports), not raw events",
        ));
    }
    Ok(())
}

async fn health(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "ok", "head": s.engine.head().0 }))
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}

/// `POST /v1/events` with its events and the versions the writer expects.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: &'a serde_json::value::RawValue,
    /// Kept raw so that a wrong one is named in the error.
    #[serde(borrow)]
    expected_version: Option<&'a serde_json::value::RawValue>,
}

/// Whether a body that is not a valid envelope was meant as one: an object whose first
/// key is `events` or `expected_version` (an event's first key is anything else).
fn looks_like_envelope(text: &str) -> bool {
    let rest = text.trim_start().trim_start_matches('{').trim_start();
    rest.starts_with("\"events\"") || rest.starts_with("\"expected_version\"")
}

/// The expected versions of `expected_version=PLACE:N` parameters.
fn expectations(q: &[(String, String)]) -> Result<Vec<(Stream, Version)>> {
    q.iter()
        .filter(|(k, _)| k == "expected_version")
        .map(|(_, v)| {
            let (p, n) = v
                .rsplit_once(':')
                .ok_or_else(|| ApiError::bad_request(format!("expected_version `{v}`: expected PLACE:VERSION")))?;
            let n = n
                .parse()
                .map_err(|_| ApiError::bad_request(format!("expected_version `{v}`: `{n}` is not a version")))?;
            Ok((Stream::Place(place_id(p)?), n))
        })
        .collect()
}

async fn append(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    request: axum::extract::Request,
) -> Result<Response> {
    // Who is asking, before anything of the body is read.
    let who = who(&s, &headers).await?;
    if who.role == Role::Funder {
        return Err(ApiError::forbidden("funder tokens may not append events"));
    }
    let (parts, body) = request.into_parts();
    let body = {
        let _waiting = parts.extensions.get::<crate::listen::ClientWait>().map(|w| w.enter());
        read_body(body, &headers, s.config.max_body).await?
    };
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to())))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the body holds no events (send NDJSON or a JSON array)",
        ));
    }
    let q = query(raw)?;
    let mut expected = expectations(&q)?;
    // An envelope: {"events": [...], "expected_version": {"place": N}}. Read as a typed
    // struct with the events left as raw text, so no request builds a JSON tree of the
    // whole body; anything else is NDJSON or a JSON array of events.
    // Only an object can be the envelope: serde reads a struct from an array too (by
    // position), which would take a JSON array of two events for one.
    let envelope = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Envelope<'_>>(text)
    } else {
        Err(serde::de::Error::custom("not an object"))
    };
    let input = match envelope {
        Ok(envelope) => {
            if let Some(raw) = envelope.expected_version {
                let versions: BTreeMap<String, Version> = serde_json::from_str(raw.get()).map_err(|e| {
                    ApiError::bad_request(format!("`expected_version` must map places to versions: {e}"))
                })?;
                for (p, n) in versions {
                    expected.push((Stream::Place(place_id(&p)?), n));
                }
            }
            let events = envelope.events.get();
            if !events.trim_start().starts_with('[') {
                return Err(ApiError::bad_request("`events` must be an array of events"));
            }
            parse_input(events)
        }
        Err(e) if text.trim_start().starts_with('{') && looks_like_envelope(text) => {
            return Err(ApiError::bad_request(format!("the envelope does not parse: {e}")));
        }
        Err(_) => parse_input(text),
    };
    if input.more_rejections > 0 {
        // Past a thousand bad events the rest are only counted: say so without asking the
        // log about the others.
        return Err(ApiError::rejected(&input.rejections, input.rejected()));
    }
    // A recorder writes only to its places. Version expectations are checked here (they
    // name places, not events); each event's place, a retraction's as its target's, is
    // checked by the engine while it plans the batch against the log, so what is
    // authorised is what is written.
    let places: Option<std::collections::BTreeSet<PlaceId>> = match who.role {
        Role::Recorder => {
            for (stream, _) in &expected {
                if let Stream::Place(p) = stream {
                    if !who.places.contains(p) {
                        return Err(ApiError::forbidden(format!("this token may not write to place `{p}`")));
                    }
                }
            }
            Some(who.places.iter().cloned().collect())
        }
        Role::Admin | Role::Funder => None,
    };
    // A dry run: the same body, token, rules and errors, and what would be appended;
    // nothing is written, ever.
    if parsed::<bool>(&q, "dry_run")?.unwrap_or(false) {
        let planned = s.engine.ingest_dry_run(input, &expected, places).await?;
        return Ok(Json(planned_json(&planned)).into_response());
    }
    let outcome = match places {
        Some(places) => s.engine.ingest_in_places(input, &expected, places).await?,
        None => s.engine.ingest(input, &expected).await?,
    };
    let appended = outcome.appended();
    tracing::info!(
        appended,
        already_present = outcome.events.len() - appended,
        head = outcome.head.0,
        "append"
    );
    let events: Vec<Value> = outcome
        .events
        .iter()
        .map(|e| match e {
            EventOutcome::Appended(p) => json!({"position": p.0, "status": "appended"}),
            EventOutcome::AlreadyPresent(p) => json!({"position": p.0, "status": "already_present"}),
        })
        .collect();
    let status = if appended > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "appended": appended,
            "already_present": outcome.events.len() - appended,
            "head": outcome.head.0,
            "events": events,
        })),
    )
        .into_response())
}

/// A survey wave or a Kumu map, sent as the body (CSV or XLSX, or a Kumu JSON
/// blueprint, told by its Content-Type), recorded in `place` at `at` as `shiftlog import`
/// does: what changed since the network as known then, one atomic batch, ids derived from
/// the content (sending it again records nothing). The same code as the CLI's.
async fn import(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
    request: axum::extract::Request,
) -> Result<Response> {
    use shiftlog_import::{as_wave, kumu_map, record_wave, survey_sheets, KumuFields, RecordError, SurveyWave, Upload};
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    // As for the reading routes, a `place` parameter takes the path's place (a path
    // cannot carry every id).
    let place = place_id(param(&q, "place").unwrap_or(&place))?;
    match who.role {
        Role::Funder => return Err(ApiError::forbidden("funder tokens may not import")),
        Role::Recorder if !who.places.contains(&place) => {
            return Err(ApiError::forbidden(format!(
                "this token may not write to place `{place}`"
            )))
        }
        Role::Recorder | Role::Admin => {}
    }
    let at: Timestamp =
        parsed(&q, "at")?.ok_or_else(|| ApiError::bad_request("give the date the file shows: `at=YYYY-MM-DD`"))?;
    let dry_run = parsed::<bool>(&q, "dry_run")?.unwrap_or(false);
    let source = param(&q, "source").unwrap_or("survey");
    if source != "survey" && source != "kumu" {
        return Err(ApiError::bad_request(format!(
            "source `{source}` is not survey or kumu"
        )));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ending = match content_type.as_str() {
        "text/csv" => "csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/json" if source == "kumu" => "json",
        // ODS and XLS are read whole-sheet (calamine builds the rectangle of cells a
        // sheet claims), which a small hostile file can make gigabytes: the CLI reads
        // them from people's own disks; the server reads XLSX cell by cell.
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "`{other}` is not a file this route reads: send text/csv, an XLSX workbook \
                     (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; save ODS or XLS as XLSX \
                     first), or (source=kumu) a Kumu blueprint as application/json"
                ),
            ))
        }
    };
    // The name people see in problems: theirs if they give one, else the kind of file.
    let name = match param(&q, "name") {
        Some(n) if n.to_ascii_lowercase().ends_with(&format!(".{ending}")) => n.to_string(),
        Some(n) => format!("{n}.{ending}"),
        None => format!("upload.{ending}"),
    };
    let (parts, body) = request.into_parts();
    let bytes = {
        let _waiting = parts.extensions.get::<crate::listen::ClientWait>().map(|w| w.enter());
        read_body(body, &headers, s.config.max_body).await?
    };
    let upload = Upload {
        name,
        bytes: bytes.to_vec(),
    };
    // Reading a workbook is CPU work: off the async threads, and under the time budget of
    // a query (what it can cost is bounded by the workbook limits; a read that is still
    // going when the answer is sent is dropped when done).
    let reading = tokio::task::spawn_blocking({
        let sheet = param(&q, "sheet").map(str::to_string);
        let source = source.to_string();
        move || match source.as_str() {
            "kumu" => kumu_map(upload, None)
                .and_then(|m| as_wave(&m, &KumuFields::default()))
                .map(|(r, a)| (r, Some(a))),
            _ => survey_sheets(upload, sheet.as_deref(), None),
        }
    });
    let sheets = tokio::time::timeout(s.config.query_time, reading)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "reading the file took longer than {} s, this server's limit for one request: send a smaller file, \
                     or import it with `shiftlog import`",
                    s.config.query_time.as_secs_f64()
                ),
            )
        })?
        .map_err(ApiError::internal)?;
    let (relationships, actors) = sheets.map_err(import_problems)?;
    let recorded_by = who.token_id.as_deref().map(|t| format!("token:{t}"));
    let wave = SurveyWave {
        place: &place,
        wave: at,
        relationships: &relationships,
        actors: actors.as_ref(),
        recorded_by: recorded_by.as_deref(),
        source,
    };
    let recorded = match record_wave(&s.engine, wave, dry_run).await {
        Ok(r) => r,
        Err(RecordError::Import(e)) => return Err(import_problems(e)),
        Err(RecordError::Rejected(why)) => {
            let listed = why
                .iter()
                .map(|(origin, message)| json!({"origin": origin, "message": message}))
                .collect();
            return Err(ApiError::problems(
                format!(
                    "{} planned event(s) break the log's rules; nothing was written",
                    why.len()
                ),
                listed,
            ));
        }
        Err(e @ RecordError::NotRegistered(_)) => return Err(ApiError::new(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ RecordError::Conflict(_)) => return Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(RecordError::Projection(e)) => return Err(e.into()),
        Err(RecordError::Store(e)) => return Err(e.into()),
        Err(RecordError::Append(e)) => return Err(e.into()),
    };
    let counts = recorded.plan.counts();
    let changes: Vec<String> = recorded
        .plan
        .events
        .iter()
        .take(1000)
        .map(|e| e.change.to_string())
        .collect();
    let mut answer = json!({
        "dry_run": dry_run,
        "place": place.as_str(),
        "at": at.to_string(),
        "planned": recorded.plan.events.len(),
        "counts": counts,
        "changes": changes,
    });
    let status = match &recorded.appended {
        Some(out) => {
            answer["appended"] = json!(out.appended());
            answer["already_present"] = json!(out.already_present());
            answer["head"] = json!(out.head.0);
            tracing::info!(appended = out.appended(), place = %place, "import");
            if out.appended() > 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        }
        None => StatusCode::OK,
    };
    Ok((status, Json(answer)).into_response())
}

/// A file that could not be read (400) or whose rows are wrong (422, each problem with
/// its file, sheet, row and column).
fn import_problems(e: shiftlog_import::ImportError) -> ApiError {
    match e {
        shiftlog_import::ImportError::Read { .. } => ApiError::bad_request(e.to_string()),
        shiftlog_import::ImportError::Problems(ps) => {
            let message = format!("{} problem(s) in the file; nothing was written", ps.len());
            let listed = ps
                .iter()
                .map(|p| {
                    json!({"file": p.file, "sheet": p.sheet, "row": p.row, "column": p.column, "message": p.message,
                           "text": p.to_string()})
                })
                .collect();
            ApiError::problems(message, listed)
        }
    }
}

/// A dry run's answer: per event, what would be appended (id, place, the place's version
/// after it, the position it would get if nothing came first) or where it already is.
fn planned_json(planned: &shiftlog::store::Planned) -> Value {
    use shiftlog::store::PlannedEvent;
    let events: Vec<Value> = planned
        .events
        .iter()
        .map(|e| match e {
            PlannedEvent::Append {
                id,
                stream,
                version,
                position,
            } => json!({
                "status": "would_append",
                "id": id.as_str(),
                "place": match stream {
                    Stream::Place(p) => Value::String(p.to_string()),
                    Stream::Unplaced => Value::Null,
                },
                "version": version,
                "position": position.0,
            }),
            PlannedEvent::AlreadyPresent(p) => json!({"status": "already_present", "position": p.0}),
        })
        .collect();
    let would = events.iter().filter(|e| e["status"] == "would_append").count();
    json!({
        "dry_run": true,
        "would_append": would,
        "already_present": events.len() - would,
        "head": planned.head.0,
        "events": events,
    })
}

/// A body must keep coming: at least this many bytes in every [`BODY_WINDOW`] until it ends.
const BODY_MIN_BYTES: usize = 16 << 10;
const BODY_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a request body of at most `max` bytes, refusing one that trickles (less than
/// [`BODY_MIN_BYTES`] in a [`BODY_WINDOW`]) so that a slow sender cannot hold a connection
/// and its memory for long.
async fn read_body(body: axum::body::Body, headers: &HeaderMap, max: usize) -> Result<Bytes> {
    use http_body_util::BodyExt;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the server's limit of {max} bytes; split it into smaller batches"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(max));
    let mut window = (tokio::time::Instant::now() + BODY_WINDOW, 0usize);
    loop {
        let frame = match tokio::time::timeout_at(window.0, body.frame()).await {
            Err(_) if window.1 < BODY_MIN_BYTES => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body came too slowly (less than {} KiB in {} s): send it at once",
                        BODY_MIN_BYTES >> 10,
                        BODY_WINDOW.as_secs()
                    ),
                ))
            }
            Err(_) => {
                window = (tokio::time::Instant::now() + BODY_WINDOW, 0);
                continue;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(ApiError::bad_request(format!("could not read the body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(too_large());
            }
            window.1 += data.len();
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// Which events a principal may see, with an optional place filter.
fn event_filter(who: &Principal, place: Option<PlaceId>) -> Result<impl Fn(&RecordedEvent) -> bool + Send + 'static> {
    if let Some(p) = &place {
        if !who.reads_place(p) {
            return Err(ApiError::forbidden(format!("this token may not read place `{p}`")));
        }
    }
    let who = who.clone();
    Ok(move |r: &RecordedEvent| match &r.stream {
        Stream::Place(p) => place.as_ref().is_none_or(|want| want == p) && who.reads_place(p),
        Stream::Unplaced => place.is_none() && who.role == Role::Admin,
    })
}

async fn read_events(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    admin_or_recorder(&who)?;
    let q = query(raw)?;
    let from = parsed::<u64>(&q, "from")?.unwrap_or(1).max(1);
    let limit = parsed::<usize>(&q, "limit")?.unwrap_or(1000).min(s.config.max_page);
    if limit == 0 {
        // A page of nothing would say to go on from where it started: a pager would loop.
        return Err(ApiError::bad_request("query parameter `limit` must be at least 1"));
    }
    let place = param(&q, "place").map(place_id).transpose()?;
    let keep = event_filter(&who, place.clone())?;
    let page = match &place {
        Some(p) => s.engine.read_place(p, Position(from), limit).await?,
        None if who.role == Role::Admin => s.engine.read(Position(from), limit).await?,
        None => {
            // A recorder without a place: its places' events, merged in log order.
            let mut all = Vec::new();
            for p in &who.places {
                all.extend(s.engine.read_place(p, Position(from), limit).await?);
            }
            all.sort_by_key(|r| r.position);
            all.truncate(limit);
            all
        }
    };
    let next = page.last().map_or(from, |r| r.position.0 + 1);
    let events: Vec<&RecordedEvent> = page.iter().filter(|r| keep(r)).collect();
    Ok(Json(
        json!({ "events": events, "next_from": next, "head": s.engine.head().0 }),
    ))
}

/// Live streams open, in all and per token: a stream holds its slot until it ends.
#[derive(Default)]
struct Streams(std::sync::Mutex<std::collections::HashMap<String, usize>>);

/// One stream's slot, given back when the stream ends.
struct StreamSlot {
    state: Arc<AppState>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.state.streams.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl Streams {
    fn take(state: &Arc<AppState>, who: &Principal) -> Result<StreamSlot> {
        let key = who.token_id.clone().unwrap_or_default();
        let mut open = state.streams.0.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        if total >= state.config.max_streams {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the server has {total} live streams open, its limit; try again later"),
            ));
        }
        let mine = open.entry(key.clone()).or_default();
        if *mine >= state.config.max_streams_per_token {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("this token already has {mine} live streams open, its limit; close one first"),
            ));
        }
        *mine += 1;
        Ok(StreamSlot {
            state: state.clone(),
            key,
        })
    }
}

/// How many events a live stream reads ahead: what a reader that stops reading holds.
const STREAM_PAGE: usize = 64;

/// How often a live stream checks that its token still stands.
const REVOCATION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

async fn stream_events(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let who = who(&s, &headers).await?;
    admin_or_recorder(&who)?;
    let q = query(raw)?;
    // Resuming: the last event id seen is a position; go on from the next one.
    let last_seen = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a log position"))
        })
        .transpose()?;
    let from = match last_seen {
        Some(p) => p
            .checked_add(1)
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID is past any position the log can have"))?,
        None => parsed::<u64>(&q, "from")?.unwrap_or(1).max(1),
    };
    let place = param(&q, "place").map(place_id).transpose()?;
    let keep = event_filter(&who, place)?;
    let slot = Streams::take(&s, &who)?;
    let mut stop = s.stop.clone();
    // A revoked token's streams end within a second of the revocation.
    let access = s.access.clone();
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let revoked = async move {
        loop {
            tokio::time::sleep(REVOCATION_CHECK).await;
            if authorise(&access, authorization.as_ref()).await.is_err() {
                tracing::info!("ending a live stream: its token was revoked");
                return;
            }
        }
    };
    let events = s
        .engine
        .subscribe(Position(from))
        .with_page(STREAM_PAGE)
        .into_stream()
        .filter(move |r| std::future::ready(r.as_ref().map_or(true, &keep)))
        .map(move |r| {
            // The slot lives as long as the stream.
            let _ = &slot;
            match r {
                Ok(r) => SseEvent::default()
                    .id(r.position.0.to_string())
                    .event("event")
                    .json_data(&r)
                    .map_err(axum::Error::new),
                Err(e) => Err(axum::Error::new(e)),
            }
        })
        .take_until(async move {
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => {}
                () = revoked => {}
            }
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

async fn places(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let mut out = Vec::new();
    for p in s.engine.places().await? {
        if who.reads_place(&p) {
            let version = s.engine.version(&Stream::Place(p.clone())).await?;
            out.push(json!({ "place": p.as_str(), "version": version }));
        }
    }
    Ok(Json(Value::Array(out)))
}

/// Free text a funder never receives in a snapshot: actors' attributes.
fn withhold_snapshot(v: &mut Value) {
    if let Some(actors) = v.get_mut("actors").and_then(Value::as_array_mut) {
        for a in actors {
            if let Some(m) = a.as_object_mut() {
                m.remove("attributes");
            }
        }
    }
}

async fn snapshot(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let at = parsed::<Timestamp>(&q, "at")?.unwrap_or_else(Timestamp::now);
    let mut snap = s.engine.snapshot(&place, at, view(&q)?).await?;
    if let Some(people) = people_for(&s, &who, &place).await? {
        people.apply_to_snapshot(&mut snap);
    }
    if !who.withholds_text() {
        // Straight to JSON text: a large place's snapshot is thousands of values, and a
        // `Value` tree of them cost more than the metrics.
        return Ok(Json(snap).into_response());
    }
    let mut v = serde_json::to_value(&snap).map_err(ApiError::internal)?;
    withhold_snapshot(&mut v);
    Ok(Json(v).into_response())
}

async fn diff(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let d = s
        .engine
        .diff(&place, required(&q, "from")?, required(&q, "to")?, view(&q)?)
        .await?;
    Ok(Json(serde_json::to_value(&d).map_err(ApiError::internal)?))
}

async fn evolution(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let every = parsed::<Every>(&q, "every")?.unwrap_or(Every::Month);
    let measures = parsed::<shiftlog::EvolutionMeasures>(&q, "measures")?.unwrap_or_default();
    let series = s
        .engine
        .evolve_with(
            Some(&place),
            every,
            parsed(&q, "from")?,
            parsed(&q, "to")?,
            view(&q)?,
            measures,
            s.config.max_evolution_work,
        )
        .await?;
    Ok(streamed_series(series))
}

/// An evolution as JSON (`{"place": [step, ...]}`), written in chunks of about 64 KiB as
/// the client reads them: the text of a long series is never held whole.
fn streamed_series(series: BTreeMap<String, Vec<shiftlog::Step>>) -> Response {
    const CHUNK: usize = 64 << 10;
    let mut places = series.into_iter();
    let mut current: Option<std::vec::IntoIter<shiftlog::Step>> = None;
    let (mut started, mut first_place, mut first_step, mut done) = (false, true, true, false);
    let chunks = std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        if !started {
            buf.push(b'{');
            started = true;
        }
        while buf.len() < CHUNK {
            match current.as_mut() {
                None => match places.next() {
                    Some((place, steps)) => {
                        if !first_place {
                            buf.push(b',');
                        }
                        first_place = false;
                        serde_json::to_writer(&mut buf, &place).expect("strings serialize");
                        buf.extend_from_slice(b":[");
                        current = Some(steps.into_iter());
                        first_step = true;
                    }
                    None => {
                        buf.push(b'}');
                        done = true;
                        break;
                    }
                },
                Some(steps) => match steps.next() {
                    Some(step) => {
                        if !first_step {
                            buf.push(b',');
                        }
                        first_step = false;
                        serde_json::to_writer(&mut buf, &step).expect("steps serialize");
                    }
                    None => {
                        buf.push(b']');
                        current = None;
                    }
                },
            }
        }
        Some(Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(buf)))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

async fn kinds(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let kinds = s.engine.kinds(&place, known(&q)?).await?;
    Ok(Json(json!({ "place": place.as_str(), "kinds": kinds })))
}

async fn anomalies(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let report = s.engine.anomalies(Some(&place), known(&q)?).await?;
    Ok(Json(serde_json::to_value(&report).map_err(ApiError::internal)?))
}

async fn export(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let name = param(&q, "format").unwrap_or("gexf-dynamic");
    let format = ExportFormat::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ExportFormat::ALL.iter().map(|(n, _)| *n).collect();
        ApiError::bad_request(format!("format `{name}` is not one of {}", names.join(", ")))
    })?;
    let people = people_for(&s, &who, &place).await?;
    let mut body = s
        .engine
        .export_with(&place, format, parsed(&q, "at")?, view(&q)?, people.as_deref())
        .await?;
    // Of the formats, only the snapshot's JSON carries actors' attributes.
    if who.withholds_text() && format == ExportFormat::Json {
        let mut v: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
        withhold_snapshot(&mut v);
        body = serde_json::to_string_pretty(&v).map_err(ApiError::internal)?;
    }
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

async fn compare(State(s): State<Arc<AppState>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let at = parsed::<Timestamp>(&q, "at")?.unwrap_or_else(Timestamp::now);
    let mut rows = s.engine.compare(at, view(&q)?).await?;
    rows.retain(|p, _| PlaceId::new(p.as_str()).is_ok_and(|p| who.reads_place(&p)));
    Ok(Json(serde_json::to_value(&rows).map_err(ApiError::internal)?))
}

/// The learning synthesis of the places asked for (`place=`, repeated; by default every
/// place the token reads). Funders get counts and tags only: the texts are never read
/// for them, let alone sent.
async fn synthesis(State(s): State<Arc<AppState>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let mut places = Vec::new();
    for (_, p) in q.iter().filter(|(k, _)| k == "place") {
        let p = place_id(p)?;
        if !who.reads_place(&p) {
            return Err(ApiError::forbidden(format!("this token may not read place `{p}`")));
        }
        places.push(p);
    }
    if places.is_empty() {
        places = s
            .engine
            .places()
            .await?
            .into_iter()
            .filter(|p| who.reads_place(p))
            .collect();
        if places.is_empty() {
            return Ok(Json(
                json!({"known_at_position": 0, "with_texts": false, "places": [], "across": []}),
            ));
        }
    }
    let every = parsed::<Every>(&q, "every")?.unwrap_or(Every::Quarter);
    let synthesis = s
        .engine
        .synthesis(
            &places,
            every,
            parsed(&q, "from")?,
            parsed(&q, "to")?,
            known(&q)?,
            !who.withholds_text(),
        )
        .await?;
    Ok(Json(serde_json::to_value(&synthesis).map_err(ApiError::internal)?))
}

/// The dashboard's page, script and style, built into the binary: nothing is fetched from
/// anywhere else, and the policy below forbids it.
const DASHBOARD_HTML: &str = include_str!("../assets/dashboard.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn dashboard() -> Response {
    asset("text/html; charset=utf-8", DASHBOARD_HTML)
}

async fn dashboard_js() -> Response {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

async fn dashboard_css() -> Response {
    asset("text/css; charset=utf-8", DASHBOARD_CSS)
}

/// The recording page: forms over `POST /v1/events` (checked with `dry_run=true` first),
/// the import route, and the place's events. Same policy as the dashboard.
const RECORD_HTML: &str = include_str!("../assets/record.html");
const RECORD_JS: &str = include_str!("../assets/record.js");

async fn record_page() -> Response {
    asset("text/html; charset=utf-8", RECORD_HTML)
}

async fn record_js() -> Response {
    asset("text/javascript; charset=utf-8", RECORD_JS)
}

/// The registry of measures: what the dashboard lists, in its order and words.
async fn measures() -> Json<Value> {
    Json(shiftlog::projection::registry_json())
}

/// What the caller's token may do: the pages show only the controls it can use.
async fn whoami(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>> {
    let who = who(&s, &headers).await?;
    Ok(Json(json!({
        "role": who.role,
        "places": who.places.iter().map(PlaceId::as_str).collect::<Vec<_>>(),
        "token": who.token_id,
    })))
}

/// Something derived from a place's whole history, kept with the place's version it was
/// made at and made again only when the place has new events. Made once per version: a
/// request that finds it being made waits for that rather than starting another, so
/// repeated requests for a large place cost one computation, not one each.
struct PerPlace<T>(std::sync::Mutex<std::collections::HashMap<PlaceId, PerVersion<T>>>);

type PerVersion<T> = (Version, Arc<tokio::sync::OnceCell<Arc<T>>>);

impl<T> Default for PerPlace<T> {
    fn default() -> Self {
        PerPlace(Default::default())
    }
}

impl<T> PerPlace<T> {
    async fn get<F: std::future::Future<Output = Result<T>>>(
        &self,
        engine: &Engine,
        place: &PlaceId,
        make: impl FnOnce() -> F,
    ) -> Result<Arc<T>> {
        let version = engine.version(&Stream::Place(place.clone())).await?;
        let cell = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(place) {
                Some((v, cell)) if *v == version => cell.clone(),
                _ => {
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    map.insert(place.clone(), (version, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| async { make().await.map(Arc::new) })
            .await
            .cloned()
    }
}

/// The place's layout over its whole history (everything recorded).
async fn layout(s: &AppState, place: &PlaceId) -> Result<Arc<Layout>> {
    s.layouts
        .get(&s.engine, place, || async {
            let history = s.engine.history(place, KnownAt::Everything).await?;
            // Layout is CPU work (milliseconds for hundreds of actors): off the async threads.
            tokio::task::spawn_blocking(move || Layout::of_history(&history))
                .await
                .map_err(ApiError::internal)
        })
        .await
}

/// How `who` sees the place's people: by pseudonym (funders), or by name (`None`).
async fn people_for(s: &AppState, who: &Principal, place: &PlaceId) -> Result<Option<Arc<Pseudonyms>>> {
    if !who.sees_pseudonyms() {
        return Ok(None);
    }
    let p = s
        .pseudonyms
        .get(&s.engine, place, || async { Ok(s.engine.pseudonyms(place).await?) })
        .await?;
    Ok(Some(p))
}

async fn network_svg(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(place): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let who = who(&s, &headers).await?;
    let q = query(raw)?;
    let place = readable_place(&who, &place, &q)?;
    let at = parsed::<Timestamp>(&q, "at")?.unwrap_or_else(Timestamp::now);
    let size_by = parsed::<SizeBy>(&q, "size_by")?.unwrap_or_default();
    let layout = layout(&s, &place).await?;
    // Drawings show names (people's pseudonyms, to funders), sectors, degree and power,
    // never attributes or free text.
    let mut snap = s.engine.snapshot(&place, at, view(&q)?).await?;
    if let Some(people) = people_for(&s, &who, &place).await? {
        people.apply_to_snapshot(&mut snap);
    }
    let svg = draw_network(
        &snap,
        &layout,
        &NetworkStyle {
            size_by,
            ..NetworkStyle::default()
        },
    );
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Eight requests at once for the same place and version make one computation, and
    /// a new event makes the next request compute again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_place_data_is_made_once_per_version() {
        let engine = Engine::in_memory();
        let input =
            parse_input(r#"{"type":"place_registered","id":"p","occurred_at":"2024-01-01","place":"p","name":"P"}"#);
        engine.ingest(input, &[]).await.unwrap();
        let place = PlaceId::new("p").unwrap();
        let cache: Arc<PerPlace<usize>> = Arc::new(PerPlace::default());
        let made = Arc::new(AtomicUsize::new(0));
        let ask = |engine: Engine, cache: Arc<PerPlace<usize>>, made: Arc<AtomicUsize>, place: PlaceId| async move {
            cache
                .get(&engine, &place, || async {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    Ok(made.fetch_add(1, Ordering::SeqCst))
                })
                .await
                .unwrap()
        };
        let tasks: Vec<_> = (0..8)
            .map(|_| tokio::spawn(ask(engine.clone(), cache.clone(), made.clone(), place.clone())))
            .collect();
        for t in tasks {
            assert_eq!(*t.await.unwrap(), 0);
        }
        assert_eq!(made.load(Ordering::SeqCst), 1, "one computation for eight requests");
        let input =
            parse_input(r#"{"type":"learning_recorded","id":"l","occurred_at":"2024-01-02","place":"p","text":"t"}"#);
        engine.ingest(input, &[]).await.unwrap();
        assert_eq!(
            *ask(engine.clone(), cache.clone(), made.clone(), place.clone()).await,
            1
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
