//! Work a request starts that must run to its end even if the request is
//! dropped (a client gone, the request timeout): a commit and the cache
//! write after it. It runs in a task of its own, within the request's span
//! (its lines carry the request's id), and a failure that no answer will
//! tell anyone, because the request is gone by then, is logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Instrument;

use crate::error::AppResult;

/// Runs `work` to its end in a task of its own, and answers its outcome
/// while the request still waits for it.
pub async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = AppResult<T>> + Send + 'static,
) -> AppResult<T> {
    let waiting = Waiting(Arc::new(AtomicBool::new(true)));
    let still_waiting = waiting.0.clone();
    let task = tokio::spawn(
        async move {
            let outcome = work.await;
            if let Err(error) = &outcome
                && !still_waiting.load(Ordering::Acquire)
            {
                tracing::warn!(error = ?error, "work of a request that was gone failed; no answer told it");
            }
            outcome
        }
        .instrument(tracing::Span::current()),
    );
    let outcome = task.await.map_err(anyhow::Error::from)?;
    drop(waiting);
    outcome
}

/// Says, once dropped, that nobody waits for the task's outcome any more.
struct Waiting(Arc<AtomicBool>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
