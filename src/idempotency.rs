//! `Idempotency-Key` (the IETF draft): one place for the header's name and
//! rules, and the stored first answer that a retry gets back.
//!
//! A write that takes a key calls [`replay_or_lock`] first, inside its own
//! transaction: it takes an advisory lock on (user, key), so a retry that
//! arrives while the first request is still running waits for it, and then
//! finds the first answer. The same key with another request (another
//! digest) is a 422. Once the write has its answer it calls [`remember`] in
//! the same transaction, so an answer is stored if and only if the write
//! committed. Keys are kept for [`KEPT_HOURS`]; the server forgets the
//! expired ones every hour ([`crate::janitor`]).

use axum::extract::OptionalFromRequestParts;
use axum::http::HeaderName;
use axum::http::request::Parts;
use diesel::dsl::{IntervalDsl, now};
use diesel::prelude::*;
use diesel::sql_types::Int4;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::AppError;
use crate::schema::idempotency_keys;

/// The header.
pub static HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The header that marks a replayed answer.
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;
/// How long a key's first answer is kept.
pub const KEPT_HOURS: i32 = 24;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The header is optional; when present it must be well formed (400).
impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, AppError> {
        let Some(value) = parts.headers.get(&HEADER) else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .filter(|key| {
                !key.is_empty()
                    && key.len() <= MAX_KEY_CHARS
                    && key.bytes().all(|byte| byte.is_ascii_graphic())
            })
            .map(|key| Some(Self(key.to_owned())))
            .ok_or_else(|| {
                AppError::BadRequest(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
                )
            })
    }
}

/// Waits for any other request with this key to finish (a transaction
/// lock), then gives back the first answer when there is one for the same
/// request (`digest`), or refuses a reuse of the key for another request.
pub async fn replay_or_lock(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &IdempotencyKey,
    digest: &str,
) -> Result<Option<String>, AppError> {
    let lock = xxhash_rust::xxh3::xxh3_64(format!("{user_id}:{}", key.0).as_bytes());
    let waited = crate::db::locks::lock_until_commit(conn, lock as i64).await;
    match waited {
        // The first request with this key is still being answered, for
        // longer than this one can wait: a 409, and it may be retried.
        Err(error) if crate::error::is_lock_timeout(&error) => {
            return Err(AppError::conflict(
                "a request with this Idempotency-Key is still being answered; retry it",
            ));
        }
        waited => waited?,
    };
    // Expired keys are forgotten first, so that they can be used afresh.
    diesel::delete(
        idempotency_keys::table.find((user_id, &key.0)).filter(
            idempotency_keys::created_at
                .lt(now.into_sql::<diesel::sql_types::Timestamptz>() - KEPT_HOURS.hours()),
        ),
    )
    .execute(conn)
    .await?;
    let stored: Option<(String, String)> = idempotency_keys::table
        .find((user_id, &key.0))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await
        .optional()?;
    match stored {
        None => Ok(None),
        Some((stored_digest, body)) if stored_digest == digest => Ok(Some(body)),
        Some(_) => Err(AppError::validation(
            "Idempotency-Key",
            "this key was used with another request",
        )),
    }
}

/// Keeps the first answer to (user, key), in the write's transaction.
pub async fn remember(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &IdempotencyKey,
    digest: &str,
    order_id: i32,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(&key.0),
            idempotency_keys::request_hash.eq(digest),
            idempotency_keys::order_id.eq(order_id),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes every key older than [`KEPT_HOURS`], in batches (no long
/// transaction); how many it deleted.
pub async fn forget_expired(state: &crate::state::AppState) -> Result<usize, AppError> {
    let mut conn = state.conn().await?;
    let mut forgotten = 0;
    loop {
        let deleted = diesel::sql_query(
            "DELETE FROM idempotency_keys WHERE (user_id, key) IN \
             (SELECT user_id, key FROM idempotency_keys \
              WHERE created_at < now() - make_interval(hours => $1) LIMIT 10000)",
        )
        .bind::<Int4, _>(KEPT_HOURS)
        .execute(&mut conn)
        .await?;
        forgotten += deleted;
        if deleted < 10_000 {
            return Ok(forgotten);
        }
    }
}
