//! For the cache's own tests: caches on the test Redis (`TEST_REDIS_URL`),
//! each under a prefix of its own.

use super::Cache;
use crate::config::Config;
use crate::redis::Redis;

/// A prefix no other test uses.
pub fn prefix() -> String {
    format!("test:{}:", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A cache under `prefix`, whose record of versions holds at most
/// `max_versions` namespaces.
pub fn cache(prefix: &str, max_versions: &str) -> Cache {
    let redis_url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let settings = [
        ("DATABASE_URL", "postgres://127.0.0.1/unused".to_owned()),
        ("REDIS_URL", redis_url),
        (
            "JWT_SECRET",
            "test-secret-that-is-long-enough-for-hs256".to_owned(),
        ),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("CACHE_MAX_VERSIONS", max_versions.to_owned()),
    ];
    let config = Config::from_source(&|name: &str| {
        settings
            .iter()
            .find(|(setting, _)| *setting == name)
            .map(|(_, value)| value.clone())
    })
    .expect("the test configuration is valid");
    Cache::new(&config, Redis::cache(&config).expect("a Redis client"))
}

/// Deletes every key under `prefix`: as if Redis lost its data, or to
/// clean up after a test.
pub async fn forget(cache: &Cache, prefix: &str) {
    let keys: Vec<String> = cache
        .redis()
        .query(redis::cmd("KEYS").arg(format!("{prefix}*")))
        .await
        .expect("Redis answers");
    if !keys.is_empty() {
        let _: i64 = cache
            .redis()
            .query(redis::cmd("DEL").arg(&keys))
            .await
            .expect("Redis answers");
    }
}
