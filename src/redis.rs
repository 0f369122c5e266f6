//! Redis: one multiplexed connection, managed by the redis crate's
//! `ConnectionManager`, behind [`Redis`], which bounds every call by
//! `REDIS_TIMEOUT_MS` so that an outage costs a request milliseconds. With
//! `REDIS_CLUSTER_NODES`, the same calls go to a Redis Cluster through the
//! crate's cluster connection (one multiplexed connection per node, slots
//! followed through `MOVED`/`ASK`); a pipeline or script must then touch
//! one hash slot, and [`Redis::each`] runs one-key commands that may live
//! in different slots.
//!
//! Why not a bb8 pool (`bb8-redis`): its manager never reports a multiplexed
//! connection as broken, so after a Redis restart every pooled connection
//! stays dead until a PING on each checkout (a second round trip per cache
//! hit) finds out. The `ConnectionManager` reconnects by itself, and one
//! multiplexed connection pipelines every concurrent request, which is what
//! a pool of them would do anyway. `tests/api/cache.rs` restarts Redis under
//! a running app to hold this.
//!
//! The manager learns that its connection died (a restarted Redis) only
//! when a call fails on it, and reconnects then: that call is sent once
//! more, on the new connection, within the same timeout, so the first
//! request after a restart is answered. A call whose connection dropped
//! may have run before it did, so a call is sent again only where running
//! it twice is safe ([`Resend`]): reads, writes that set what they set, a
//! rate limit's count or a cache admission's (one attempt counted twice
//! errs by one against the client), and a cache write's begin and finish
//! (each sets or takes away that write's own marker, whatever else is in
//! flight). Never sent again: a rate limit's refund (one guess too many)
//! and a session's end (its answer says whether the session was open). A
//! call that met a refused connection sent nothing, so on a single server
//! any call is sent again then: after an outage the manager hands the next
//! call the refusal it kept from while Redis was down, and that call must
//! not fail because of it ([`Redis::sends_again`]). (A cache write's finish
//! is also tried again after a pause when it fails, by
//! `CacheWrite::finish`.)

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;
use crate::error::AppError;
use crate::telemetry::Throttle;

/// Why a Redis call gave nothing back.
#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
    /// Another client's steps came in between (and undid this one's).
    #[error("{0}")]
    Raced(&'static str),
}

/// Sessions live in Redis: without it, nobody can be recognised.
impl From<RedisFailure> for AppError {
    fn from(failure: RedisFailure) -> Self {
        static WARNINGS: Throttle = Throttle::new();
        if let RedisFailure::Raced(_) = &failure {
            tracing::info!(error = %failure, "a session change met another in Redis");
            return AppError::unavailable(
                "another change to your sessions came in between; retry shortly",
            );
        }
        if let Some(unsaid) = WARNINGS.allow() {
            tracing::warn!(error = %failure, unsaid, "Redis is unavailable");
        }
        AppError::unavailable("the session store is unavailable; retry shortly")
    }
}

/// One server, or a cluster.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(cmd, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The connection and the timeout that bounds each call. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    connection: Connection,
    timeout: Duration,
}

impl Redis {
    /// The Redis of sessions and rate limits (`REDIS_CLUSTER_NODES`, else
    /// `REDIS_URL`).
    pub fn sessions(config: &Config) -> anyhow::Result<Self> {
        if config.redis_cluster_nodes.is_empty() {
            Self::connect(config.redis_url(), "REDIS_URL", config.redis_timeout)
        } else {
            let nodes = &config.redis_cluster_nodes;
            Self::cluster(nodes, "REDIS_CLUSTER_NODES", config.redis_timeout)
        }
    }

    /// A Redis Cluster, from its seed nodes; connected in the background, so
    /// that the service starts while the cluster does not answer yet.
    fn cluster(nodes: &[SecretString], variable: &str, timeout: Duration) -> anyhow::Result<Self> {
        let nodes: Vec<&str> = nodes.iter().map(ExposeSecret::expose_secret).collect();
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()
            .map_err(|error| anyhow::anyhow!("{variable} is invalid: {error}"))?;
        let settings = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Self {
            connection: Connection::Cluster(
                client.get_pending_async_connection_with_config(settings),
            ),
            timeout,
        })
    }

    /// Whether this is a Redis Cluster (pipelines and scripts must then
    /// stay within one hash slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    /// The Redis of cached documents (`CACHE_REDIS_CLUSTER_NODES`, else
    /// `CACHE_REDIS_URL`, else the sessions').
    pub fn cache(config: &Config) -> anyhow::Result<Self> {
        if !config.cache_redis_cluster_nodes.is_empty() {
            let nodes = &config.cache_redis_cluster_nodes;
            return Self::cluster(nodes, "CACHE_REDIS_CLUSTER_NODES", config.redis_timeout);
        }
        let variable = if config.cache_redis_url.is_some() {
            "CACHE_REDIS_URL"
        } else {
            "REDIS_URL"
        };
        Self::connect(config.cache_redis_url(), variable, config.redis_timeout)
    }

    /// Connects lazily: the service starts (and serves from PostgreSQL)
    /// while Redis is down, and uses it once it answers.
    fn connect(url: &str, variable: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|error| anyhow::anyhow!("{variable} is invalid: {error}"))?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // No retry inside a reconnection: a refused connect fails at
            // once, and the call that met it is sent once more on the
            // reconnection it started ([`Redis::bounded`]), so a request
            // never waits out a back-off while Redis is down, and the first
            // one after it is back is answered.
            .set_number_of_retries(0)
            .set_max_delay(timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, settings)
            .map_err(|error| anyhow::anyhow!("cannot set up the Redis connection: {error}"))?;
        Ok(Self {
            connection: Connection::Single(connection),
            timeout,
        })
    }

    /// Runs one command (sent again on a dropped connection: see [`Resend`]).
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, RedisFailure> {
        self.query_resent(Resend::OnADroppedConnection, command)
            .await
    }

    /// Runs one command that must not run twice.
    pub async fn query_once<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
        self.query_resent(Resend::Never, command).await
    }

    async fn query_resent<T: FromRedisValue>(
        &self,
        resend: Resend,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
        self.bounded(resend, |mut conn| async move {
            command.query_async(&mut conn).await
        })
        .await
    }

    /// Runs a pipeline (a `MULTI` one when built with `.atomic()`).
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisFailure> {
        self.bounded(Resend::OnADroppedConnection, |mut conn| async move {
            pipeline.query_async(&mut conn).await
        })
        .await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use; sent again on
    /// a dropped connection: see [`Resend`]).
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.script_resent(Resend::OnADroppedConnection, invocation)
            .await
    }

    /// Runs a Lua script that must not run twice.
    pub async fn script_once<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.script_resent(Resend::Never, invocation).await
    }

    async fn script_resent<T: FromRedisValue>(
        &self,
        resend: Resend,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.bounded(resend, |mut conn| async move {
            invocation.invoke_async(&mut conn).await
        })
        .await
    }

    /// On a cluster, waits (for at most half the Redis timeout) until a
    /// replica of `key`'s master holds what was written to it, so that a
    /// failover keeps it; answers whether one does. A single server has no
    /// replica to wait for.
    pub async fn replicated(&self, key: &str) -> Result<bool, RedisFailure> {
        if !self.is_cluster() {
            return Ok(true);
        }
        let wait_ms = u64::try_from(self.timeout.as_millis() / 2)
            .unwrap_or(1)
            .max(1);
        // The key routes the pipeline to its master; WAIT itself names none.
        let mut pipeline = redis::pipe();
        pipeline
            .exists(key)
            .ignore()
            .cmd("WAIT")
            .arg(1)
            .arg(wait_ms);
        let (acknowledged,): (i64,) = self.pipeline(&pipeline).await?;
        Ok(acknowledged >= 1)
    }

    /// Runs independent one-key commands, answering each one's reply: one
    /// pipeline on a single server; on a cluster, where their keys may live
    /// on different nodes, each on its own, all at once.
    pub async fn each<T: FromRedisValue>(&self, commands: &[Cmd]) -> Result<Vec<T>, RedisFailure> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        if self.is_cluster() {
            let calls = commands.iter().map(|command| self.query::<T>(command));
            return futures_util::future::try_join_all(calls).await;
        }
        let mut pipeline = redis::pipe();
        for command in commands {
            pipeline.add_command(command.clone());
        }
        self.pipeline(&pipeline).await
    }

    /// Runs a Lua script and then the one-key commands `then`, answering the
    /// script's reply: in one round trip on a single server (a pipeline; the
    /// script is loaded and the pipeline sent again the first time a server
    /// does not know it); on a cluster, the script, then the commands.
    pub async fn script_then<T: FromRedisValue>(
        &self,
        resend: Resend,
        invocation: &redis::ScriptInvocation<'_>,
        then: &[Cmd],
    ) -> Result<T, RedisFailure> {
        if self.is_cluster() {
            let reply = self.script_resent(resend, invocation).await?;
            self.each::<Value>(then).await?;
            return Ok(reply);
        }
        self.bounded(resend, |mut conn| async move {
            let mut pipeline = redis::pipe();
            pipeline.invoke_script(invocation);
            for command in then {
                pipeline.add_command(command.clone()).ignore();
            }
            let sent: redis::RedisResult<(T,)> = pipeline.query_async(&mut conn).await;
            match sent {
                Err(error)
                    if error.kind()
                        == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    invocation.load_async(&mut conn).await?;
                    let (reply,) = pipeline.query_async(&mut conn).await?;
                    Ok(reply)
                }
                sent => sent.map(|(reply,)| reply),
            }
        })
        .await
    }

    /// Runs `call` on a handle of the shared connection, for at most the
    /// Redis timeout; once more on the connection the manager makes anew
    /// when the first found it dropped, if `resend` allows.
    async fn bounded<T, Call>(
        &self,
        resend: Resend,
        call: impl Fn(Connection) -> Call,
    ) -> Result<T, RedisFailure>
    where
        Call: Future<Output = redis::RedisResult<T>>,
    {
        let calls = async {
            match call(self.connection.clone()).await {
                Err(error) if self.sends_again(resend, &error) => {
                    call(self.connection.clone()).await
                }
                done => done,
            }
        };
        match tokio::time::timeout(self.timeout, calls).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(RedisFailure::Timeout(self.timeout)),
        }
    }
}

/// Whether a call that found its connection dropped is sent again on the
/// new one (the module's notes say which calls may be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    OnADroppedConnection,
    Never,
}

impl Redis {
    /// Whether a call that failed with `error` goes once more: a call that
    /// may run twice, after any failure of its connection but a timeout (a
    /// dropped connection, a refused or unreachable one, a name that did
    /// not resolve while Redis was away); any call, on a single server,
    /// after a refused connection (it sent nothing: the manager kept the
    /// refusal from while Redis was down, or Redis is down still and the
    /// second try fails as fast). A cluster's client sends again on its
    /// own, and its refusal may follow a call that ran.
    fn sends_again(&self, resend: Resend, error: &redis::RedisError) -> bool {
        let idempotent = resend == Resend::OnADroppedConnection;
        (idempotent && error.is_io_error() && !error.is_timeout())
            || (!self.is_cluster() && error.is_connection_refusal())
    }
}
