//! The list's side of a session in use: the scripts that list a session
//! and note its last use, beside its check or alone.

use std::sync::LazyLock;

use chrono::Utc;

use super::list_key;
use crate::redis::RedisFailure;
use crate::state::AppState;

/// The list's side of a session in use: lists it if the list does not hold
/// it (one opened before sessions were listed), and notes when it was used,
/// at most once per resolution. The list is the last key; `ARGV[1]` the
/// jti, `ARGV[2]` now, `ARGV[3]` the resolution of `last_used_at`,
/// `ARGV[4]` when the session expires. `WRITE` is `redis.pcall` where the
/// writes are bookkeeping beside a session's check (a Redis out of memory,
/// `noeviction`, refuses them, and the session, which is there, still
/// opens), `redis.call` where they are the point.
const LIST_BODY: &str = r"
        local list = KEYS[#KEYS]
        local now = tonumber(ARGV[2])
        if redis.call('HEXISTS', list, ARGV[1]) == 0 then
            local expires = tonumber(ARGV[4])
            local ttl = expires - now
            if ttl < 1 then ttl = 1 end
            WRITE('HSET', list, ARGV[1],
                cjson.encode({created_at = now, expires_at = expires}))
            WRITE('EXPIRE', list, ttl, 'GT')
            WRITE('EXPIRE', list, ttl, 'NX')
        end
        local field = 'used:' .. ARGV[1]
        local last = tonumber(redis.call('HGET', list, field) or '0')
        if now - last >= tonumber(ARGV[3]) then
            WRITE('HSET', list, field, ARGV[2])
        end
        return 1
";

/// [`LIST_BODY`] writing with `write`.
fn list_body(write: &str) -> String {
    LIST_BODY.replace("WRITE(", &format!("{write}("))
}

/// [`LIST_BODY`] alone, beside a check: `KEYS[1]` the user's list.
pub(super) static TOUCH_LIST: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&list_body("redis.pcall")));

/// [`LIST_BODY`] alone, listing a session: its writes must take.
pub(super) static LIST: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&list_body("redis.call")));

/// On a single server, a session check in one round trip: `KEYS[1]` the
/// session's key (0 when it is gone), then [`LIST_BODY`] with `KEYS[2]` the
/// list. (On a cluster the two keys are in different slots: two calls.)
pub(super) static CHECK_AND_TOUCH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n{}",
        list_body("redis.pcall")
    ))
});

/// A resolution no use reaches: listing only.
pub(super) const NEVER_NOTED: i64 = i64::MAX / 2;

/// Runs `script` ([`TOUCH_LIST`] or [`LIST`]); `resolution` [`NEVER_NOTED`]
/// lists without noting a use.
pub(super) async fn touch_list(
    state: &AppState,
    script: &redis::Script,
    user_id: i32,
    jti: &str,
    expires_at: i64,
    resolution: i64,
) -> Result<(), RedisFailure> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(list_key(state, user_id))
        .arg(jti)
        .arg(Utc::now().timestamp())
        .arg(resolution)
        .arg(expires_at);
    state.redis.script::<i64>(&invocation).await.map(drop)
}
