//! Sessions in Redis (the sessions' Redis, `REDIS_URL`).
//!
//! - `user:token:<user_id>:<jti>` holds the token and lives exactly as long
//!   as it does. A token is honoured only while its key exists, so deleting
//!   the key ends the session on every instance at once.
//! - `user:sessions:<user_id>` is a hash of what the user's sessions list
//!   shows: `<jti>` -> `{created_at, expires_at, user_agent}` (JSON) and
//!   `used:<jti>` -> when the session was last used (unix seconds, written
//!   at most once a minute by [`is_open`]). It lives as long as the user's
//!   newest session; entries of sessions that ended are dropped when read,
//!   and those expired for some minutes a few at a time as sessions open
//!   (`tidy`). A user keeps at most [`MAX_SESSIONS_PER_USER`] sessions:
//!   a sign-in past that ends the oldest ([`keep_within_bound`]).
//!
//! The two keys of a session live in different hash slots of a Redis
//! Cluster, so no command or script touches both; the order of the steps
//! keeps revocation instant all the same:
//!
//! - the session key alone says whether a token is honoured ([`is_open`]);
//! - ending all of a user's sessions ([`close_all`]) marks each as closing
//!   on the list (`closing:<jti>`), then deletes their keys, then takes
//!   them off the list. A failure half way leaves them listed, so the
//!   retry the client is told to make finds and ends them;
//! - opening one ([`open`]) lists it first, then writes its key, then
//!   checks that it is still listed and not closing: if a [`close_all`]
//!   marked it in between, that [`close_all`] may have deleted the key
//!   before it was written, so [`open`] deletes it itself and fails (the
//!   client retries). A session whose key was written is therefore either
//!   still listed, and any later [`close_all`] ends it, or ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::models::User;
use crate::jwt::Claims;
use crate::redis::RedisFailure;
use crate::state::AppState;

mod bound;
mod tidy;
mod touch;
mod unlisted;

pub use bound::{MAX_SESSIONS_PER_USER, keep_within_bound};
use touch::{CHECK_AND_TOUCH, TOUCH_LIST, touch_list};
pub use unlisted::list_unlisted;

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
    /// The token's `acct`: which account of this id opened it (an id is
    /// given again after the database was made anew or restored). Lists
    /// from before it was kept show their entries as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acct: Option<i64>,
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

/// Stores a freshly issued session until its token expires, and lists it
/// (listed first, then written, then checked to be still listed: see the
/// module's notes).
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
        acct: claims.acct,
    };
    let entry = serde_json::to_string(&entry).unwrap_or_default();
    let list = list_key(state, user_id);
    let mut listing = redis::pipe();
    listing
        .atomic()
        .cmd("HSET")
        .arg(&list)
        .arg(&claims.jti)
        .arg(entry)
        .arg(used_field(&claims.jti))
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
    state.redis.pipeline::<()>(&listing).await?;
    tidy::forget_some_expired(state, &list, &claims.jti).await;
    let key = session_key(state, user_id, &claims.jti);
    let written = async {
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(token).arg("EX").arg(remaining);
        state.redis.query::<()>(&set).await?;
        still_listed(state, &list, &key, &claims.jti).await
    };
    if let Err(failure) = written.await {
        // Its token is never handed out: the session must not live on,
        // listed, for as long as the token would have (best effort: Redis
        // may be failing still).
        let _ = close(state, user_id, &claims.jti).await;
        return Err(failure);
    }
    Ok(())
}

/// The last steps of [`open`], once the session's key is written: it is
/// still listed and not closing (else its key is deleted: every session
/// was ended meanwhile), and on a cluster it reached a replica.
async fn still_listed(
    state: &AppState,
    list: &str,
    key: &str,
    jti: &str,
) -> Result<(), RedisFailure> {
    let (listed, closing): (Option<String>, Option<String>) = state
        .redis
        .query(
            redis::cmd("HMGET")
                .arg(list)
                .arg(jti)
                .arg(closing_field(jti)),
        )
        .await?;
    if listed.is_none() || closing.is_some() {
        state.redis.query::<i64>(&redis::Cmd::del(key)).await?;
        return Err(RedisFailure::Raced(
            "every session of this account was ended while this one opened",
        ));
    }
    // On a cluster, the session and its listing reach a replica before the
    // token is handed out, so that a master's failover keeps both.
    if !(state.redis.replicated(list).await? && state.redis.replicated(key).await?) {
        tracing::warn!("a new session reached no replica in time; a failover now could lose it");
    }
    Ok(())
}

/// Whether the session is still open (its key alone says so), noting that
/// it was used.
pub async fn is_open(
    state: &AppState,
    user_id: i32,
    claims: &Claims,
) -> Result<bool, RedisFailure> {
    let key = session_key(state, user_id, &claims.jti);
    if !state.redis.is_cluster() {
        let mut invocation = CHECK_AND_TOUCH.prepare_invoke();
        invocation
            .key(&key)
            .key(list_key(state, user_id))
            .arg(&claims.jti)
            .arg(Utc::now().timestamp())
            .arg(USED_RESOLUTION_SECONDS)
            .arg(claims.exp);
        let open: i64 = state.redis.script(&invocation).await?;
        return Ok(open == 1);
    }
    let open: bool = state.redis.query(redis::cmd("EXISTS").arg(&key)).await?;
    if open {
        touch_list(
            state,
            &TOUCH_LIST,
            user_id,
            &claims.jti,
            claims.exp,
            USED_RESOLUTION_SECONDS,
        )
        .await?;
    }
    Ok(open)
}

/// Ends the session; false when it was not open.
pub async fn close(state: &AppState, user_id: i32, jti: &str) -> Result<bool, RedisFailure> {
    let key = session_key(state, user_id, jti);
    // Once: a second DEL would answer 0 for the session this one ended.
    let deleted: i64 = state.redis.query_once(&redis::Cmd::del(&key)).await?;
    revoked_everywhere(state, &[key]).await?;
    state
        .redis
        .query::<i64>(
            redis::cmd("HDEL")
                .arg(list_key(state, user_id))
                .arg(jti)
                .arg(used_field(jti))
                .arg(closing_field(jti)),
        )
        .await?;
    Ok(deleted > 0)
}

/// Ends every session of the user but `keep` (all of them for `None`), at
/// once; answers how many were open. Each is marked as closing on the list,
/// then its key is deleted, then it is taken off the list (see the module's
/// notes): a call that fails half way leaves every session it did not end
/// listed, and a retry ends them.
pub async fn close_all(
    state: &AppState,
    user_id: i32,
    keep: Option<&str>,
) -> Result<i64, RedisFailure> {
    let list = list_key(state, user_id);
    let fields: Vec<String> = state.redis.query(redis::cmd("HKEYS").arg(&list)).await?;
    let ending: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|field| is_session_field(field) && Some(*field) != keep)
        .collect();
    if ending.is_empty() {
        return Ok(0);
    }
    let mut mark = redis::cmd("HSET");
    mark.arg(&list);
    for jti in &ending {
        mark.arg(closing_field(jti)).arg(1);
    }
    state.redis.query::<i64>(&mark).await?;
    let keys: Vec<String> = ending
        .iter()
        .map(|jti| session_key(state, user_id, jti))
        .collect();
    let deletions: Vec<redis::Cmd> = keys.iter().map(redis::Cmd::del).collect();
    let deleted: Vec<i64> = state.redis.each(&deletions).await?;
    revoked_everywhere(state, &keys).await?;
    let mut unlist = redis::cmd("HDEL");
    unlist.arg(&list);
    for jti in &ending {
        unlist
            .arg(*jti)
            .arg(used_field(jti))
            .arg(closing_field(jti));
    }
    state.redis.query::<i64>(&unlist).await?;
    Ok(deleted.iter().sum())
}

/// The list's field that says when a session was last used.
fn used_field(jti: &str) -> String {
    format!("used:{jti}")
}

/// The list's field that marks a session [`close_all`] is ending.
fn closing_field(jti: &str) -> String {
    format!("closing:{jti}")
}

/// Whether a field of the list is a session's own (not a note about one).
fn is_session_field(field: &str) -> bool {
    !field.starts_with("used:") && !field.starts_with("closing:")
}

/// On a Redis Cluster, waits until each deleted session key's deletion has
/// reached a replica, so that a failover cannot bring a revoked session
/// back; a deletion that reached none in time is logged.
async fn revoked_everywhere(state: &AppState, keys: &[String]) -> Result<(), RedisFailure> {
    for key in keys {
        if !state.redis.replicated(key).await? {
            tracing::warn!(
                "a session's revocation reached no replica in time; a failover now could undo it"
            );
        }
    }
    Ok(())
}

/// The user's live sessions, newest first. Entries of sessions that
/// expired, or that an earlier account of the same id opened, are dropped
/// on the way.
pub async fn list(state: &AppState, user: &User) -> Result<Vec<Session>, RedisFailure> {
    let user_id = user.id;
    let account = user.created_at.timestamp_micros();
    let list = list_key(state, user_id);
    let fields: std::collections::HashMap<String, String> =
        state.redis.query(redis::cmd("HGETALL").arg(&list)).await?;
    let mut listed: Vec<(String, Entry)> = fields
        .iter()
        .filter(|(field, _)| is_session_field(field))
        .filter_map(|(jti, json)| Some((jti.clone(), serde_json::from_str(json).ok()?)))
        .collect();
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let exists: Vec<redis::Cmd> = listed
        .iter()
        .map(|(jti, _)| redis::Cmd::exists(session_key(state, user_id, jti)))
        .collect();
    let open: Vec<bool> = state.redis.each(&exists).await?;
    let now = Utc::now().timestamp();
    let mut ended = Vec::new();
    let mut sessions = Vec::new();
    for ((jti, entry), open) in listed.drain(..).zip(open) {
        if entry.acct.is_some_and(|acct| acct != account) {
            // Its token is refused (`acct`): it is no session of this user.
            ended.push(jti);
            continue;
        }
        if !open {
            // Only an expired entry is tidied away: one whose key is not
            // written yet belongs to a session being opened right now, and
            // must stay listed for a later close_all to find.
            if entry.expires_at < now {
                ended.push(jti);
            }
            continue;
        }
        let used = fields
            .get(&used_field(&jti))
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
            forget.arg(jti).arg(used_field(jti)).arg(closing_field(jti));
        }
        // Only tidying: a failure leaves entries that the next read drops.
        let _ = state.redis.query::<i64>(&forget).await;
    }
    sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(sessions)
}
