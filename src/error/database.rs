//! How PostgreSQL's errors read to a client: a named constraint a client
//! can trip becomes a 409 or a 422 naming the field (the migrations name
//! every such constraint); a lost connection or an unreachable server is a
//! 503, and so is a clash with other transactions (a serialization failure,
//! a deadlock, a lock held too long) or a statement the server itself
//! failed (cancelled, read-only, out of disk or memory): retry it; anything
//! else is our fault (500, the cause logged, never sent).

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::AppError;
use crate::telemetry::Throttle;

/// How a named constraint violation reads to a client.
enum ConstraintMeaning {
    Conflict(&'static str),
    Field(&'static str, &'static str),
}

/// The constraints the client can trip, by name (see the migrations).
fn constraint_meaning(name: &str) -> Option<ConstraintMeaning> {
    use ConstraintMeaning::*;
    Some(match name {
        "categories_category_name_key" => Conflict("a category with this name already exists"),
        "tags_tag_name_key" => Conflict("a tag with this name already exists"),
        "products_category_id_fkey" => Field("category_id", "no category has this id"),
        "product_tags_tag_id_fkey" => Field("tagIds", "names a tag that does not exist"),
        "products_price_non_negative" => Field("price", "must not be negative"),
        "products_stock_non_negative" => Field("stock", "must not be negative"),
        "products_product_name_length" => Field("product_name", "must be 1 to 255 characters"),
        "categories_category_name_length" => Field("category_name", "must be 1 to 255 characters"),
        "tags_tag_name_length" => Field("tag_name", "must be 1 to 255 characters"),
        // A product or SKU deleted between a cart line's read and its write.
        "cart_items_product_id_fkey" => Field("product_id", "no product has this id"),
        "cart_items_sku_id_fkey" => Field("sku_id", "no SKU has this id"),
        "users_email_key" => Conflict("an account with this email already exists"),
        "users_email_length" => Field("email", "must be at most 254 characters"),
        "users_name_length" => Field("name", "must be 1 to 255 characters"),
        _ => return None,
    })
}

/// Whether a statement gave up waiting for a lock (`lock_timeout`, set on
/// every pooled connection: `db`).
pub fn is_lock_timeout(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(_, info) if info.message().contains("lock timeout"))
}

/// Whether a value did not fit its `NUMERIC` column (an order's total at
/// prices raised since the request read them).
pub fn is_numeric_overflow(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(_, info) if info.message() == "numeric field overflow")
}

/// The 503 of a statement PostgreSQL failed for reasons of its own (the
/// connection was fine, and nothing the statement did is left behind).
const SERVERS_TROUBLE: &str = "the database could not run the request just now; retry it";

/// Whether PostgreSQL failed a statement for reasons of its own: a
/// statement cancelled (`statement_timeout`, an operator's
/// `pg_cancel_backend`), a disk or memory that ran out (the lock table's
/// shared memory too: `max_locks_per_transaction`; a parallel query's
/// shared memory segments; `temp_file_limit`), a disk that failed to read
/// or write, a page found broken. Matched at the message's start or end
/// only, where no quoted value of the request can stand. (In English:
/// `health::log_dependencies` warns at start when `lc_messages` says
/// otherwise.)
fn is_the_servers_trouble(message: &str) -> bool {
    const STARTS: [&str; 9] = [
        "canceling statement due to",
        "could not extend file",
        "temporary file size exceeds temp_file_limit",
        "could not resize shared memory segment",
        "could not read block",
        "could not write block",
        "could not read file",
        "could not write to file",
        "invalid page in block",
    ];
    STARTS.iter().any(|start| message.starts_with(start))
        || message.ends_with("No space left on device")
        || message.ends_with("Input/output error")
        || message == "out of memory"
        || message == "out of shared memory"
        || message == "too many dynamic shared memory segments"
}

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        if crate::db::is_connection_lost(&error) {
            static WARNINGS: Throttle = Throttle::new();
            if let Some(unsaid) = WARNINGS.allow() {
                tracing::warn!(error = %error, unsaid, "lost the PostgreSQL connection");
            }
            return Self::database_unavailable();
        }
        if let DieselError::DatabaseError(kind, info) = &error {
            let meaning = info.constraint_name().and_then(constraint_meaning);
            match (kind, meaning) {
                (_, Some(ConstraintMeaning::Conflict(detail))) => return Self::conflict(detail),
                (_, Some(ConstraintMeaning::Field(field, message))) => {
                    return Self::validation(field, message);
                }
                // A serialization failure, or PostgreSQL breaking a circle of
                // transactions waiting for each other by failing this one
                // (diesel has no kind for a deadlock).
                (kind, None)
                    if matches!(kind, DatabaseErrorKind::SerializationFailure)
                        || info.message().contains("deadlock detected") =>
                {
                    return Self::unavailable("the request clashed with another; retry it");
                }
                // A table's ids used up (an import can bring ids up to the
                // integer's limit): the request is fine, the catalog full.
                (_, None) if info.message().contains("reached maximum value of sequence") => {
                    return Self::conflict("no new id is left for this kind of record");
                }
                // `lock_timeout`, set on every pooled connection (`db`).
                (_, None) if is_lock_timeout(&error) => {
                    return Self::unavailable(
                        "what the request needs is held by others for too long; retry it",
                    );
                }
                // A server that takes no writes (a primary demoted by a
                // failover, a standby named as the primary).
                (DatabaseErrorKind::ReadOnlyTransaction, None) => {
                    static WARNINGS: Throttle = Throttle::new();
                    if let Some(unsaid) = WARNINGS.allow() {
                        tracing::warn!(error = %error, unsaid, "PostgreSQL refused a write: read-only");
                    }
                    return Self::unavailable(SERVERS_TROUBLE);
                }
                (_, None) if is_the_servers_trouble(info.message()) => {
                    static ERRORS: Throttle = Throttle::new();
                    if let Some(unsaid) = ERRORS.allow() {
                        tracing::error!(error = %error, unsaid, "PostgreSQL could not run a statement");
                    }
                    return Self::unavailable(SERVERS_TROUBLE);
                }
                _ => {}
            }
        }
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

impl From<crate::db::Unavailable> for AppError {
    fn from(error: crate::db::Unavailable) -> Self {
        static WARNINGS: Throttle = Throttle::new();
        if let Some(unsaid) = WARNINGS.allow() {
            tracing::warn!(error = %error, unsaid, "no PostgreSQL connection");
        }
        Self::database_unavailable()
    }
}
