//! Creating the database when the server has none, and the embedded
//! migrations.

use std::time::{Duration, Instant};

use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a start waits for a PostgreSQL that refuses connections or is
/// still starting up (compose starts everything at once), and for one
/// connection attempt to be answered.
const SERVER_START_WAIT: Duration = Duration::from_secs(30);
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// Creates the database `database_url` names when the server has none by
/// that name, so a fresh machine needs no `createdb` step. A server that is
/// not up yet (refusing, or starting up) is waited for, up to
/// [`SERVER_START_WAIT`]; one that does not answer at all fails at once
/// after [`CONNECT_WAIT`].
pub async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, RunQueryDsl};

    let give_up_at = Instant::now() + SERVER_START_WAIT;
    let error = loop {
        let attempt =
            tokio::time::timeout(CONNECT_WAIT, AsyncPgConnection::establish(database_url));
        match attempt.await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) if is_not_up_yet(&error.to_string()) && Instant::now() < give_up_at => {
                tracing::info!(error = %error, "waiting for PostgreSQL to take connections (DATABASE_URL)");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(Err(error)) => break error,
            Err(_) => anyhow::bail!(
                "cannot connect to PostgreSQL (DATABASE_URL): no answer within {CONNECT_WAIT:?}"
            ),
        }
    };
    if !error.to_string().contains("does not exist") {
        return Err(anyhow::anyhow!(
            "cannot connect to PostgreSQL (DATABASE_URL): {error}"
        ));
    }
    let (server, name) = split_database_url(database_url)
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL names no database: {error}"))?;
    let admin_url = match database_url.split_once('?') {
        Some((_, query)) => format!("{server}/postgres?{query}"),
        None => format!("{server}/postgres"),
    };
    let mut admin = tokio::time::timeout(CONNECT_WAIT, AsyncPgConnection::establish(&admin_url))
        .await
        .map_err(|_| anyhow::anyhow!("cannot connect to PostgreSQL to create {name:?}: no answer"))?
        .map_err(|error| {
            anyhow::anyhow!("cannot connect to PostgreSQL to create {name:?}: {error}")
        })?;
    #[derive(diesel::QueryableByName)]
    struct Quoted {
        #[diesel(sql_type = Text)]
        quoted: String,
    }
    let quoted = diesel::sql_query("SELECT quote_ident($1) AS quoted")
        .bind::<Text, _>(&name)
        .get_result::<Quoted>(&mut admin)
        .await?
        .quoted;
    if let Err(error) = diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut admin)
        .await
    {
        // Another node, started at the same moment, may have created it
        // first (told as "already exists", or in the same instant as a
        // duplicate key of the catalog, in the server's own language).
        #[derive(diesel::QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            found: bool,
        }
        let made = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found",
        )
        .bind::<Text, _>(&name)
        .get_result::<Found>(&mut admin)
        .await
        .is_ok_and(|made| made.found);
        anyhow::ensure!(made, "cannot create database {name:?}: {error}");
        return Ok(());
    }
    tracing::info!(database = %name, "created the database");
    Ok(())
}

/// Whether a failed connection says the server is not up yet, rather
/// than that it refused us: no connection made at all (not listening yet;
/// diesel-async keeps only tokio-postgres's "error connecting to server",
/// which a wrong host gives too, after the wait), or one of SQLSTATE
/// 57P03's "cannot connect now" (starting up, the image's first boot;
/// shutting down, a restart; in recovery mode, after a backend crashed;
/// not yet accepting connections, a standby catching up).
fn is_not_up_yet(error: &str) -> bool {
    [
        "error connecting to server",
        "Connection refused",
        "the database system is starting up",
        "the database system is shutting down",
        "the database system is in recovery mode",
        "not yet accepting connections",
    ]
    .iter()
    .any(|said| error.contains(said))
}

/// `postgres://u@h:p/name?x` -> (`postgres://u@h:p`, `name`); the query is
/// kept apart (the caller adds it back to the server's URL).
fn split_database_url(url: &str) -> Option<(String, String)> {
    let without_query = url.split('?').next()?;
    let (server, name) = without_query.rsplit_once('/')?;
    (!name.is_empty() && server.contains("://") && !server.ends_with('/'))
        .then(|| (server.to_owned(), name.to_owned()))
}

/// Applies every pending migration; returns the versions applied.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    migrate(database_url, "migration failed", |connection| {
        connection.run_pending_migrations(MIGRATIONS).map(names)
    })
    .await
}

/// Reverts every applied migration (used by the migration tests).
pub async fn revert_all_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    migrate(database_url, "reverting migrations failed", |connection| {
        connection.revert_all_migrations(MIGRATIONS).map(names)
    })
    .await
}

/// Names the session advisory lock that migration steps take, so that
/// nodes started together migrate one after the other: the first applies
/// what is pending, the others then find nothing left to apply (diesel's
/// harness alone lets two of them apply the same migration at once, and one
/// fails on the other's half-made objects).
const MIGRATION_LOCK: i64 = 0x006d_6967_7261_7465; // "migrate"

/// How long a migration's statement waits for a table's lock before it
/// gives up, and how often a step is tried. A migration that waits behind
/// a long transaction (an idle one in someone's psql) would otherwise hold
/// its place in the table's lock queue, and every checkout and cart write
/// queued behind it, for as long as that transaction lives.
const MIGRATION_LOCK_TIMEOUT: &str = "3s";
const MIGRATION_TRIES: u32 = 4;
const MIGRATION_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs one of diesel's migration steps under [`MIGRATION_LOCK`]; the
/// versions it went through. diesel's migration harness is synchronous: it
/// runs on a blocking thread over an async connection wrapped to look
/// synchronous. The lock ends with the connection. Each migration runs in
/// a transaction of its own, so a step that gave up waiting for a lock
/// ([`MIGRATION_LOCK_TIMEOUT`]) kept the migrations before it and is tried
/// again after a pause, up to [`MIGRATION_TRIES`] times.
async fn migrate<F>(
    database_url: &str,
    failed: &'static str,
    step: F,
) -> anyhow::Result<Vec<String>>
where
    F: Fn(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> diesel::migration::Result<Vec<String>>
        + Send
        + 'static,
{
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut connection = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|error| anyhow::anyhow!("cannot connect to PostgreSQL: {error}"))?;
        diesel::connection::SimpleConnection::batch_execute(
            &mut connection,
            &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"),
        )
        .map_err(|error| anyhow::anyhow!("{failed}: waiting for other migrations: {error}"))?;
        diesel::connection::SimpleConnection::batch_execute(
            &mut connection,
            &format!("SET lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'"),
        )
        .map_err(|error| anyhow::anyhow!("{failed}: {error}"))?;
        let mut went_through = Vec::new();
        for attempt in 1..=MIGRATION_TRIES {
            match step(&mut connection) {
                Ok(versions) => {
                    went_through.extend(versions);
                    return Ok(went_through);
                }
                Err(error) if attempt < MIGRATION_TRIES && is_lock_timeout(&*error) => {
                    tracing::warn!(error = %error, attempt, "a migration gave up waiting for a table's lock; trying again");
                    std::thread::sleep(MIGRATION_PAUSE);
                }
                Err(error) if is_lock_timeout(&*error) => {
                    anyhow::bail!(
                        "{failed}: waited {MIGRATION_LOCK_TIMEOUT} for a table's lock {MIGRATION_TRIES} times: a transaction holds one on a table this migration changes (see pg_locks and pg_stat_activity, an idle transaction perhaps); {error}"
                    );
                }
                Err(error) => anyhow::bail!("{failed}: {error}"),
            }
        }
        Ok(went_through)
    })
    .await?
}

/// Whether a migration's failure was a lock wait that ran out.
fn is_lock_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.to_string().contains("lock timeout") {
            return true;
        }
        cause = error.source();
    }
    false
}

fn names(versions: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    versions.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::split_database_url;

    #[test]
    fn splits_a_database_url_into_server_and_name() {
        assert_eq!(
            split_database_url("postgres://postgres@127.0.0.1:5432/emporium?sslmode=disable"),
            Some((
                "postgres://postgres@127.0.0.1:5432".into(),
                "emporium".into()
            ))
        );
        assert_eq!(split_database_url("postgres://host"), None);
        assert_eq!(split_database_url("postgres://host/"), None);
    }
}
