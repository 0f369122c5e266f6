//! Transaction-level advisory locks, as prepared statements: diesel's
//! `sql_query` is parsed and planned on every call (`../shared/STACK-NOTES.md`),
//! and a cart change or an order with an `Idempotency-Key` takes one each.

use diesel::dsl::select;
use diesel::expression::functions::declare_sql_function;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[declare_sql_function]
extern "SQL" {
    // Both return `void`, which diesel has no type for: each is read as
    // `... IS NULL` (always false), a value that only says it returned.
    #[sql_name = "pg_advisory_xact_lock"]
    fn advisory_lock(key: BigInt) -> Nullable<Bool>;
    #[sql_name = "pg_advisory_xact_lock"]
    fn advisory_lock_in_class(class: Int4, key: Int4) -> Nullable<Bool>;
}

/// Waits for the advisory lock `key` and holds it until the transaction
/// ends.
pub async fn lock_until_commit(conn: &mut AsyncPgConnection, key: i64) -> QueryResult<()> {
    select(advisory_lock(key).is_null())
        .get_result::<bool>(conn)
        .await
        .map(|_| ())
}

/// Waits for the advisory lock `key` of `class` (PostgreSQL's two-key
/// form) and holds it until the transaction ends.
pub async fn lock_in_class_until_commit(
    conn: &mut AsyncPgConnection,
    class: i32,
    key: i32,
) -> QueryResult<()> {
    select(advisory_lock_in_class(class, key).is_null())
        .get_result::<bool>(conn)
        .await
        .map(|_| ())
}
