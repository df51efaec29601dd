//! `shiftlog serve` and `shiftlog token`: thin shells over `shiftlog-server`.

use shiftlog::store::{Store, StoreLocation};
use shiftlog::{Engine, PgLog, PlaceId};
use shiftlog_server::tokens::{Role, TokenStore};
use shiftlog_server::{Access, ServerConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// Serve without tokens (everyone is admin); refused unless the address is loopback.
    #[arg(long)]
    open: bool,
    /// The largest request body accepted, in MiB.
    #[arg(long, default_value_t = 64)]
    max_body_mib: usize,
    /// The most connections open at once (0: well under the file-descriptor limit, at most
    /// 4,096). At the limit, the oldest connection that has not sent a request is closed.
    #[arg(long, default_value_t = 0)]
    max_connections: usize,
    /// How long one read (a snapshot, an evolution, ...) may take, in seconds, before it is
    /// answered with 503.
    #[arg(long, default_value_t = 30)]
    query_seconds: u64,
    /// The most live event streams open at once (per token: 8).
    #[arg(long, default_value_t = 256)]
    max_streams: usize,
}

/// The engine and its tokens: a data directory keeps them in a file beside the store, a
/// database in a table of its own, so that every server sharing it sees a revocation.
async fn open_with_tokens(at: &StoreLocation) -> anyhow::Result<(Engine, Arc<TokenStore>)> {
    match at {
        StoreLocation::Directory(dir) => Ok((Engine::open(dir)?, Arc::new(TokenStore::new(dir)))),
        StoreLocation::Postgres(url) => {
            let log = Arc::new(PgLog::connect(url).await?);
            let engine = Engine::with_store(Store {
                log: log.clone(),
                maintenance: log.clone(),
            });
            Ok((engine, Arc::new(TokenStore::in_database(log))))
        }
    }
}

/// The tokens of the store at `at`, without opening a data directory's store (a server
/// may hold its lock).
async fn tokens_of(at: &StoreLocation) -> anyhow::Result<TokenStore> {
    Ok(match at {
        StoreLocation::Directory(dir) => TokenStore::new(dir),
        StoreLocation::Postgres(url) => TokenStore::in_database(Arc::new(PgLog::connect(url).await?)),
    })
}

pub(crate) async fn serve(at: &StoreLocation, a: ServeArgs) -> anyhow::Result<ExitCode> {
    // Before opening anything: a refused `--open` leaves no store behind.
    if a.open {
        shiftlog_server::check_access(&Access::Open, a.addr)?;
    }
    let (engine, tokens) = open_with_tokens(at).await?;
    let access = if a.open { Access::Open } else { Access::Tokens(tokens) };
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.addr))?;
    let config = ServerConfig {
        max_body: a.max_body_mib << 20,
        max_connections: a.max_connections,
        query_time: std::time::Duration::from_secs(a.query_seconds.max(1)),
        max_streams: a.max_streams,
        ..ServerConfig::default()
    };
    eprintln!(
        "shiftlog serving {} on http://{}{}",
        at.describe(),
        listener.local_addr()?,
        if a.open { " (open: no tokens)" } else { "" }
    );
    shiftlog_server::serve(listener, engine, access, config, shiftlog_server::shutdown_signal()).await?;
    // Not eprintln!: stderr may have been closed long ago, and stopping cleanly matters more.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), b"shiftlog stopped\n");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it alone on stdout (it is shown once and stored hashed).
    Create {
        /// recorder (appends to and reads its places), funder (reads every place's
        /// projections, never free text) or admin.
        #[arg(long)]
        role: Role,
        /// A place a recorder may write and read (repeat for several).
        #[arg(long = "place")]
        places: Vec<String>,
    },
    /// List tokens: id, role, places, created (never the tokens themselves).
    List,
    /// Revoke a token by its id (from `token list`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

pub(crate) async fn token(at: &StoreLocation, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = tokens_of(at).await?;
    match cmd {
        TokenCommand::Create { role, places } => {
            let places = places
                .iter()
                .map(|p| PlaceId::new(p.as_str()).map_err(|e| anyhow::anyhow!("--place {p}: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (token, record) = store.create(role, places).await?;
            println!("{token}");
            eprintln!(
                "created token {} ({:?}); it will not be shown again",
                record.id, record.role
            );
        }
        TokenCommand::List => {
            for t in store.list().await? {
                let places: Vec<&str> = t.places.iter().map(|p| p.as_str()).collect();
                println!(
                    "{}  {:<8}  {}  {}",
                    t.id,
                    format!("{:?}", t.role).to_lowercase(),
                    t.created_at,
                    places.join(",")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke(&id).await?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
