//! How a hot write's transaction runs: its settings, and a commit that
//! returns once it is on disk.

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::set_config;

/// Settings of a checkout's (or a cancellation's) transaction, local to it:
///
/// - its commit does not wait for the disk: its row locks are released as
///   soon as its commit record is written, not after the flush (about 3 ms
///   on this machine's disk, which every buyer of a hot product would
///   otherwise wait through in turn). Whoever calls this must commit with
///   [`commit_and_wait_for_disk`] before acknowledging anything.
/// - its prepared statements run on their generic plan, planned once per
///   connection. With the default (`auto`), a statement that takes an
///   array (`id = ANY($1)`) is planned again at every execution: the
///   generic plan's guess of ten elements looks dearer than a custom plan
///   for the one line an order usually has, so PostgreSQL never settles on
///   it (`perf`: a quarter of PostgreSQL's time per order was planning).
///   The plans of checkout are index lookups, whatever the number of lines.
///
/// A prepared statement on a shared borrow, so that it can travel in the
/// same round trip as the transaction's next.
pub async fn hot_write_settings(mut conn: &AsyncPgConnection) -> QueryResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::select((
        set_config("synchronous_commit", "off", true),
        set_config("plan_cache_mode", "force_generic_plan", true),
    ))
    .get_result::<(String, String)>(&mut conn)
    .await
    .map(drop)
}

/// Commits the transaction `conn` is in (opened by diesel's transaction
/// manager) and returns once the commit is on disk, in one round trip: one
/// message of two statements, `COMMIT` and then a transaction that writes
/// to the WAL and commits synchronously (it says so itself), which flushes
/// the WAL up to its own commit record, past the first one. A transactional logical message is the smallest such
/// write (it touches no table and no lock). A bare `SELECT
/// pg_current_xact_id()` is not enough: a transaction that wrote nothing
/// but its commit record is not flushed (the crash test of `reliability`
/// lost an order answered 201 that way). Concurrent orders share these
/// flushes (group commit), none of them holding a row lock.
///
/// diesel's bookkeeping follows: the transaction is closed once both have
/// run. When they fail, or when this is cancelled half-way, the connection
/// still counts as inside a transaction or in error, and the pool drops it
/// instead of lending it again.
pub async fn commit_and_wait_for_disk(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    use diesel::connection::TransactionDepthChange;
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    // Only a transaction of one level, not in error: `COMMIT` would commit
    // whatever is open, savepoints and all. Anything else is left open,
    // for the pool to drop (closing it rolls it back).
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.map(std::num::NonZeroU32::get) != Some(1) {
        return Err(diesel::result::Error::NotInTransaction);
    }
    // The flush's transaction says `synchronous_commit = on` itself, so a
    // server or database default of `off` cannot skip the wait.
    let done = conn
        .batch_execute(
            "COMMIT; SELECT set_config('synchronous_commit', 'on', true), \
             pg_logical_emit_message(true, 'emporium', 'durable')",
        )
        .await;
    let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
    if let Err(error) = done {
        status.set_in_error();
        return Err(error);
    }
    match status
        .transaction_state()?
        .change_transaction_depth(TransactionDepthChange::DecreaseDepth)
    {
        // The connection may have seen the transaction end by itself.
        Ok(()) | Err(diesel::result::Error::NotInTransaction) => Ok(()),
        Err(error) => Err(error),
    }
}
