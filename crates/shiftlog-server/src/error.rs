//! Errors as HTTP responses: a status and a JSON body that says what is wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use shiftlog::{AppendError, Location, ProjectionError, Rejection, StoreError};

/// The most rejections one answer lists (the CLI prints as many); the rest are counted.
pub const MAX_LISTED: usize = 100;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: a valid token that may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 500: logged in full under a new request id; the client gets the id only (the text
    /// may name files and internals).
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        Self::logged(StatusCode::INTERNAL_SERVER_ERROR, e, "an internal error")
    }

    fn logged(status: StatusCode, e: impl std::fmt::Display, what: &str) -> ApiError {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the operating system's random source failed");
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        tracing::error!(error = %e, request_id = %id, "request failed");
        ApiError {
            status,
            body: json!({
                "error": format!("{what}; the server's log has the details under request id {id}"),
                "request_id": id,
            }),
        }
    }

    /// 400 for a batch with `total` rejected events, of which `listed` are known: at most
    /// [`MAX_LISTED`] are listed, so the answer stays small whatever the body.
    pub fn rejected(listed: &[Rejection], total: usize) -> ApiError {
        let mut e = Self::listed(
            StatusCode::BAD_REQUEST,
            format!("{total} event(s) rejected; nothing was written"),
            listed,
            total,
        );
        e.body["rejected"] = json!(total);
        e
    }

    fn listed(status: StatusCode, message: String, listed: &[Rejection], total: usize) -> ApiError {
        let shown: Vec<Value> = listed.iter().take(MAX_LISTED).map(rejection_json).collect();
        let mut body = json!({ "error": message, "rejections": shown });
        if total > shown.len() {
            body["not_listed"] = json!(total - shown.len());
        }
        ApiError { status, body }
    }

    /// 422 for a file whose content is wrong: each problem with its file, sheet, row,
    /// column and message (at most [`MAX_LISTED`]).
    pub fn problems(message: String, problems: Vec<Value>) -> ApiError {
        let total = problems.len();
        let mut body =
            json!({ "error": message, "problems": problems.into_iter().take(MAX_LISTED).collect::<Vec<_>>() });
        if total > MAX_LISTED {
            body["not_listed"] = json!(total - MAX_LISTED);
        }
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// One rejected event as JSON: where it was, its id, the field and what is wrong.
pub fn rejection_json(r: &Rejection) -> Value {
    let mut v = json!({
        "event_id": r.event_id,
        "field": r.field(),
        "message": r.error.to_string(),
    });
    match r.location {
        Location::Line(n) => v["line"] = json!(n),
        Location::Index(i) => v["index"] = json!(i),
    }
    v
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> ApiError {
        match e {
            AppendError::Rejected(rs) => ApiError::rejected(&rs, rs.len()),
            AppendError::Forbidden(rs) => {
                let mut e = ApiError::listed(
                    StatusCode::FORBIDDEN,
                    format!(
                        "{} event(s) may not be written with this token; nothing was written (first: {})",
                        rs.len(),
                        rs[0]
                    ),
                    &rs,
                    rs.len(),
                );
                e.body["forbidden"] = json!(rs.len());
                e
            }
            AppendError::VersionConflict {
                stream,
                expected,
                actual,
            } => ApiError {
                status: StatusCode::CONFLICT,
                body: json!({
                    "error": format!("version conflict on {stream}: expected {expected}, it is at {actual}; nothing was written"),
                    "stream": stream.to_string(),
                    "expected_version": expected,
                    "actual_version": actual,
                }),
            },
            AppendError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::DiskFull { .. } => ApiError::logged(
                StatusCode::INSUFFICIENT_STORAGE,
                e,
                "the server's disk is full and nothing was written",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> ApiError {
        match e {
            ProjectionError::UnknownPlace(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ProjectionError::TooManySteps { .. } | ProjectionError::TooMuchWork { .. } => {
                ApiError::bad_request(e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}
