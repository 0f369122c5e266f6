//! Accounts and sessions: creating an account (the one path that sign-up,
//! the seed and `create-admin` share, so every account passes the same
//! rules), signing in, and the rate limit of both.

use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;

use super::domain::{Credentials, NewAccount};
use super::dto::SessionView;
use super::models::{NewUser, User};
use super::queries;
use super::sessions;
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::error::{AppError, AppResult};
use crate::hashing::Hasher;
use crate::rate_limit::{self, Bucket, Decision};
use crate::state::AppState;

/// Hashes the password and stores the account; 409 when the email is taken.
pub async fn create_account(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    account: NewAccount,
) -> Result<User, AppError> {
    let password_hash = hasher.hash_password(account.password.into_secret()).await?;
    let user = queries::insert_user(
        conn,
        &NewUser {
            email: account.email.as_str(),
            password_hash: &password_hash,
            name: account.name.as_str(),
            role: account.role,
        },
    )
    .await?;
    Ok(user)
}

/// Counts a sign-up or sign-in attempt against the client's address and the
/// email; refuses it with 429 past either limit. When Redis cannot count,
/// the attempt goes through: sign-in fails on the session store anyway, and
/// sign-up is meant to work without Redis.
pub async fn limit_attempts(
    state: &AppState,
    action: &str,
    address: &str,
    email: &str,
) -> AppResult<()> {
    let limits = state.config.auth_rate_limit;
    // The email is hashed so that Redis holds no address in clear.
    let email_digest = xxhash_rust::xxh3::xxh3_64(email.trim().to_lowercase().as_bytes());
    let buckets = [
        Bucket {
            key: state
                .config
                .redis_key(format!("ratelimit:{action}:address:{address}")),
            limit: limits.per_address,
            window: limits.window,
        },
        Bucket {
            key: state
                .config
                .redis_key(format!("ratelimit:{action}:email:{email_digest:016x}")),
            limit: limits.per_email,
            window: limits.window,
        },
    ];
    match rate_limit::hit(&state.redis, &buckets).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited {
            retry_after_seconds,
        }) => Err(AppError::RateLimited {
            retry_after_seconds,
        }),
        Err(failure) => {
            tracing::warn!(error = %failure, "rate limit not counted: Redis is unavailable");
            Ok(())
        }
    }
}

/// Opens a session for a right email and password: one 401 for any wrong
/// pair, after a hash of the same cost either way (an unknown email is
/// checked against a dummy hash), so the answer tells nothing of which.
pub async fn sign_in(state: &AppState, credentials: Credentials) -> AppResult<SessionView> {
    let refused = || {
        metrics::counter!("signins_total", "outcome" => "refused").increment(1);
        AppError::Unauthorized("the email or the password is wrong".into())
    };
    // No stored password is this long: refuse without spending a hash on it.
    if credentials.password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
        return Err(refused());
    }
    let email = credentials.email.trim();
    let user = state
        .read(async |conn: &mut AsyncPgConnection| {
            Ok(queries::find_user_by_email(conn, email).await?)
        })
        .await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    if !state
        .hasher
        .verify_password(credentials.password, stored_hash)
        .await?
    {
        return Err(refused());
    }
    let user = user.ok_or_else(refused)?;
    let (token, claims) = state
        .tokens
        .issue(user.id, user.role, state.config.jwt_ttl)?;
    sessions::open(state, user.id, &claims, &token).await?;
    metrics::counter!("signins_total", "outcome" => "accepted").increment(1);
    Ok(SessionView {
        token,
        token_type: "Bearer",
        expires_at: claims.expires_at(),
        user: user.into(),
    })
}
