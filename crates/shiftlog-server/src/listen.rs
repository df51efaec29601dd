//! Accepting connections with limits: what `axum::serve` leaves to a proxy in front.
//!
//! - A client must send a request's headers within [`ServerConfig::header_read_timeout`]
//!   (hyper's timer), so half-sent requests do not stay open.
//! - At most [`ServerConfig::max_connections`] connections are open at once (by default
//!   well under the process's file-descriptor limit). When a new connection arrives at the
//!   limit, the oldest connection that is not serving a request (still sending its request
//!   head, or idle between requests) is closed to make room; if every connection is serving
//!   a request, the new one is closed instead. So a flood of half-open connections
//!   (slowloris) costs the attacker its own connections, while `/health` and real clients
//!   still get in. A request is served from the moment its head is read until its answer
//!   has been sent (a live stream: until it ends); a body sent too slowly is cut by the
//!   route that reads it.
//!
//! Graceful shutdown: stop accepting, let requests in flight finish (live streams end
//! through the router's stop signal), then return.

use crate::ServerConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::Service;

/// One open connection, as the accept loop sees it.
struct Slot {
    /// Requests being served (head read, answer not yet sent).
    busy: Arc<AtomicUsize>,
    /// Of those, requests waiting for the client to send more of their body.
    waiting: Arc<AtomicUsize>,
    /// Closes the connection when told.
    close: Arc<tokio::sync::Notify>,
}

/// Put in every request's extensions: a route reading the body marks its connection as
/// waiting on the client meanwhile, so that under pressure a slow sender is closed before
/// a request being computed or answered.
#[derive(Clone)]
pub(crate) struct ClientWait(Arc<AtomicUsize>);

impl ClientWait {
    /// Marks the connection as waiting on its client until the guard is dropped.
    pub(crate) fn enter(&self) -> impl Drop {
        Serving::new(&self.0)
    }
}

/// One request being served on a connection, until dropped.
struct Serving(Arc<AtomicUsize>);

impl Serving {
    fn new(busy: &Arc<AtomicUsize>) -> Serving {
        busy.fetch_add(1, Ordering::AcqRel);
        Serving(busy.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, oldest first (ids only grow).
#[derive(Default)]
struct Open(Mutex<BTreeMap<u64, Slot>>);

impl Open {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Slot>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for one more connection under `limit`: true if there is room (after
    /// closing the oldest connection that is serving no request, if need be).
    fn make_room(&self, limit: usize) -> bool {
        let mut map = self.map();
        if map.len() < limit {
            return true;
        }
        let idle = map
            .iter()
            .find(|(_, s)| s.busy.load(Ordering::Acquire) <= s.waiting.load(Ordering::Acquire))
            .map(|(id, _)| *id);
        match idle {
            Some(id) => {
                if let Some(slot) = map.remove(&id) {
                    slot.close.notify_one();
                }
                true
            }
            None => false,
        }
    }
}

/// The connection limit: the configured one, or a default kept well under the process's
/// file-descriptor limit (the store, the log and the tokens need some too).
pub(crate) fn connection_limit(config: &ServerConfig) -> usize {
    if config.max_connections > 0 {
        return config.max_connections;
    }
    let fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let room = fds.saturating_sub(256) / 2;
    room.clamp(16, 4096) as usize
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = connection_limit(config);
    tracing::info!(
        connections = limit,
        header_read_timeout_ms = config.header_read_timeout.as_millis() as u64,
        "accepting connections"
    );
    let open = Arc::new(Open::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(64 << 10);
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was
                    // taken: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if !open.make_room(limit) {
            tracing::warn!(limit, "every connection is serving a request: refusing a new one");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(tokio::sync::Notify::new());
        open.map().insert(
            id,
            Slot {
                busy: busy.clone(),
                waiting: waiting.clone(),
                close: close.clone(),
            },
        );
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let serving = Serving::new(&busy);
            req.extensions_mut().insert(ClientWait(waiting.clone()));
            let mut app = app.clone();
            async move {
                let response = app.call(req.map(axum::body::Body::new)).await?;
                // Served until the answer's body is sent (or dropped).
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                        let _ = &serving;
                        frame
                    }))
                }))
            }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = conn => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                () = close.notified() => tracing::debug!("closed a connection that sent no request, to make room"),
            }
            open.map().remove(&id);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
