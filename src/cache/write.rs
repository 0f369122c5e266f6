//! The write side: a write moves the versions of the namespaces it touches
//! and sets its marker among their writers in flight before its transaction,
//! and moves them again and takes its marker away after the commit (or
//! rollback), in a task that runs
//! to the end even if the request is dropped then; a write dropped before
//! it finishes, or whose commit's fate is unknown (PostgreSQL lost on the
//! way), finishes later, once the commit surely landed. Exact keys (a product's
//! documents, a cart) are also deleted outright, so that `redis-cli` shows
//! them gone.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use super::plan::Plan;
use super::{Cache, Retirement, fresh_epoch};
use crate::db::Database;
use crate::error::{AppError, AppResult};
use crate::redis::Redis;
use crate::replicas::{self, Lsn};
use futures_util::FutureExt;
use tracing::Instrument;

impl Cache {
    /// Retires what `retired` covers before a write; the write must then
    /// call [`CacheWrite::finish`] after its commit or rollback. Without
    /// Redis the write must not happen (503): nothing could retire its
    /// entries, and they would be served stale when Redis came back.
    pub async fn begin_write(&self, retired: Retirement) -> AppResult<CacheWrite> {
        self.begin_write_for(retired, self.pending_ttl).await
    }

    /// [`Cache::begin_write`] for a writer that may run longer than a request
    /// (the command-line seed and importer).
    pub async fn begin_write_for(
        &self,
        retired: Retirement,
        pending_ttl: Duration,
    ) -> AppResult<CacheWrite> {
        let mut write = CacheWrite {
            redis: self.redis.clone(),
            wal: self.primary.clone().filter(|_| self.reads_replicas),
            plan: Arc::new(Plan {
                bookkeeping: self.bookkeeping.clone(),
                id: fresh_epoch(),
                writers: retired
                    .namespaces
                    .iter()
                    .map(|namespace| self.writers_key(namespace.name()))
                    .collect(),
                namespaces: retired
                    .namespaces
                    .iter()
                    .map(|namespace| namespace.name().to_owned())
                    .collect(),
                exact_keys: retired
                    .keys
                    .iter()
                    .map(|key| format!("{}{key}", self.prefix))
                    .collect(),
                pending_ttl,
                max_versions: self.limits.max_versions,
                begun: std::sync::OnceLock::new(),
            }),
            done: false,
        };
        match write.plan.begin(&write.redis).await {
            Ok(positions_recorded) => {
                // Another node reads replicas: this write's position counts too.
                if positions_recorded && write.wal.is_none() {
                    write.wal = self.primary.clone();
                }
                Ok(write)
            }
            Err(failure) => {
                // Some of it may have been applied (a timeout after the
                // script ran): finishing it in the background is safe, since
                // nothing was written.
                write.finish_in_background();
                tracing::warn!(error = %failure, "write refused: the cache cannot be retired");
                Err(AppError::unavailable(
                    "the cache cannot be updated right now; retry shortly",
                ))
            }
        }
    }

    /// Runs `work` (a transaction) between [`Cache::begin_write`] and
    /// [`CacheWrite::finish`].
    pub async fn write<T>(
        &self,
        retired: Retirement,
        work: impl Future<Output = AppResult<T>>,
    ) -> AppResult<T> {
        let write = self.begin_write(retired).await?;
        let result = work.await;
        let finished = write.finish_after(&result).await;
        let value = result?;
        finished?;
        Ok(value)
    }
}

/// A write in progress: finish it after the transaction.
pub struct CacheWrite {
    redis: Redis,
    /// The primary, to learn the WAL position after the commit (when this
    /// node reads replicas, or another does): then a write whose position
    /// went unrecorded is not acknowledged.
    wal: Option<Database>,
    plan: Arc<Plan>,
    done: bool,
}

impl CacheWrite {
    /// Retires the entries again and takes the write's marker away (tried
    /// three times). Runs in a task of its own, so it completes even if the
    /// request is dropped meanwhile. A failure is logged, not returned: the
    /// entries were retired before the commit, and the marker keeps readers
    /// from storing until it lapses. With read replicas it is
    /// returned (503): the write's WAL position went unrecorded, so a
    /// replica read could still show what it changed, and the write must
    /// not be acknowledged as if it could not.
    pub async fn finish(self) -> AppResult<()> {
        let replicas_read = self.wal.is_some();
        let task = tokio::spawn(self.finish_here().instrument(tracing::Span::current()));
        task.await
            .unwrap_or_else(|_| acknowledged(false, replicas_read))
    }

    /// [`CacheWrite::finish`] in the task that calls it, for a task that
    /// runs to its end whatever becomes of the request
    /// ([`crate::background::to_the_end`]): no second task is needed.
    async fn finish_here(mut self) -> AppResult<()> {
        self.done = true;
        let replicas_read = self.wal.is_some();
        let (redis, plan, wal) = (self.redis.clone(), self.plan.clone(), self.wal.clone());
        // A panic reads as not recorded, as it does in a task of its own:
        // in the task that also ran an order's commit, it must not turn
        // the committed order's answer into a 500 (a client would retry).
        let recorded = AssertUnwindSafe(finish_write(redis, plan, wal))
            .catch_unwind()
            .await
            .unwrap_or(false);
        acknowledged(recorded, replicas_read)
    }
}

/// A write's finish, tried three times: whether it was recorded.
async fn finish_write(redis: Redis, plan: Arc<Plan>, wal: Option<Database>) -> bool {
    let position = wal_position(wal.as_ref()).await;
    let mut outcome = plan.finish(&redis, position).await;
    for pause_ms in [50, 150] {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        outcome = plan.finish(&redis, position).await;
    }
    if let Err(failure) = &outcome {
        tracing::warn!(error = %failure, "cache entries not retired after a write; readers skip the cache until the write's marker lapses");
    }
    outcome.is_ok()
}

/// A finish's answer: a failure is told only when replicas are read (the
/// write's WAL position went unrecorded).
fn acknowledged(recorded: bool, replicas_read: bool) -> AppResult<()> {
    if recorded || !replicas_read {
        Ok(())
    } else {
        Err(AppError::unavailable(
            "the change is saved, but the cache could not record it: read what it changed before \
             sending it again (sent again, a cart add or an order without an Idempotency-Key \
             would be made twice)",
        ))
    }
}

impl CacheWrite {
    /// [`CacheWrite::finish`] once the write's outcome is known: at once
    /// after a commit or a rollback; after a grace period when PostgreSQL
    /// was lost on the way (the commit may have happened, or may still
    /// land), as for a dropped write.
    pub fn finish_after<T>(
        self,
        outcome: &AppResult<T>,
    ) -> impl Future<Output = AppResult<()>> + Send + use<T> {
        self.finish_after_in(outcome, false)
    }

    /// [`CacheWrite::finish_after`] for a task that runs to its end
    /// whatever becomes of the request ([`crate::background::to_the_end`]):
    /// the finish runs in that task, not in one of its own.
    pub fn finish_after_to_the_end<T>(
        self,
        outcome: &AppResult<T>,
    ) -> impl Future<Output = AppResult<()>> + Send + use<T> {
        self.finish_after_in(outcome, true)
    }

    fn finish_after_in<T>(
        self,
        outcome: &AppResult<T>,
        runs_to_the_end: bool,
    ) -> impl Future<Output = AppResult<()>> + Send + use<T> {
        let unknown = matches!(outcome, Err(error) if error.is_database_unavailable());
        async move {
            if unknown {
                self.finish_later();
                Ok(())
            } else if runs_to_the_end {
                self.finish_here().await
            } else {
                self.finish().await
            }
        }
    }

    /// Finishes a write that changed nothing (its begin failed half-way),
    /// in the background.
    fn finish_in_background(mut self) {
        self.done = true;
        let (redis, plan) = (self.redis.clone(), self.plan.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(
                async move {
                    if let Err(failure) = plan.finish_unchanged(&redis).await {
                        tracing::warn!(error = %failure, "a refused write's marker is left to lapse");
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
    }

    /// Finishes a write whose commit may still land, once it surely has
    /// (after [`CacheWrite::grace`]). Meanwhile the marker keeps readers
    /// from storing; and should it be evicted, the finish still retires
    /// whatever was stored before it.
    fn finish_later(mut self) {
        self.done = true;
        self.spawn_finish(self.grace());
    }

    /// Leaves the write's marker to lapse on its own, for a process that
    /// will not outlive the grace period (the command-line writers) after a
    /// commit whose outcome is unknown: readers store nothing it touched
    /// until then, and the begin retired what was stored before.
    pub fn leave_to_lapse(mut self) {
        self.done = true;
        tracing::warn!(
            namespaces = ?self.plan.namespaces,
            ttl = ?self.plan.pending_ttl,
            "a write whose commit may still land is left to lapse: what it touched is not cached until then"
        );
    }

    /// How long a commit on its way may still take to land: half the
    /// in-flight marker's life, longer than any request runs.
    fn grace(&self) -> Duration {
        self.plan.pending_ttl / 2
    }

    fn spawn_finish(&self, after: Duration) {
        let (redis, plan, wal) = (self.redis.clone(), self.plan.clone(), self.wal.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(
                async move {
                    tokio::time::sleep(after).await;
                    let position = wal_position(wal.as_ref()).await;
                    if let Err(failure) = plan.finish(&redis, position).await {
                        // With replicas, its WAL position went unrecorded too.
                        tracing::warn!(error = %failure, "a late write's cache entries not retired; its marker is left to lapse");
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
    }
}

impl Drop for CacheWrite {
    fn drop(&mut self) {
        if !self.done {
            // Dropped between begin and finish: its request was dropped (a
            // client gone, the request timeout), maybe while its COMMIT was
            // on its way, to land later still. Finishing now would let a
            // reader store what it read before that commit and serve it
            // after; it finishes later instead (`finish_later`), and what it
            // touched is answered from PostgreSQL meanwhile. (Orders end
            // their transactions in a task of their own, so theirs finish
            // after the commit.)
            tracing::info!(
                namespaces = ?self.plan.namespaces,
                "a write was dropped unfinished: its namespaces are not cached until it finishes later"
            );
            self.spawn_finish(self.grace());
        }
    }
}

/// The primary's WAL position now, past the write's commit; with no
/// replicas, none is needed. When the primary cannot say (it went away
/// just after the commit), none either: the finish then stops replica
/// reads until a write begun after it records a position (`FINISH_WRITE`).
async fn wal_position(primary: Option<&Database>) -> Option<Lsn> {
    let primary = primary?;
    for _ in 0..3 {
        if let Ok(mut conn) = primary.get().await
            && let Some(lsn) = replicas::primary_position(&mut conn).await
        {
            return Some(lsn);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(
        "the WAL position of a write is unknown: catalog reads go to the primary until a later write records one"
    );
    None
}

#[cfg(test)]
mod tests;
