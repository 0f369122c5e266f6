//! PostgreSQL: the diesel-async connection pool, and the commit that waits
//! for the disk. Creating the database and migrating it: [`setup`].

pub mod locks;
mod setup;
mod writes;

pub use setup::{MIGRATIONS, ensure_database, revert_all_migrations, run_migrations};
pub use writes::{commit_and_wait_for_disk, hot_write_settings};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use crate::config::Config;

/// The pool every request borrows its connection from.
pub type DbPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;

/// How long a failed connection attempt counts as recent.
const UNREACHABLE_MEMORY: Duration = Duration::from_secs(1);

/// No connection could be had: PostgreSQL is down, unreachable, or every
/// connection stayed busy for the whole wait (the cause, for the log).
#[derive(Debug, thiserror::Error)]
#[error("no PostgreSQL connection: {0}")]
pub struct Unavailable(pub String);

/// The pool, and whether PostgreSQL could be reached lately.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    failures: Arc<ConnectFailures>,
    connect_timeout: Duration,
    /// For a connection of its own, outside the pool ([`Database::answers_directly`]).
    url: Arc<str>,
    /// The last such probe's answer and when it came: one at a time, and
    /// every probe waiting takes the answer of the one that ends after it
    /// asked (a flood of health checks opens one connection, not one each).
    direct: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
}

impl Database {
    /// Builds the primary's pool (see [`build_pool`]).
    pub fn new(config: &Config) -> Self {
        Self::at(config.database_url(), config)
    }

    /// Builds a pool of connections to `url` (the primary or a replica).
    pub fn at(url: &str, config: &Config) -> Self {
        let failures = Arc::new(ConnectFailures {
            server: public_name(url),
            ..ConnectFailures::default()
        });
        let pool = build_pool(url, config, Box::new(FailureSink(failures.clone())));
        Self {
            pool,
            failures,
            connect_timeout: config.database_connect_timeout,
            url: url.into(),
            direct: Arc::default(),
        }
    }

    /// A connection. bb8 waits for one up to the connect timeout even when
    /// every attempt to open one fails at once, so a checkout here also
    /// ends (503) as soon as an attempt fails while it waits: an outage is
    /// answered at once. It does not end sooner for a failure that came
    /// before it: the first requests after PostgreSQL is back wait, like
    /// any other, for the connections being opened to the fresh server,
    /// which on a loaded machine (a pool refilling at once, the server's
    /// caches cold) can take longer than an outage's answers do.
    /// The connection owns its share of the pool (`'static`), so that the
    /// end of a transaction can run in a task of its own (`orders::service`).
    pub async fn get(&self) -> Result<DbConn<'static>, Unavailable> {
        let failed = self.failures.notify.notified();
        tokio::pin!(failed);
        failed.as_mut().enable();
        tokio::select! {
            biased;
            conn = tokio::time::timeout(self.connect_timeout, self.pool.get_owned()) => match conn {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(error)) => Err(Unavailable(error.to_string())),
                Err(_) => Err(Unavailable("no connection within the wait".into())),
            },
            () = &mut failed => Err(Unavailable("a connection attempt failed".into())),
        }
    }

    /// Whether opening a connection failed within the last second (or a
    /// caller said the server did not answer: [`Database::note_unanswered`]).
    pub fn unreachable_lately(&self) -> bool {
        self.failures.recent()
    }

    /// Notes that the server did not answer a question in time on a pooled
    /// connection: for the next second it counts as unreachable.
    pub fn note_unanswered(&self) {
        self.failures.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The pool's counts, for the metrics.
    pub fn state(&self) -> bb8::State {
        self.pool.state()
    }

    /// Whether the server answers within `within` on a connection of its
    /// own, opened and closed outside the pool: for a probe that found
    /// every pooled connection busy. A server that refuses the connection
    /// because every slot is taken ("too many clients", SQLSTATE 53300:
    /// pools sized to its limit, all busy) answered, and is up.
    /// Probes run one at a time: one that asks while another runs takes
    /// that one's answer if it comes after it asked, or runs its own.
    pub async fn answers_directly(&self, within: Duration) -> bool {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        let asked = Instant::now();
        let shared = async {
            let mut last = self.direct.lock().await;
            if let Some((at, answered)) = *last
                && at >= asked
            {
                return answered;
            }
            let answered = match AsyncPgConnection::establish(&self.url).await {
                Ok(mut conn) => diesel::sql_query("SELECT 1")
                    .execute(&mut conn)
                    .await
                    .is_ok(),
                Err(error) => is_full(&error.to_string()),
            };
            *last = Some((Instant::now(), answered));
            answered
        };
        tokio::time::timeout(within, shared).await.unwrap_or(false)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A server's URL as logs and `/health/ready` name it, without credentials
/// or parameters: `postgres://user:secret@host:5433/db?x` -> `host:5433/db`.
pub fn public_name(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        // A key/value string (`host=... password=...`): its host, port and
        // database alone.
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|pair| {
                ["host=", "port=", "dbname="]
                    .iter()
                    .any(|key| pair.starts_with(key))
            })
            .collect();
        return kept.join(" ");
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// Whether a refused connection says the server is full (SQLSTATE 53300,
/// "too many clients" or "remaining connection slots are reserved"; the
/// English text, which is what a connection sees before its settings).
fn is_full(said: &str) -> bool {
    said.contains("too many clients") || said.contains("connection slots are reserved")
}

/// When opening a connection last failed, and who waits to hear of it;
/// and the server's name and warnings (each server's own: a replica that
/// stays down must not hide the primary's outage).
#[derive(Debug, Default)]
struct ConnectFailures {
    last_ms: AtomicU64,
    notify: tokio::sync::Notify,
    server: String,
    warnings: crate::telemetry::Throttle,
}

impl ConnectFailures {
    fn recent(&self) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        last != 0 && now_ms().saturating_sub(last) < UNREACHABLE_MEMORY.as_millis() as u64
    }
}

/// bb8's report of a failed attempt to open a connection.
#[derive(Debug, Clone)]
struct FailureSink(Arc<ConnectFailures>);

impl bb8::ErrorSink<diesel_async::pooled_connection::PoolError> for FailureSink {
    fn sink(&self, error: diesel_async::pooled_connection::PoolError) {
        if let diesel_async::pooled_connection::PoolError::ConnectionError(cause) = error {
            if is_full(&cause.to_string()) {
                // It answered: every slot is taken (pools sized to its
                // limit). Not an outage: checkouts wait for a pooled
                // connection to come free, and readiness says up.
                tracing::debug!(error = %cause, server = %self.0.server, "PostgreSQL is full");
                return;
            }
            if let Some(unsaid) = self.0.warnings.allow() {
                tracing::warn!(error = %cause, server = %self.0.server, unsaid, "cannot open a PostgreSQL connection");
            }
            self.0.last_ms.store(now_ms(), Ordering::Relaxed);
            self.0.notify.notify_waiters();
        }
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<diesel_async::pooled_connection::PoolError>> {
        Box::new(self.clone())
    }
}
/// A connection borrowed from [`DbPool`].
pub type DbConn<'a> = bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>;

/// SQL functions the query builder needs by name.
#[diesel::expression::functions::declare_sql_function]
extern "SQL" {
    /// `lower(text)`: case-insensitive lookups use the same expression as
    /// the unique indexes on names and emails, so they can use those indexes.
    #[sql_name = "lower"]
    fn lower_text(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
    /// `set_config(name, value, is_local)`: a setting for the session or,
    /// local, for the transaction.
    fn set_config(
        name: diesel::sql_types::Text,
        value: diesel::sql_types::Text,
        is_local: diesel::sql_types::Bool,
    ) -> diesel::sql_types::Text;
}

/// Builds the pool. Connections are opened lazily, so this succeeds while
/// PostgreSQL is still starting; the readiness probe tells when it answers.
///
/// A connection that PostgreSQL closed (a restart, a crash, an idle kill)
/// must never be handed out: bb8 asks on every checkout, and the check here
/// is the client's own knowledge that its socket is closed, which costs no
/// round trip (a `SELECT 1` per checkout would cost one per request). A
/// connection that dies while in use shows it by its error; the pool drops
/// it when it comes back (`has_broken`), and reads retry once on a fresh
/// one (`AppState::read`). When PostgreSQL cannot be reached, a checkout
/// is not retried in the background until the connect timeout: the client
/// gets its 503 and `Retry-After` without waiting (see [`Database::get`]).
fn build_pool(
    url: &str,
    config: &Config,
    errors: Box<dyn bb8::ErrorSink<diesel_async::pooled_connection::PoolError>>,
) -> DbPool {
    let mut manager_config = ManagerConfig::default();
    manager_config.recycling_method =
        RecyclingMethod::CustomFunction(Box::new(|conn: &mut AsyncPgConnection| {
            // `is_broken`: diesel-async's own test that bb8 uses when a
            // connection is returned, reused here when one is checked out.
            use diesel_async::pooled_connection::PoolableConnection;
            let broken = conn.is_broken();
            Box::pin(async move {
                if broken {
                    Err(diesel::result::Error::BrokenTransactionManager)
                } else {
                    Ok(())
                }
            })
        }));
    // An attempt that hangs (a host that drops packets, a server that
    // accepts and never answers) fails at the connect timeout, so that it
    // reaches the error sink and ends the checkouts waiting on it (see
    // `Database::get`) instead of holding a slot of the pool for minutes.
    // Every wait for a lock ends at two thirds of the request timeout (an
    // error, a 503, nothing committed), before the request's own timeout:
    // a request answered 503 must not commit afterwards (a plain order is
    // one call that commits by itself, `orders::service`).
    let attempt_timeout = config.database_connect_timeout;
    let lock_timeout_ms = config.lock_timeout().as_millis().max(1);
    manager_config.custom_setup = Box::new(move |url| {
        use diesel_async::AsyncConnection;
        Box::pin(async move {
            let attempt = async {
                let mut conn = AsyncPgConnection::establish(url).await?;
                conn.batch_execute(&format!("SET lock_timeout = {lock_timeout_ms}"))
                    .await
                    .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))?;
                Ok(conn)
            };
            tokio::time::timeout(attempt_timeout, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(diesel::ConnectionError::BadConnection(format!(
                        "no connection within {attempt_timeout:?}"
                    )))
                })
        })
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
    bb8::Pool::builder()
        .max_size(config.database_pool_size)
        .connection_timeout(config.database_connect_timeout)
        .retry_connection(false)
        .error_sink(errors)
        .build_unchecked(manager)
}

/// Whether `error` says that the connection to PostgreSQL is gone (closed
/// by a restart or a crash, or unusable after a failed rollback), rather
/// than that the query was wrong.
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        )
        | Error::BrokenTransactionManager => true,
        // SQLSTATE class 57 (operator intervention): `57P01 terminating
        // connection due to administrator command` on a fast shutdown, and
        // its siblings; diesel keeps the message but not the code.
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.contains("the database system is shutting down")
                || message.contains("the database system is starting up")
        }
        _ => false,
    }
}
