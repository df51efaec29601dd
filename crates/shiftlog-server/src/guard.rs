//! What every answer carries, and what a server without tokens refuses.
//!
//! `serve --open` has no tokens, so a web page the user visits must not be able to use it:
//! - every request must be addressed to a loopback host (`Host`), so a DNS name rebound to
//!   127.0.0.1 reaches nothing;
//! - a request that carries an `Origin` must come from a loopback origin;
//! - a write must say its body is JSON (`application/json` or `application/x-ndjson`):
//!   browsers send those cross-site only after a CORS preflight, which this server never
//!   grants, so a `no-cors` form or `fetch` with `text/plain` is refused.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether `host` (a `Host` header or an origin's host, with or without a port) names
/// this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:7878
        match rest.split_once(']') {
            Some((ip, _)) => ip,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback_origin(origin: &HeaderValue) -> bool {
    origin
        .to_str()
        .ok()
        .and_then(|o| o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")))
        .is_some_and(is_loopback_host)
}

/// Whether a write's body is of a type a web page on another site cannot send without the
/// browser asking first (a CORS preflight, which this server never grants): JSON and NDJSON
/// events, and the files the import route reads. Forms' types (urlencoded, multipart,
/// text/plain) are refused.
fn is_preflighted(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "text/csv"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
}

/// Refuses what a server without tokens must not serve (see the module's text).
pub(crate) async fn open_server_guard(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !is_loopback_host(host) {
        return ApiError::forbidden(
            "this server runs without tokens (--open) and answers only requests addressed to \
             localhost or a loopback address",
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !is_loopback_origin(origin) {
            return ApiError::forbidden(
                "this server runs without tokens (--open) and answers web pages served from this machine only",
            )
            .into_response();
        }
    }
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && !is_preflighted(headers.get(header::CONTENT_TYPE)) {
        return ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send events with `Content-Type: application/json` or `application/x-ndjson` (imports: text/csv or \
             a workbook's type)",
        )
        .into_response();
    }
    next.run(request).await
}

/// Every answer: never sniffed as another type, and API answers never cached (they hold
/// people's names and change with the log). The dashboard's assets set their own caching.
pub(crate) async fn answer_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:7878",
            "127.0.0.1:80",
            "127.9.9.9",
            "[::1]:7878",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "evil.example:7878",
            "10.0.0.1",
            "[::2]:1",
            "localhost.evil.example",
            "[::1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback_origin(&HeaderValue::from_static("http://127.0.0.1:7878")));
        assert!(!is_loopback_origin(&HeaderValue::from_static("null")));
        assert!(!is_loopback_origin(&HeaderValue::from_static("http://evil.example")));
        for ok in [
            "application/json; charset=utf-8",
            "application/x-ndjson",
            "text/csv; charset=utf-8",
        ] {
            assert!(is_preflighted(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        // What a form on another site can send without asking.
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!is_preflighted(Some(&HeaderValue::from_static(refused))), "{refused}");
        }
        assert!(!is_preflighted(None));
    }
}

/// How long a read may take before it is answered with 503.
#[derive(Clone, Copy)]
pub(crate) struct TimeBudget(pub(crate) std::time::Duration);

/// Answers a read (a snapshot, an evolution, an export, ...) with 503 once it has taken
/// longer than the budget. The read runs as a task of its own, so the answer comes on time
/// even while it computes; what it still computes is bounded by the other limits (the
/// evolution work limit) and is dropped when done. Writes and live streams are not timed:
/// an append the writer has taken is written whether or not its caller waits.
pub(crate) async fn time_budget(
    axum::extract::State(TimeBudget(budget)): axum::extract::State<TimeBudget>,
    request: Request,
    next: Next,
) -> Response {
    let timed = request.method() == Method::GET && request.uri().path() != "/v1/events/stream";
    if !timed {
        return next.run(request).await;
    }
    let task = tokio::spawn(next.run(request));
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => ApiError::internal(format!("a query task failed: {e}")).into_response(),
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the query took longer than {} s, this server's limit for one request: ask for less \
                 (one place, a shorter span, a longer step)",
                budget.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
