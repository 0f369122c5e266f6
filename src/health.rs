//! Liveness and readiness probes.
//!
//! `/health/live` answers as long as the process serves HTTP. `/health/ready`
//! reports each dependency and answers 503 (with `Retry-After`) only when
//! PostgreSQL is down: with Redis down the service still serves reads (from
//! PostgreSQL). Both probes run at once and each gives up after
//! [`PROBE_TIMEOUT`] (PostgreSQL's, twice when it asks again on a
//! connection of its own), so the answer comes within a second whatever is
//! down (a PostgreSQL that does not answer must not hold the probe for the
//! pool's connect timeout).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::replicas::{self, ReplicaHealth};
use crate::state::AppState;

/// How long a probe waits for each dependency (they run concurrently).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependencyState {
    Up,
    Down,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (the sessions' Redis or the cache's down: reads
    /// go on, writes answer 503) or `unavailable` (PostgreSQL down).
    #[schema(example = "ready")]
    status: &'static str,
    postgres: DependencyState,
    redis: DependencyState,
    /// The cache's own Redis, when it has one (`CACHE_REDIS_URL`,
    /// `CACHE_REDIS_CLUSTER_NODES`); without it the service is degraded:
    /// reads come from PostgreSQL, and writes answer 503 (nothing could
    /// retire what they change).
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<DependencyState>,
    /// Each read replica (`DATABASE_REPLICA_URLS`), when there are any: `ok`,
    /// `behind` or `down`. The service is ready without them (reads then
    /// come from the primary).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replicas: Vec<ReplicaHealth>,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Alive", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// PostgreSQL and Redis, each up or down.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "PostgreSQL answers (Redis may not)", body = Readiness),
        (status = 503, description = "PostgreSQL is down", body = Readiness,
         headers(("Retry-After" = u64, description = "Seconds to wait before asking again"))),
    ))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (postgres, redis, cache, replicas) = tokio::join!(
        postgres_state(&state),
        redis_state(&state.redis),
        cache_state(&state),
        replica_states(&state)
    );
    // Either Redis down makes every write a 503 (sessions, or the cache's
    // retirement before the transaction); reads go on.
    let a_redis_down = redis == DependencyState::Down || cache == Some(DependencyState::Down);
    let (status_code, status) = match postgres {
        DependencyState::Down => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        DependencyState::Up if a_redis_down => (StatusCode::OK, "degraded"),
        DependencyState::Up => (StatusCode::OK, "ready"),
    };
    let readiness = Json(Readiness {
        status,
        postgres,
        redis,
        cache,
        replicas,
    });
    let mut response = (status_code, readiness).into_response();
    if status_code == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The cache's own Redis, when it has one (`CACHE_REDIS_URL` or
/// `CACHE_REDIS_CLUSTER_NODES`).
async fn cache_state(state: &AppState) -> Option<DependencyState> {
    state.config.cache_redis_variable()?;
    Some(redis_state(state.cache.redis()).await)
}

/// Says at start-up what is down and what that means, so that a wrong
/// `DATABASE_URL` or `REDIS_URL` is not discovered by the first client.
pub async fn log_dependencies(state: &AppState) {
    let (postgres, redis) = tokio::join!(postgres_state(state), redis_state(&state.redis));
    match postgres {
        DependencyState::Up => {
            tracing::info!("PostgreSQL answers (DATABASE_URL)");
            let _ = tokio::time::timeout(PROBE_TIMEOUT, check_message_language(state)).await;
        }
        DependencyState::Down => tracing::error!(
            "PostgreSQL does not answer (DATABASE_URL): every request that needs it answers 503 until it does"
        ),
    }
    match redis {
        DependencyState::Up => tracing::info!("Redis answers (REDIS_URL)"),
        DependencyState::Down => tracing::error!(
            "Redis does not answer (REDIS_URL): reads are served from PostgreSQL, but sign-in, carts, orders and every write answer 503 until it does"
        ),
    }
    let cache_variable = state.config.cache_redis_variable();
    match cache_variable {
        None => tracing::warn!(
            "the cache shares the sessions' Redis (REDIS_URL): a flood of distinct queries can fill it; set CACHE_REDIS_URL to a Redis of its own (docs/cache.md)"
        ),
        Some(variable) if redis_state(state.cache.redis()).await == DependencyState::Down => {
            tracing::warn!(
                "the cache's Redis does not answer ({variable}): reads are served from PostgreSQL, and every write answers 503 (nothing could retire what it changes), until it does"
            );
        }
        Some(variable) => tracing::info!("the cache's Redis answers ({variable})"),
    }
    check_eviction(&state.redis, "REDIS_URL", Holds::Sessions).await;
    if let Some(variable) = cache_variable {
        check_eviction(state.cache.redis(), variable, Holds::Cache).await;
    }
}

/// What a Redis holds, for the check of its eviction policy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    Sessions,
    Cache,
}

/// Warns when a Redis's memory settings can lose what must not be lost or
/// stop what must go on (see [`memory_advice`]).
async fn check_eviction(redis: &crate::redis::Redis, variable: &str, holds: Holds) {
    let setting = async |name: &str| {
        redis
            .query::<(String, String)>(redis::cmd("CONFIG").arg("GET").arg(name))
            .await
            .ok()
            .map(|(_, value)| value)
    };
    // CONFIG may be disabled (a managed Redis): then there is nothing to say.
    let (Some(policy), Some(maxmemory)) = (
        setting("maxmemory-policy").await,
        setting("maxmemory").await,
    ) else {
        return;
    };
    if let Some(advice) = memory_advice(holds, &policy, &maxmemory) {
        tracing::warn!(policy = %policy, maxmemory = %maxmemory, "{variable}: {advice}");
    }
}

/// What is wrong with a Redis's `maxmemory-policy` and `maxmemory` for what
/// it holds, if anything. Sessions must never be evicted. The cache's
/// versions (no TTL) must never be, while its documents (a TTL each) may
/// be; and it must evict: a full cache Redis that refuses writes fails the
/// bookkeeping of every write (a 503 each, until entries expire), and one
/// without a bound grows with every distinct query.
fn memory_advice(holds: Holds, policy: &str, maxmemory: &str) -> Option<&'static str> {
    match holds {
        Holds::Sessions if policy != "noeviction" => Some(
            "the sessions' Redis may evict keys under memory pressure: sessions could be lost; use maxmemory-policy noeviction",
        ),
        Holds::Sessions => None,
        Holds::Cache if policy.starts_with("allkeys") => Some(
            "the cache's Redis may evict the versions that keep entries fresh; use maxmemory-policy volatile-lru",
        ),
        Holds::Cache if !policy.starts_with("volatile") => Some(
            "the cache's Redis never evicts: once full, every write fails until entries expire; use maxmemory-policy volatile-lru",
        ),
        Holds::Cache if maxmemory == "0" => Some(
            "the cache's Redis has no maxmemory: it grows with every distinct query kept; set maxmemory (and volatile-lru)",
        ),
        Holds::Cache => None,
    }
}

/// Some of PostgreSQL's errors are told apart by their English text (a lock
/// timeout, a deadlock, a cancelled statement, a full disk:
/// `error::database`); in another language they would be 500s, not 503s.
/// Also warns when autovacuum is off ([`vacuum_advice`]).
async fn check_message_language(state: &AppState) {
    #[derive(diesel::QueryableByName)]
    struct Settings {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lc_messages: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        autovacuum: String,
    }
    let Ok(mut conn) = state.db.get().await else {
        return;
    };
    let Ok(settings) = diesel::sql_query(
        "SELECT current_setting('lc_messages') AS lc_messages, \
                current_setting('autovacuum') AS autovacuum",
    )
    .get_result::<Settings>(&mut *conn)
    .await
    else {
        return;
    };
    if let Some(advice) = vacuum_advice(&settings.autovacuum) {
        tracing::warn!(autovacuum = %settings.autovacuum, "{advice}");
    }
    let language = settings.lc_messages;
    let english = language.is_empty()
        || ["C", "POSIX"].contains(&language.split('.').next().unwrap_or_default())
        || language.starts_with("en");
    if !english {
        tracing::warn!(
            lc_messages = %language,
            "PostgreSQL's messages are not in English: lock timeouts, deadlocks, cancelled statements and a full disk will answer 500 instead of 503; set lc_messages = 'C' for this database (ALTER DATABASE ... SET lc_messages = 'C')"
        );
    }
}

/// What autovacuum being off costs, if it is: every order, cart change and
/// stock change leaves row versions that nothing then reclaims.
fn vacuum_advice(autovacuum: &str) -> Option<&'static str> {
    (autovacuum == "off").then_some(
        "PostgreSQL runs with autovacuum off: the row versions that orders, carts and stock changes leave are never reclaimed, and tables, indexes and plans drift; turn it on, or VACUUM (ANALYZE) products, skus, cart_items, orders, order_lines and idempotency_keys on a schedule",
    )
}

/// How the pool's probe went.
enum Probe {
    Answered,
    Failed,
    NoConnection,
}

async fn postgres_state(state: &AppState) -> DependencyState {
    let probe = async {
        let Ok(mut conn) = state.db.get().await else {
            return Probe::NoConnection;
        };
        match diesel::sql_query("SELECT 1").execute(&mut *conn).await {
            Ok(_) => Probe::Answered,
            Err(_) => Probe::Failed,
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Probe::Answered) => DependencyState::Up,
        // No pooled connection in time while no attempt to open one failed
        // lately: every pooled connection busy (a burst), or a PostgreSQL
        // that hangs. Asked on a connection of its own, one that answers
        // (or is full: it answered "too many clients") is up; one that
        // hangs is not.
        Err(_)
            if !state.db.unreachable_lately() && state.db.answers_directly(PROBE_TIMEOUT).await =>
        {
            DependencyState::Up
        }
        _ => DependencyState::Down,
    }
}

/// Each replica, measured against the primary's WAL position now.
async fn replica_states(state: &AppState) -> Vec<ReplicaHealth> {
    if state.replicas.is_empty() {
        return Vec::new();
    }
    let probe = async {
        let primary = match state.db.get().await {
            Ok(mut conn) => replicas::primary_position(&mut conn).await,
            Err(_) => None,
        };
        state.replicas.health(primary).await
    };
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .unwrap_or_default()
}

async fn redis_state(redis: &crate::redis::Redis) -> DependencyState {
    let ping = redis::cmd("PING");
    let probe = redis.query::<String>(&ping);
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => DependencyState::Up,
        _ => DependencyState::Down,
    }
}

#[cfg(test)]
mod tests {
    use super::{Holds, memory_advice, vacuum_advice};

    #[test]
    fn a_redis_is_told_what_its_memory_settings_put_at_risk() {
        assert_eq!(memory_advice(Holds::Sessions, "noeviction", "0"), None);
        assert!(memory_advice(Holds::Sessions, "volatile-lru", "1gb").is_some());
        assert_eq!(
            memory_advice(Holds::Cache, "volatile-lru", "268435456"),
            None
        );
        assert_eq!(
            memory_advice(Holds::Cache, "volatile-ttl", "268435456"),
            None
        );
        for (policy, maxmemory, says) in [
            ("allkeys-lru", "268435456", "versions"),
            ("noeviction", "268435456", "never evicts"),
            ("volatile-lru", "0", "no maxmemory"),
        ] {
            let advice = memory_advice(Holds::Cache, policy, maxmemory).unwrap();
            assert!(advice.contains(says), "{policy} {maxmemory}: {advice}");
        }
    }

    #[test]
    fn a_postgresql_without_autovacuum_is_told_what_it_costs() {
        assert_eq!(vacuum_advice("on"), None);
        assert!(vacuum_advice("off").unwrap().contains("VACUUM"));
    }
}
