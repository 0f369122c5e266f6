//! Creating the database when the server has none, and the embedded
//! migrations.

use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Creates the database `database_url` names when the server has none by
/// that name, so a fresh machine needs no `createdb` step.
pub async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, RunQueryDsl};

    let error = match AsyncPgConnection::establish(database_url).await {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    if !error.to_string().contains("does not exist") {
        return Err(anyhow::anyhow!(
            "cannot connect to PostgreSQL (DATABASE_URL): {error}"
        ));
    }
    let (server, name) = split_database_url(database_url)
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL names no database: {error}"))?;
    let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
        .await
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

/// `postgres://u@h:p/name?x` -> (`postgres://u@h:p`, `name`); the query is dropped.
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

/// Runs one of diesel's migration steps under [`MIGRATION_LOCK`]; the
/// versions it went through. diesel's migration harness is synchronous: it
/// runs on a blocking thread over an async connection wrapped to look
/// synchronous. The lock ends with the connection.
async fn migrate<F>(
    database_url: &str,
    failed: &'static str,
    step: F,
) -> anyhow::Result<Vec<String>>
where
    F: FnOnce(
            &mut AsyncConnectionWrapper<AsyncPgConnection>,
        ) -> diesel::migration::Result<Vec<String>>
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
        step(&mut connection).map_err(|error| anyhow::anyhow!("{failed}: {error}"))
    })
    .await?
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
