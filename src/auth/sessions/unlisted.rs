//! Sessions opened before sessions were listed, listed once when the server
//! starts.

use chrono::Utc;

use super::touch::{LIST, NEVER_NOTED, touch_list};
use crate::redis::RedisFailure;
use crate::state::AppState;

/// Lists every session opened before sessions were listed, so that signing
/// out everywhere and a password change end them too: one pass over the
/// sessions' keys (SCAN, in batches) when the server starts. Idempotent;
/// a session it cannot list now is listed when it is next used.
pub async fn list_unlisted(state: &AppState) -> Result<u64, RedisFailure> {
    if state.redis.is_cluster() {
        // SCAN walks one node of a cluster; a cluster holds no session from
        // before sessions were listed (those are listed when next used).
        return Ok(0);
    }
    let pattern = state.config.redis_key("user:token:*".to_owned());
    let prefix_len = state.config.redis_key(String::new()).len() + "user:token:".len();
    let mut cursor = 0u64;
    let mut listed = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = state
            .redis
            .query(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500),
            )
            .await?;
        for key in keys {
            let Some((user_id, jti)) = key
                .get(prefix_len..)
                .and_then(|rest| rest.split_once(':'))
                .and_then(|(user, jti)| Some((user.parse::<i32>().ok()?, jti.to_owned())))
            else {
                continue;
            };
            let ttl: i64 = state.redis.query(redis::cmd("TTL").arg(&key)).await?;
            if ttl < 0 {
                continue; // gone meanwhile (or never to expire: not ours)
            }
            let expires_at = Utc::now().timestamp() + ttl;
            touch_list(state, &LIST, user_id, &jti, expires_at, NEVER_NOTED).await?;
            listed += 1;
        }
        if next == 0 {
            return Ok(listed);
        }
        cursor = next;
    }
}
