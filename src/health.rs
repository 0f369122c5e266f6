//! Liveness and readiness probes.
//!
//! `/health/live` answers as long as the process serves HTTP. `/health/ready`
//! reports each dependency and answers 503 only when PostgreSQL is down: with
//! Redis down the service still serves reads (from PostgreSQL).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// How long a probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// `ready`, `degraded` (Redis down) or `unavailable` (PostgreSQL down).
    #[schema(example = "ready")]
    status: &'static str,
    postgres: DependencyState,
    redis: DependencyState,
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
        (status = 503, description = "PostgreSQL is down", body = Readiness),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (postgres, redis) = tokio::join!(postgres_state(&state), redis_state(&state));
    let (status_code, status) = match (postgres, redis) {
        (DependencyState::Down, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (DependencyState::Up, DependencyState::Down) => (StatusCode::OK, "degraded"),
        (DependencyState::Up, DependencyState::Up) => (StatusCode::OK, "ready"),
    };
    (
        status_code,
        Json(Readiness {
            status,
            postgres,
            redis,
        }),
    )
}

async fn postgres_state(state: &AppState) -> DependencyState {
    let probe = async {
        let mut conn = state.db.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).await.ok()
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Some(_)) => DependencyState::Up,
        _ => DependencyState::Down,
    }
}

async fn redis_state(state: &AppState) -> DependencyState {
    match state.redis.query::<String>(&redis::cmd("PING")).await {
        Ok(_) => DependencyState::Up,
        Err(_) => DependencyState::Down,
    }
}
