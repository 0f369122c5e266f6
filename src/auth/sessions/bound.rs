//! The most sessions one user keeps: a sign-in past the bound ends the
//! oldest.
//!
//! Without a bound, an account signed in again and again (the rate limit
//! allows ten a minute for one email; a token lives seven days: some
//! 100,000 live sessions) makes everything that reads its list whole grow
//! with it: the sessions list (an `EXISTS` a session), and a sign-out
//! everywhere or a password change (one `HSET` and a `DEL` a session,
//! each within the Redis timeout), until they could no longer end the
//! sessions of someone who signed in with a stolen password.

use tracing::Instrument;

use super::{Entry, close, is_session_field};
use crate::state::AppState;

/// The most live sessions a user keeps.
pub const MAX_SESSIONS_PER_USER: usize = 100;

/// The most sessions one bound's upkeep ends: a list grown past it before
/// the bound existed is brought back a few sign-ins at a time.
const MOST_ENDED_AT_ONCE: usize = 100;

/// Ends the user's oldest sessions past [`MAX_SESSIONS_PER_USER`], never
/// `kept` (the one a sign-in just opened), in the background: called once
/// the sign-in is sure (a sign-in refused after its session opened must
/// end no other), and the answer does not wait for it. Only upkeep: a
/// failure leaves them for a later sign-in.
pub fn keep_within_bound(state: &AppState, user_id: i32, kept: &str) {
    let (state, kept) = (state.clone(), kept.to_owned());
    tokio::spawn(
        async move {
            let list = super::list_key(&state, user_id);
            if let Err(failure) = end_past_the_bound(&state, user_id, &list, &kept).await {
                tracing::warn!(error = %failure, user_id, "sessions past the bound not ended yet");
            }
        }
        .instrument(tracing::Span::current()),
    );
}

async fn end_past_the_bound(
    state: &AppState,
    user_id: i32,
    list: &str,
    opening: &str,
) -> Result<(), crate::redis::RedisFailure> {
    // Each session has two fields at least (itself and when it was used):
    // a list of no more than twice the bound needs no closer look.
    let fields: usize = state.redis.query(redis::cmd("HLEN").arg(list)).await?;
    if fields <= 2 * MAX_SESSIONS_PER_USER {
        return Ok(());
    }
    let listed: std::collections::HashMap<String, String> =
        state.redis.query(redis::cmd("HGETALL").arg(list)).await?;
    let mut sessions: Vec<(i64, &str)> = listed
        .iter()
        .filter(|(field, _)| is_session_field(field))
        .map(|(jti, json)| {
            let created_at =
                serde_json::from_str::<Entry>(json).map_or(0, |entry| entry.created_at);
            (created_at, jti.as_str())
        })
        .collect();
    let past = sessions.len().saturating_sub(MAX_SESSIONS_PER_USER);
    sessions.sort_unstable();
    for (_, jti) in sessions
        .into_iter()
        .filter(|(_, jti)| *jti != opening)
        .take(past.min(MOST_ENDED_AT_ONCE))
    {
        close(state, user_id, jti).await?;
    }
    Ok(())
}
