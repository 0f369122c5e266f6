//! The state every handler can reach, cloned cheaply per request.

use std::sync::Arc;

use crate::cache::{Cache, CacheKey};
use crate::config::Config;
use crate::db::{Database, DbConn};
use crate::deep_pages::DeepPages;
use crate::error::{AppError, AppResult};
use crate::hashing::Hasher;
use crate::jwt::TokenKeys;
use crate::redis::Redis;
use crate::replicas::{Lsn, Replicas};
use crate::response::{Document, Framing};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection, AsyncPgConnection};

/// Configuration and pools, behind one `Arc`: axum clones the state for
/// every request (each handler and middleware that takes it), and one
/// reference count is cheaper to bump and drop than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// What [`AppState`] holds; its fields are reached through `state.field`.
pub struct Parts {
    pub config: Config,
    pub db: Database,
    pub redis: Redis,
    pub tokens: TokenKeys,
    pub cache: Cache,
    /// Streaming replicas for cacheable reads (often none).
    pub replicas: Replicas,
    pub hasher: Hasher,
    /// The few slots of reads that skip many rows (`OFFSET`).
    pub deep_pages: DeepPages,
}

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl AppState {
    /// Builds the pools from `config`; no connection is opened yet.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let redis = Redis::sessions(&config)?;
        let cache_redis = if config.cache_redis_variable().is_some() {
            Redis::cache(&config)?
        } else {
            redis.clone()
        };
        let db = Database::new(&config);
        let replicas = Replicas::new(&config);
        let cache = Cache::new(&config, cache_redis);
        let cache = if replicas.is_empty() {
            cache.knowing_the_primary(db.clone())
        } else {
            cache.recording_wal_positions(db.clone())
        };
        Ok(Self(Arc::new(Parts {
            db,
            cache,
            replicas,
            redis,
            tokens: TokenKeys::new(&config.jwt_secret),
            hasher: Hasher::new(config.password_hash_slots, config.password_hash_wait),
            deep_pages: DeepPages::new(&config),
            config,
        })))
    }

    /// Borrows a PostgreSQL connection, or answers 503 when none can be had.
    pub async fn conn(&self) -> Result<DbConn<'static>, AppError> {
        Ok(self.db.get().await?)
    }

    /// Runs a read on a pooled connection. If the connection turns out to
    /// be dead (PostgreSQL restarted since it was opened), the read runs
    /// once more on a fresh one; if that fails too, the answer is a 503.
    /// Only for work that changes nothing: a write whose connection died may
    /// or may not have committed, and is answered 503 for the client to retry.
    pub async fn read<T>(&self, work: impl for<'c> DbWork<'c, T>) -> AppResult<T> {
        let mut conn = self.conn().await?;
        match work(&mut conn).await {
            Err(error) if error.is_database_unavailable() || conn.is_broken() => {
                drop(conn);
                tracing::info!("retrying a read on a fresh PostgreSQL connection");
                let mut conn = self.conn().await?;
                work(&mut conn).await
            }
            done => done,
        }
    }

    /// A read that only adds to an answer already decided (the unknown ids
    /// named in a 422 beside the fields that made it one): skipped while
    /// PostgreSQL is known to be away, given at most [`AppState::BRIEF_READ`],
    /// and `None` when it could not be done, so that the 422 never waits on
    /// the database nor turns into a 503.
    pub async fn read_briefly<T>(&self, work: impl for<'c> DbWork<'c, T>) -> Option<T> {
        if self.db.unreachable_lately() {
            return None;
        }
        match tokio::time::timeout(Self::BRIEF_READ, self.read(work)).await {
            Ok(Ok(value)) => Some(value),
            _ => None,
        }
    }

    /// How long [`AppState::read_briefly`] may take.
    pub const BRIEF_READ: std::time::Duration = std::time::Duration::from_millis(250);

    /// Runs `work` in a transaction on a pooled connection: committed when
    /// it returns `Ok`, rolled back otherwise.
    pub async fn transaction<T: Send>(
        &self,
        work: impl for<'c> DbWork<'c, T> + Send,
    ) -> AppResult<T> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, AppError, _>(async move |conn| work(conn).await)
            .await
    }

    /// Runs a read on a replica that has replayed `at`, if one has (see
    /// `crate::replicas`), else on the primary ([`AppState::read`]). A read
    /// that fails on a replica runs again on the primary.
    pub async fn read_replayed<T>(
        &self,
        at: Option<Lsn>,
        work: impl for<'c> DbWork<'c, T>,
    ) -> AppResult<T> {
        if let Some(at) = at
            && let Some(mut conn) = self.replicas.at_least(at).await
        {
            match work(&mut conn).await {
                // What failed on the replica as a server fails (a lost
                // connection, a query cancelled by a conflict with
                // recovery) is read again on the primary, which answers
                // for itself. Any other answer (a 404: the replica has
                // replayed every acknowledged write) is the answer.
                Err(error) if error.status().is_server_error() => {
                    self.replicas.fell_back();
                    tracing::info!(error = %error, "a replica failed a read: reading the primary");
                }
                done => {
                    self.replicas.answered();
                    return done;
                }
            }
        }
        self.read(work).await
    }

    /// Answers `key` through the cache, loading the document with `load`
    /// (on a current replica when the key allows it, else the primary)
    /// when Redis has no current copy.
    pub async fn cached(
        &self,
        key: &CacheKey,
        framing: Framing,
        load: impl for<'c> DbWork<'c, Document>,
    ) -> AppResult<axum::response::Response> {
        self.cache
            .respond(key, framing, |at| self.read_replayed(at, load))
            .await
    }
}

/// Work on a connection, as an async closure (`async |conn| ...`) that can
/// run more than once (a read retried, a transaction). The future it returns is named so that it can be
/// required to be `Send` (axum's handlers must be), which a bare
/// `AsyncFn` bound cannot yet express; diesel-async's `transaction` uses the
/// same device.
pub trait DbWork<'c, T>: Fn(&'c mut AsyncPgConnection) -> <Self as DbWork<'c, T>>::Fut {
    type Fut: Future<Output = AppResult<T>> + Send;
}

impl<'c, T, F, Fut> DbWork<'c, T> for F
where
    F: Fn(&'c mut AsyncPgConnection) -> Fut,
    Fut: Future<Output = AppResult<T>> + Send,
{
    type Fut = Fut;
}
