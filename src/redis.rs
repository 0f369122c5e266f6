//! Redis: a small bb8 pool of multiplexed connections, with short timeouts so
//! that an outage costs each request milliseconds, not bb8's default 30 s.

use bb8_redis::RedisConnectionManager;

use crate::config::Config;

/// The Redis pool.
pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// Builds the pool lazily: the service starts (and serves from PostgreSQL)
/// while Redis is down, and uses it once it answers.
pub fn build_pool(config: &Config) -> anyhow::Result<RedisPool> {
    let manager = RedisConnectionManager::new(config.redis_url())
        .map_err(|error| anyhow::anyhow!("REDIS_URL is invalid: {error}"))?;
    Ok(bb8::Pool::builder()
        .max_size(config.redis_pool_size)
        .connection_timeout(config.redis_timeout)
        // A PING on every checkout doubles the round trips of a cache hit;
        // a broken connection is noticed on its next command instead.
        .test_on_check_out(false)
        .build_unchecked(manager))
}
