//! PostgreSQL: the diesel-async connection pool and the embedded migrations.

use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::Config;

/// The pool every request borrows its connection from.
pub type DbPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;
/// A connection borrowed from [`DbPool`].
pub type DbConn<'a> = bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>;

/// The migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds the pool. Connections are opened lazily, so this succeeds while
/// PostgreSQL is still starting; the readiness probe tells when it answers.
pub fn build_pool(config: &Config) -> DbPool {
    let mut manager_config = ManagerConfig::default();
    // bb8 already drops connections that report themselves broken; a
    // `SELECT 1` before every checkout would add a round trip to each request.
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        config.database_url(),
        manager_config,
    );
    bb8::Pool::builder()
        .max_size(config.database_pool_size)
        .connection_timeout(config.database_connect_timeout)
        .build_unchecked(manager)
}

/// Applies every pending migration; returns the versions applied.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    with_migration_connection(database_url, |connection| {
        let applied = connection
            .run_pending_migrations(MIGRATIONS)
            .map_err(|error| anyhow::anyhow!("migration failed: {error}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await
}

/// Reverts every applied migration (used by the migration tests).
pub async fn revert_all_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    with_migration_connection(database_url, |connection| {
        let reverted = connection
            .revert_all_migrations(MIGRATIONS)
            .map_err(|error| anyhow::anyhow!("reverting migrations failed: {error}"))?;
        Ok(reverted.iter().map(ToString::to_string).collect())
    })
    .await
}

/// diesel's migration harness is synchronous: run it on a blocking thread
/// over an async connection wrapped to look synchronous.
async fn with_migration_connection<T, F>(database_url: &str, work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> anyhow::Result<T> + Send + 'static,
{
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut connection = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|error| anyhow::anyhow!("cannot connect to PostgreSQL: {error}"))?;
        work(&mut connection)
    })
    .await?
}
