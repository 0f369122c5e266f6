//! Redis: one multiplexed connection, managed by the redis crate's
//! `ConnectionManager`, behind [`Redis`], which bounds every call by
//! `REDIS_TIMEOUT_MS` so that an outage costs a request milliseconds.
//!
//! Why not a bb8 pool (`bb8-redis`): its manager never reports a multiplexed
//! connection as broken, so after a Redis restart every pooled connection
//! stays dead until a PING on each checkout (a second round trip per cache
//! hit) finds out. The `ConnectionManager` reconnects by itself, and one
//! multiplexed connection pipelines every concurrent request, which is what
//! a pool of them would do anyway. `tests/api/cache.rs` restarts Redis under
//! a running app to hold this.

use std::time::Duration;

use redis::FromRedisValue;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;
use crate::error::AppError;

/// Why a Redis call gave nothing back.
#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
}

/// Sessions live in Redis: without it, nobody can be recognised.
impl From<RedisFailure> for AppError {
    fn from(failure: RedisFailure) -> Self {
        tracing::warn!(error = %failure, "Redis is unavailable");
        AppError::unavailable("the session store is unavailable; retry shortly")
    }
}

/// The connection and the timeout that bounds each call. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    timeout: Duration,
}

impl Redis {
    /// The Redis of sessions and rate limits (`REDIS_URL`).
    pub fn sessions(config: &Config) -> anyhow::Result<Self> {
        Self::connect(config.redis_url(), "REDIS_URL", config.redis_timeout)
    }

    /// The Redis of cached documents (`CACHE_REDIS_URL`, else `REDIS_URL`).
    pub fn cache(config: &Config) -> anyhow::Result<Self> {
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
            // Fail fast and let the next call try again: a request must not
            // wait out a reconnection back-off.
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, settings)
            .map_err(|error| anyhow::anyhow!("cannot set up the Redis connection: {error}"))?;
        Ok(Self {
            connection,
            timeout,
        })
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection.clone();
            Ok(command.query_async(&mut conn).await?)
        })
        .await
    }

    /// Runs a pipeline (a `MULTI` one when built with `.atomic()`).
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection.clone();
            Ok(pipeline.query_async(&mut conn).await?)
        })
        .await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use).
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection.clone();
            Ok(invocation.invoke_async(&mut conn).await?)
        })
        .await
    }

    /// Runs a Lua script and then `then`'s commands in one round trip (a
    /// pipeline; the script is loaded and the pipeline sent again the first
    /// time a server does not know it). Answers the script's reply.
    pub async fn script_then<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        then: &redis::Pipeline,
    ) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection.clone();
            let mut pipeline = redis::pipe();
            pipeline.invoke_script(invocation);
            for command in then.cmd_iter() {
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
                sent => Ok(sent?.0),
            }
        })
        .await
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisFailure>>,
    ) -> Result<T, RedisFailure> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(RedisFailure::Timeout(self.timeout)))
    }
}
