//! An order's transaction whose end runs to completion: committed (and
//! flushed) or rolled back in a task of its own, with the cache writes it
//! began finished after it, whatever becomes of the request.

use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use crate::background;
use crate::cache::CacheWrite;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Runs `work` in a transaction on a pooled connection, commits and waits
/// for the disk in one round trip (`work` lets the commit itself skip the
/// wait: see [`db::hot_write_settings`]), and finishes every cache write `work`
/// began, after the commit or the rollback, whatever happened: the first
/// failure is the answer.
///
/// The transaction's end and the writes' finish run in a task of their own:
/// a request dropped once its `COMMIT` is on its way (a client gone, the
/// request timeout) would otherwise finish the writes at the drop, before
/// the commit lands, and a reader could store what it read in between. A
/// request dropped before that rolls back, as before (its connection,
/// still in its transaction, is not taken back by the pool).
///
/// `committed` is told what committed, in that task (counted even when
/// nobody waits for the answer any more).
pub(super) async fn durably<T: Send + 'static>(
    state: &AppState,
    work: impl for<'c> WriteWork<'c, T> + Send,
    committed: impl FnOnce(&T) + Send + 'static,
) -> AppResult<T> {
    let mut writes = Vec::new();
    let mut conn = state.conn().await?;
    AnsiTransactionManager::begin_transaction(&mut *conn).await?;
    let worked = work(&mut conn, &mut writes).await;
    background::to_the_end(async move {
        let outcome = match worked {
            Ok(value) => db::commit_and_wait_for_disk(&mut conn)
                .await
                .map(|()| {
                    committed(&value);
                    value
                })
                .map_err(AppError::from),
            // As diesel's own `transaction` does: a failed rollback leaves
            // the connection marked broken (the pool drops it), and its
            // error is the answer unless the manager was broken already.
            Err(error) => match AnsiTransactionManager::rollback_transaction(&mut *conn).await {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback) => Err(rollback.into()),
            },
        };
        drop(conn);
        let mut finished = Ok(());
        for write in writes {
            let result = write.finish_after_to_the_end(&outcome).await;
            if finished.is_ok() {
                finished = result;
            }
        }
        let value = outcome?;
        finished?;
        Ok(value)
    })
    .await
}

/// What [`durably`] runs: a transaction's work on `conn`, which pushes the
/// cache writes it begins onto `writes`. A trait so that its future can be
/// required to be `Send` (see [`crate::state::DbWork`]).
pub(super) trait WriteWork<'c, T>:
    FnOnce(&'c mut AsyncPgConnection, &'c mut Vec<CacheWrite>) -> <Self as WriteWork<'c, T>>::Fut
{
    type Fut: Future<Output = AppResult<T>> + Send;
}

impl<'c, T, F, Fut> WriteWork<'c, T> for F
where
    F: FnOnce(&'c mut AsyncPgConnection, &'c mut Vec<CacheWrite>) -> Fut,
    Fut: Future<Output = AppResult<T>> + Send,
{
    type Fut = Fut;
}
