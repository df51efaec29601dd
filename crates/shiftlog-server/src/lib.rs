//! `shiftlog serve`: the engine over HTTP, JSON in and out, with roles and tokens.
//!
//! This crate owns the HTTP shape of shiftlog (routes, status codes, the OpenAPI
//! document), who may do what ([`tokens`]), and live event streams as server-sent events.
//! It is a thin shell over [`shiftlog::Engine`]: it must not know how events are stored or
//! how networks are projected.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use shiftlog_server::{serve, ServerConfig, Access};
//! let engine = shiftlog::Engine::open("./shiftlog-data").unwrap();
//! let access = Access::Tokens(std::sync::Arc::new(shiftlog_server::tokens::TokenStore::new("./shiftlog-data")));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! serve(listener, engine, access, ServerConfig::default(), std::future::pending()).await
//! # }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod guard;
mod listen;
mod openapi;
mod routes;
pub mod tokens;

pub use error::ApiError;
pub use openapi::{openapi, ROUTES};
pub use routes::router;

use std::future::Future;
use std::sync::Arc;
use tokens::{Principal, TokenStore};

/// How requests are authorised.
#[derive(Debug, Clone)]
pub enum Access {
    /// Every request must carry a token of the store (`Authorization: Bearer TOKEN`).
    Tokens(Arc<TokenStore>),
    /// No tokens: everyone is admin. Only for a server on a loopback address.
    Open,
}

/// Server settings: what one request, one client and all of them together may cost.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes (larger ones get 413).
    pub max_body: usize,
    /// The most events one `GET /v1/events` returns.
    pub max_page: usize,
    /// The most connections open at once; 0 picks a limit well under the process's
    /// file-descriptor limit (at most 4,096).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// How long one query (a snapshot, an evolution, an export, ...) may compute before it
    /// is answered with 503 and a message to ask for less.
    pub query_time: std::time::Duration,
    /// The most work one evolution may ask for, counted as steps x actors x (actors +
    /// relationships) of the place at its last step: the cost of its per-step centrality.
    pub max_evolution_work: u64,
    /// The most live event streams open at once, and per token.
    pub max_streams: usize,
    /// The most live event streams one token may hold open.
    pub max_streams_per_token: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 64 << 20,
            max_page: 10_000,
            max_connections: 0,
            header_read_timeout: std::time::Duration::from_secs(10),
            query_time: std::time::Duration::from_secs(30),
            max_evolution_work: 20_000_000_000,
            max_streams: 256,
            max_streams_per_token: 8,
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops taking requests,
/// ends live streams and waits for requests in flight (appends included) to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: shiftlog::Engine,
    access: Access,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    check_access(&access, listener.local_addr()?)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every place's index and checkpoints kept current as events come in, off the
    // writers' path, so that no query waits for them.
    let keeper = engine.keep_prepared();
    let app = router(engine, access, config.clone(), stop_rx);
    let served = listen::serve(listener, app, &config, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    })
    .await;
    // Awaited once aborted, so that when this returns no task of the server still holds
    // the engine (a caller may remove its directory next).
    keeper.abort();
    let _ = keeper.await;
    served
}

/// Refuses [`Access::Open`] anywhere but a loopback address.
pub fn check_access(access: &Access, addr: std::net::SocketAddr) -> std::io::Result<()> {
    if matches!(access, Access::Open) && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--open serves without tokens, so it is allowed on a loopback address only (not {addr})"),
        ));
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

pub(crate) async fn authorise(
    access: &Access,
    header: Option<&axum::http::HeaderValue>,
) -> Result<Principal, ApiError> {
    let store = match access {
        Access::Open => return Ok(Principal::open()),
        Access::Tokens(store) => store,
    };
    let header = header.ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer TOKEN` header"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
    store
        .authenticate(token)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
}
