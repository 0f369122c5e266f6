//! Redis: a small bb8 pool of multiplexed connections behind [`Redis`], which
//! bounds every call by `REDIS_TIMEOUT_MS` so that an outage costs a request
//! milliseconds, not bb8's default 30 s or a hung socket's forever.

use std::time::Duration;

use bb8_redis::RedisConnectionManager;
use redis::FromRedisValue;

use crate::config::Config;
use crate::error::AppError;

/// The Redis pool.
pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// Why a Redis call gave nothing back.
#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    #[error("no Redis connection: {0}")]
    Connection(String),
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

/// The pool and the timeout that bounds each call.
#[derive(Clone)]
pub struct Redis {
    pool: RedisPool,
    timeout: Duration,
}

impl Redis {
    /// Builds the pool lazily: the service starts (and serves from PostgreSQL)
    /// while Redis is down, and uses it once it answers.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let manager = RedisConnectionManager::new(config.redis_url())
            .map_err(|error| anyhow::anyhow!("REDIS_URL is invalid: {error}"))?;
        let pool = bb8::Pool::builder()
            .max_size(config.redis_pool_size)
            .connection_timeout(config.redis_timeout)
            // A PING on every checkout doubles the round trips of a cache hit;
            // a broken connection is noticed on its next command instead.
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            timeout: config.redis_timeout,
        })
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            Ok(command.query_async(&mut *conn).await?)
        })
        .await
    }

    /// Runs a pipeline (a `MULTI` one when built with `.atomic()`).
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            Ok(pipeline.query_async(&mut *conn).await?)
        })
        .await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use).
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            Ok(invocation.invoke_async(&mut *conn).await?)
        })
        .await
    }

    async fn connection(
        &self,
    ) -> Result<bb8::PooledConnection<'_, RedisConnectionManager>, RedisFailure> {
        self.pool
            .get()
            .await
            .map_err(|error| RedisFailure::Connection(error.to_string()))
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
