//! Entries of sessions that expired on their own, dropped from their user's
//! list a few at a time as new sessions are opened.
//!
//! A session's key expires with its token, but its entry in the list stays
//! until the list is read (`GET /api/auth/sessions`) or every session ends.
//! The list lives as long as its newest session, so a user who signs in
//! now and then and never reads the list would keep every entry: each
//! opening looks at a few entries at random and drops those expired for
//! some minutes, which keeps a list to about its live sessions.

use std::sync::LazyLock;

use chrono::Utc;

use crate::state::AppState;

/// How many fields an opening looks at (a session has two or three).
const LOOKED_AT: u32 = 16;

/// An entry is dropped only this long after its token expired: another
/// node's clock may run a little behind this one's, and a session whose key
/// still lives there must stay listed for a sign-out everywhere to find.
const MARGIN_SECONDS: i64 = 300;

static FORGET_EXPIRED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local fields = redis.call('HRANDFIELD', KEYS[1], ARGV[2], 'WITHVALUES')
        local before = tonumber(ARGV[1])
        local forgotten = 0
        for i = 1, #fields, 2 do
            local field, value = fields[i], fields[i + 1]
            local read, entry = pcall(cjson.decode, value)
            if field ~= ARGV[3] and read and type(entry) == 'table' and tonumber(entry.expires_at)
                and tonumber(entry.expires_at) < before then
                redis.call('HDEL', KEYS[1], field, 'used:' .. field, 'closing:' .. field)
                forgotten = forgotten + 1
            end
        end
        return forgotten
        ",
    )
});

/// Drops the expired entries among a few of `list`'s fields, never the one
/// of `opening`, the session being opened. Only tidying: a failure leaves
/// them for a later opening or read.
pub(super) async fn forget_some_expired(state: &AppState, list: &str, opening: &str) {
    let mut invocation = FORGET_EXPIRED.prepare_invoke();
    invocation
        .key(list)
        .arg(Utc::now().timestamp() - MARGIN_SECONDS)
        .arg(LOOKED_AT)
        .arg(opening);
    if let Err(failure) = state.redis.script::<i64>(&invocation).await {
        tracing::debug!(error = %failure, "expired sessions not tidied away");
    }
}
