//! Jobs every node runs in the background once an hour: forgetting expired
//! idempotency keys, cancelling orders left unpaid. The first round comes at
//! a random moment within the hour, so that nodes started together do not
//! all run it at once; a failed round is logged and the next one tries
//! again. Every job must be safe to run on several nodes at once.

use std::time::Duration;

use crate::error::AppError;
use crate::state::AppState;

/// How often each job runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Runs `job` every [`INTERVAL`] for as long as the server runs; `name`
/// names it in the log, beside the count it answers.
pub fn spawn_hourly<F, Fut>(state: AppState, name: &'static str, job: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, AppError>> + Send,
{
    let first = INTERVAL.mul_f64(f64::from(uuid::Uuid::new_v4().as_u128() as u16) / 65536.0);
    tokio::spawn(async move {
        let mut rounds = tokio::time::interval_at(tokio::time::Instant::now() + first, INTERVAL);
        loop {
            rounds.tick().await;
            match job(state.clone()).await {
                Ok(0) => tracing::debug!(job = name, count = 0, "janitor round"),
                Ok(count) => tracing::info!(job = name, count, "janitor round"),
                Err(error) => tracing::warn!(job = name, error = %error, "janitor round failed"),
            }
        }
    });
}
