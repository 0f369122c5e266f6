//! `emporium serve`: migrate, then serve HTTP until SIGINT or SIGTERM.
//!
//! Connections are served by hyper's HTTP/1 server directly rather than
//! through `axum::serve`, which offers no way to set a timer: without one,
//! hyper cannot time out a client that never finishes its request head, and
//! such sockets would be kept forever. Here every connection must complete
//! each request head within `HEADER_READ_TIMEOUT_MS` (idle keep-alive
//! connections included), and at most `MAX_CONNECTIONS` are served at once;
//! further clients wait in the kernel's accept queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Config;
use crate::state::AppState;

/// The most a connection's read buffer holds, and so the largest request
/// head (request line and headers) taken: a larger one, a long URI
/// included, is answered 431 by hyper. Its default, some 400 KiB, let every
/// one of `MAX_CONNECTIONS` clients trickling a huge header hold that much
/// until the header timeout. NGINX takes a request line of at most 8 KiB
/// and heads of 32 KiB in all (four 8 KiB buffers, one line each); 16 KiB
/// leaves room for a URI of every parameter API.md takes in ASCII names,
/// and a token.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request head (request line and headers) must arrive within this.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// An answer's write that makes no progress for this long ends its
    /// connection (as NGINX's `send_timeout`): a client that stopped reading
    /// gives its slot back instead of holding it for as long as it likes.
    pub send_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish: past
    /// it, the connections left are dropped and the process ends.
    pub drain_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            // A reader slower than this between two writes is not reading
            // (at least 30 s: a slow link on a short request timeout is).
            send_timeout: config.request_timeout.max(Duration::from_secs(30)),
            // Every request ends by its timeout; a few seconds more to send.
            drain_timeout: config.request_timeout + Duration::from_secs(5),
        }
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::db::ensure_database(config.database_url()).await?;
    let applied = crate::db::run_migrations(config.database_url()).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied pending migrations");
    }
    let bind_addr = config.bind_addr;
    let limits = ConnectionLimits::from_config(&config);
    let state = AppState::new(config)?;
    crate::health::log_dependencies(&state).await;
    let upgrading = state.clone();
    tokio::spawn(async move {
        match crate::auth::sessions::list_unlisted(&upgrading).await {
            Ok(count) => tracing::debug!(sessions = count, "every live session is listed"),
            Err(error) => tracing::warn!(
                error = %error,
                "could not list the sessions opened before sessions were listed; each is listed when next used"
            ),
        }
    });
    state.hasher.warm_up().await;
    let janitors = state.clone();
    let app = crate::router::build(state);
    let listener = TcpListener::bind(bind_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {bind_addr} (BIND_ADDR): {error}"))?;
    tracing::info!(address = %bind_addr, "listening");
    crate::metrics::spawn_upkeep();
    spawn_janitors(&janitors);
    serve_connections(listener, app, limits, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The hourly jobs ([`crate::janitor`]): expired idempotency keys
/// forgotten, and (when `UNPAID_ORDER_HOURS` is set) orders left unpaid
/// cancelled.
fn spawn_janitors(state: &AppState) {
    use crate::janitor::spawn_hourly;
    spawn_hourly(
        state.clone(),
        "expired-idempotency-keys",
        |state| async move { crate::idempotency::forget_expired(&state).await },
    );
    if let Some(life) = state.config.unpaid_order_life {
        spawn_hourly(state.clone(), "unpaid-orders", move |state| async move {
            crate::orders::unpaid::cancel_unpaid(&state, life).await
        });
    }
}

/// Accepts and serves connections on `listener` until `shutdown` resolves,
/// then lets in-flight requests finish.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: past the limit, clients
        // queue in the kernel instead of costing a task and a descriptor.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.send_timeout));
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(
                TokioIo::new(Box::pin(stream)),
                TowerToHyperService::new(service),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(peer = %peer, error = %error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            waited = ?limits.drain_timeout,
            "connections still open past the drain timeout are dropped"
        );
    }
}

/// Binds `addr` and serves `app` there in the background (tests and the
/// benchmark harness); returns the bound address and a handle that stops it.
pub async fn spawn(
    addr: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
) -> std::io::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_connections(listener, app, limits, async move {
        let _ = stopped.await;
    }));
    Ok((local, stop))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
