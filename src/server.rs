//! `emporium serve`: migrate, then serve HTTP until SIGINT or SIGTERM.

use crate::config::Config;
use crate::state::AppState;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::db::ensure_database(config.database_url()).await?;
    let applied = crate::db::run_migrations(config.database_url()).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied pending migrations");
    }
    let bind_addr = config.bind_addr;
    let state = AppState::new(config)?;
    let app = crate::router::build(state);
    let listener = tokio::net::TcpListener::bind(bind_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {bind_addr} (BIND_ADDR): {error}"))?;
    tracing::info!(address = %bind_addr, "listening");
    crate::auth::password::warm_up().await;
    crate::metrics::spawn_upkeep();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped");
    Ok(())
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
    tracing::info!("shutting down: finishing in-flight requests");
}
