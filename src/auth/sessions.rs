//! Sessions in Redis (the sessions' Redis, `REDIS_URL`).
//!
//! - `user:token:<user_id>:<jti>` holds the token and lives exactly as long
//!   as it does. A token is honoured only while its key exists, so deleting
//!   the key ends the session on every instance at once.
//! - `user:sessions:<user_id>` is a hash of what the user's sessions list
//!   shows: `<jti>` -> `{created_at, expires_at, user_agent}` (JSON) and
//!   `used:<jti>` -> when the session was last used (unix seconds, written
//!   at most once a minute by [`is_open`]). It lives as long as the user's
//!   newest session; entries of sessions that ended are dropped when read.
//!
//! Ending several sessions ([`close_all`]) is one Lua script, so that no
//! session can be opened between reading the list and deleting its keys.
//! (The script names keys it computes: a Redis Cluster needs the user's keys
//! under one hash tag first; see the scale-out issue.)

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jwt::Claims;
use crate::redis::RedisFailure;
use crate::state::AppState;

/// How often `last_used_at` is written, at most (seconds).
const USED_RESOLUTION_SECONDS: i64 = 60;

/// The longest `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 255;

/// The Redis key of a session (with `REDIS_KEY_PREFIX`).
pub fn session_key(state: &AppState, user_id: i32, jti: &str) -> String {
    state
        .config
        .redis_key(format!("user:token:{user_id}:{jti}"))
}

/// The Redis key of a user's list of sessions.
fn list_key(state: &AppState, user_id: i32) -> String {
    state.config.redis_key(format!("user:sessions:{user_id}"))
}

/// What the sessions list keeps of one session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    created_at: i64,
    expires_at: i64,
    user_agent: Option<String>,
}

/// One of a user's live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token's `jti`.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// Stores a freshly issued session until its token expires, and lists it.
pub async fn open(
    state: &AppState,
    user_id: i32,
    claims: &Claims,
    token: &str,
    user_agent: Option<&str>,
) -> Result<(), RedisFailure> {
    let now = Utc::now().timestamp();
    let remaining = (claims.exp - now).max(1);
    let entry = Entry {
        created_at: claims.iat,
        expires_at: claims.exp,
        user_agent: user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
    };
    let entry = serde_json::to_string(&entry).unwrap_or_default();
    let list = list_key(state, user_id);
    let mut pipeline = redis::pipe();
    pipeline
        .atomic()
        .cmd("SET")
        .arg(session_key(state, user_id, &claims.jti))
        .arg(token)
        .arg("EX")
        .arg(remaining)
        .ignore()
        .cmd("HSET")
        .arg(&list)
        .arg(&claims.jti)
        .arg(entry)
        .arg(format!("used:{}", claims.jti))
        .arg(now)
        .ignore()
        // The list lives as long as the newest session (GT: never shortened).
        .cmd("EXPIRE")
        .arg(&list)
        .arg(remaining)
        .arg("GT")
        .ignore()
        .cmd("EXPIRE")
        .arg(&list)
        .arg(remaining)
        .arg("NX")
        .ignore();
    state.redis.pipeline::<()>(&pipeline).await
}

/// Lists a session the list does not hold (one opened before sessions were
/// listed), for as long as its key lives. Lua, shared by [`TOUCH`] and
/// [`REGISTER`]: `KEYS[1]` the session's key, `KEYS[2]` the list, `ARGV[1]`
/// the jti, `ARGV[2]` now.
const LIST_IF_UNLISTED: &str = r"
        if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
            local ttl = redis.call('TTL', KEYS[1])
            if ttl < 1 then ttl = 1 end
            local now = tonumber(ARGV[2])
            redis.call('HSET', KEYS[2], ARGV[1],
                cjson.encode({created_at = now, expires_at = now + ttl}))
            redis.call('EXPIRE', KEYS[2], ttl, 'GT')
            redis.call('EXPIRE', KEYS[2], ttl, 'NX')
        end
";

/// `KEYS[1]` the session's key, `KEYS[2]` the user's list; `ARGV[1]` the
/// jti, `ARGV[2]` now, `ARGV[3]` the resolution of `last_used_at`.
static TOUCH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        {LIST_IF_UNLISTED}
        local field = 'used:' .. ARGV[1]
        local last = tonumber(redis.call('HGET', KEYS[2], field) or '0')
        if tonumber(ARGV[2]) - last >= tonumber(ARGV[3]) then
            redis.call('HSET', KEYS[2], field, ARGV[2])
        end
        return 1
        "
    ))
});

/// The same as [`TOUCH`]'s listing alone, for a session that exists.
static REGISTER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        {LIST_IF_UNLISTED}
        return 1
        "
    ))
});

/// Lists every session opened before sessions were listed, so that signing
/// out everywhere and a password change end them too: one pass over the
/// sessions' keys (SCAN, in batches) when the server starts. Idempotent;
/// a session it cannot list now is listed when it is next used.
pub async fn list_unlisted(state: &AppState) -> Result<u64, RedisFailure> {
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
            let mut invocation = REGISTER.prepare_invoke();
            invocation
                .key(&key)
                .key(list_key(state, user_id))
                .arg(&jti)
                .arg(Utc::now().timestamp());
            let _: i64 = state.redis.script(&invocation).await?;
            listed += 1;
        }
        if next == 0 {
            return Ok(listed);
        }
        cursor = next;
    }
}

/// Whether the session is still open (noting that it was used).
pub async fn is_open(state: &AppState, user_id: i32, jti: &str) -> Result<bool, RedisFailure> {
    let mut invocation = TOUCH.prepare_invoke();
    invocation
        .key(session_key(state, user_id, jti))
        .key(list_key(state, user_id))
        .arg(jti)
        .arg(Utc::now().timestamp())
        .arg(USED_RESOLUTION_SECONDS);
    state.redis.script(&invocation).await
}

/// Ends the session; false when it was not open.
pub async fn close(state: &AppState, user_id: i32, jti: &str) -> Result<bool, RedisFailure> {
    let mut pipeline = redis::pipe();
    pipeline
        .atomic()
        .cmd("DEL")
        .arg(session_key(state, user_id, jti))
        .cmd("HDEL")
        .arg(list_key(state, user_id))
        .arg(jti)
        .arg(format!("used:{jti}"))
        .ignore();
    let (deleted,): (i64,) = state.redis.pipeline(&pipeline).await?;
    Ok(deleted > 0)
}

/// `KEYS[1]` the user's list; `ARGV[1]` the prefix of the user's session
/// keys (`<prefix>user:token:<user_id>:`), `ARGV[2]` the jti to keep ("" for
/// none). Deletes every other listed session's key and entry.
static CLOSE_ALL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local ended = 0
        for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
            if string.sub(field, 1, 5) ~= 'used:' and field ~= ARGV[2] then
                ended = ended + redis.call('DEL', ARGV[1] .. field)
                redis.call('HDEL', KEYS[1], field, 'used:' .. field)
            end
        end
        return ended
        ",
    )
});

/// Ends every session of the user but `keep` (all of them for `None`), at
/// once; answers how many were open.
pub async fn close_all(
    state: &AppState,
    user_id: i32,
    keep: Option<&str>,
) -> Result<i64, RedisFailure> {
    let mut invocation = CLOSE_ALL.prepare_invoke();
    invocation
        .key(list_key(state, user_id))
        .arg(session_key(state, user_id, ""))
        .arg(keep.unwrap_or(""));
    state.redis.script(&invocation).await
}

/// The user's live sessions, newest first. Entries of sessions that ended
/// (expired) are dropped on the way.
pub async fn list(state: &AppState, user_id: i32) -> Result<Vec<Session>, RedisFailure> {
    let list = list_key(state, user_id);
    let fields: std::collections::HashMap<String, String> =
        state.redis.query(redis::cmd("HGETALL").arg(&list)).await?;
    let mut listed: Vec<(String, Entry)> = fields
        .iter()
        .filter(|(field, _)| !field.starts_with("used:"))
        .filter_map(|(jti, json)| Some((jti.clone(), serde_json::from_str(json).ok()?)))
        .collect();
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let mut exists = redis::pipe();
    for (jti, _) in &listed {
        exists.cmd("EXISTS").arg(session_key(state, user_id, jti));
    }
    let open: Vec<bool> = state.redis.pipeline(&exists).await?;
    let mut ended = Vec::new();
    let mut sessions = Vec::new();
    for ((jti, entry), open) in listed.drain(..).zip(open) {
        if !open {
            ended.push(jti);
            continue;
        }
        let used = fields
            .get(&format!("used:{jti}"))
            .and_then(|seconds| seconds.parse().ok())
            .unwrap_or(entry.created_at);
        sessions.push(Session {
            id: jti,
            created_at: at(entry.created_at),
            last_used_at: at(used),
            user_agent: entry.user_agent,
        });
    }
    if !ended.is_empty() {
        let mut forget = redis::cmd("HDEL");
        forget.arg(&list);
        for jti in &ended {
            forget.arg(jti).arg(format!("used:{jti}"));
        }
        // Only tidying: a failure leaves entries that the next read drops.
        let _ = state.redis.query::<i64>(&forget).await;
    }
    sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(sessions)
}
