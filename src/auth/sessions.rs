//! Sessions in Redis: `user:token:<user_id>:<jti>` holds the token and lives
//! exactly as long as it does. A token is honoured only while its key exists,
//! so deleting the key ends the session on every instance at once.

use chrono::Utc;

use crate::jwt::Claims;
use crate::redis::RedisFailure;
use crate::state::AppState;

/// The Redis key of a session (with `REDIS_KEY_PREFIX`).
pub fn session_key(state: &AppState, user_id: i32, jti: &str) -> String {
    state
        .config
        .redis_key(format!("user:token:{user_id}:{jti}"))
}

/// Stores a freshly issued session until its token expires.
pub async fn open(
    state: &AppState,
    user_id: i32,
    claims: &Claims,
    token: &str,
) -> Result<(), RedisFailure> {
    let remaining = (claims.exp - Utc::now().timestamp()).max(1);
    state
        .redis
        .query(
            redis::cmd("SET")
                .arg(session_key(state, user_id, &claims.jti))
                .arg(token)
                .arg("EX")
                .arg(remaining),
        )
        .await
}

/// Whether the session is still open.
pub async fn is_open(state: &AppState, user_id: i32, jti: &str) -> Result<bool, RedisFailure> {
    state
        .redis
        .query(redis::cmd("EXISTS").arg(session_key(state, user_id, jti)))
        .await
}

/// Ends the session.
pub async fn close(state: &AppState, user_id: i32, jti: &str) -> Result<(), RedisFailure> {
    state
        .redis
        .query(redis::cmd("DEL").arg(session_key(state, user_id, jti)))
        .await
}
