//! Accounts and sessions: creating an account (the one path that sign-up,
//! the seed and `create-admin` share, so every account passes the same
//! rules), signing in, and the rate limit of both.

use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;

use super::domain::{Credentials, NewAccount};
use super::dto::{SessionView, SignupView};
use super::models::{NewUser, User};
use super::password;
use super::queries;
use super::sessions;
use crate::domain::Name;
use crate::domain::email::MAX_EMAIL_CHARS;
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::error::{AppError, AppResult};
use crate::hashing::{self, Hasher};
use crate::rate_limit::{self, Bucket, ClientNetwork, Decision};
use crate::state::AppState;

/// Hashes the password and stores the account; 409 when the email is taken.
pub async fn create_account(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    account: NewAccount,
) -> Result<User, AppError> {
    let hashed = HashedAccount::of(hasher, account).await?;
    hashed.insert(conn).await
}

/// An account whose password is hashed: hashed before a connection is
/// taken, since hashing may queue for one of the hasher's slots.
pub struct HashedAccount {
    email: crate::domain::Email,
    name: Name,
    role: crate::domain::Role,
    password_hash: String,
}

impl HashedAccount {
    pub async fn of(hasher: &Hasher, account: NewAccount) -> Result<Self, AppError> {
        let NewAccount {
            email,
            password,
            name,
            role,
        } = account;
        let password_hash = hasher.hash_password(password.into_secret()).await?;
        Ok(Self {
            email,
            name,
            role,
            password_hash,
        })
    }

    /// Stores it; 409 when the email is taken.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> Result<User, AppError> {
        let user = queries::insert_user(
            conn,
            &NewUser {
                email: self.email.as_str(),
                password_hash: &self.password_hash,
                name: self.name.as_str(),
                role: self.role,
            },
        )
        .await?;
        Ok(user)
    }
}

/// An attempt counted against its rate limits by [`limit_attempts`].
pub struct Counted(Vec<Bucket>);

impl Counted {
    /// Makes the attempt. One the server could not make (a 503: every
    /// hashing slot busy, PostgreSQL or Redis unavailable) is taken back off
    /// the counts, so that a client retrying after `Retry-After` does not
    /// spend its limit on attempts that were never checked.
    pub async fn attempt<T>(
        self,
        state: &AppState,
        attempt: impl Future<Output = AppResult<T>>,
    ) -> AppResult<T> {
        let outcome = attempt.await;
        if matches!(outcome, Err(AppError::Unavailable { .. }))
            && !self.0.is_empty()
            && let Err(failure) = rate_limit::take_back(&state.redis, &self.0).await
        {
            tracing::warn!(error = %failure, "an attempt not made stays counted");
        }
        outcome
    }
}

/// Counts a sign-up or sign-in attempt against the client's address (an
/// IPv6 address by its /64 network, and its /48 site when
/// `AUTH_RATE_LIMIT_PER_SITE` is set: see [`ClientNetwork`]) and
/// the email; refuses it with 429 past either limit, and with 503 when
/// Redis cannot count it. A body without an
/// email (or a blank one) is counted by its address alone: it opens no
/// account, and one count of "no email" for every client would turn each
/// client's 422 into a 429 once any ten had sent one.
pub async fn limit_attempts(
    state: &AppState,
    action: &str,
    address: &str,
    email: &str,
) -> AppResult<Counted> {
    let limits = state.config.auth_rate_limit;
    // The email is hashed so that Redis holds no address in clear.
    let email = email.trim();
    let email_digest = xxhash_rust::xxh3::xxh3_64(email.to_lowercase().as_bytes());
    let mut buckets = ClientNetwork::of(address).buckets(
        limits.per_address,
        limits.per_site,
        limits.window,
        |network| {
            state
                .config
                .redis_key(format!("ratelimit:{action}:address:{network}"))
        },
    );
    if !email.is_empty() {
        buckets.push(Bucket {
            key: state
                .config
                .redis_key(format!("ratelimit:{action}:email:{email_digest:016x}")),
            limit: limits.per_email,
            window: limits.window,
            nested: false,
        });
    }
    match rate_limit::hit(&state.redis, &buckets).await {
        Ok(Decision::Allowed) => Ok(Counted(buckets)),
        Ok(Decision::Limited {
            retry_after_seconds,
        }) => Err(AppError::RateLimited {
            retry_after_seconds,
        }),
        // A 503 before any hash is spent: neither could open its session
        // anyway, and one let through would be a guess without limit whose
        // answer tells (a sign-in: 401 for a wrong password, 503 for the
        // right one; a sign-up: 409 for an email that has an account).
        Err(failure) => Err(failure.into()),
    }
}

/// Opens a session for a right email and password: one 401 for any wrong
/// pair, after a hash of the same cost either way (an unknown email is
/// checked against a dummy hash), so the answer tells nothing of which.
pub async fn sign_in(
    state: &AppState,
    credentials: Credentials,
    user_agent: Option<&str>,
) -> AppResult<SessionView> {
    let refused = || {
        metrics::counter!("signins_total", "outcome" => "refused").increment(1);
        AppError::Unauthorized("the email or the password is wrong".into())
    };
    // No stored password or email is this long: refuse without spending a
    // hash on it (nor holding it while a hashing slot is waited for).
    let email = credentials.email.trim();
    if credentials.password.expose_secret().chars().count() > MAX_PASSWORD_CHARS
        || email.chars().count() > MAX_EMAIL_CHARS
    {
        return Err(refused());
    }
    // No account's email holds a NUL (nor can PostgreSQL's text): no such
    // account, answered as any other, the hash spent all the same.
    let user = if email.contains('\0') {
        None
    } else {
        state
            .read(async |conn: &mut AsyncPgConnection| {
                Ok(queries::find_user_by_email(conn, email).await?)
            })
            .await?
    };
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let password = credentials.password;
    if !state
        .hasher
        .verify_password(password.clone(), stored_hash)
        .await?
    {
        return Err(refused());
    }
    let user = user.ok_or_else(refused)?;
    let checked_hash = user.password_hash.clone();
    let session = open_session(state, user, user_agent).await?;
    // A password change may have ended every session while this one was
    // being checked against the old password: then this one ends too.
    let user_id = session.user.id;
    let close_it = async || match state.tokens.verify(&session.token) {
        Some(claims) => sessions::close(state, user_id, &claims.jti).await.map(drop),
        None => Ok(()),
    };
    let now = match state
        .read(async |conn: &mut AsyncPgConnection| Ok(queries::find_user(conn, user_id).await?))
        .await
    {
        Ok(now) => now,
        // Unanswered, the token is never sent: its session must not live on
        // (nor be listed) unheld.
        Err(error) => {
            let _ = close_it().await;
            return Err(error);
        }
    };
    // Changed meanwhile: a password change (the password given no longer
    // opens it), or another sign-in remaking the same password's hash.
    let opens_it = match now {
        Some(user) if user.password_hash == checked_hash => Ok(true),
        Some(user) => {
            state
                .hasher
                .verify_password(password.clone(), Some(user.password_hash))
                .await
        }
        None => Ok(false),
    };
    match opens_it {
        Ok(true) => {}
        Ok(false) => {
            close_it().await?;
            return Err(refused());
        }
        // Not checked (every hashing slot busy): a 503 to retry, not a
        // wrong password; and its session must not live on unheld.
        Err(error) => {
            let _ = close_it().await;
            return Err(error.into());
        }
    }
    if !hashing::is_current(&checked_hash) {
        password::remake_hash_later(state, user_id, checked_hash, password);
    }
    if let Some(claims) = state.tokens.verify(&session.token) {
        sessions::keep_within_bound(state, user_id, &claims.jti);
    }
    metrics::counter!("signins_total", "outcome" => "accepted").increment(1);
    Ok(session)
}

/// Issues a token for `user` and opens its session in Redis.
async fn open_session(
    state: &AppState,
    user: User,
    user_agent: Option<&str>,
) -> AppResult<SessionView> {
    let (token, claims) =
        state
            .tokens
            .issue((user.id, user.created_at), user.role, state.config.jwt_ttl)?;
    sessions::open(state, user.id, &claims, &token, user_agent).await?;
    Ok(SessionView {
        token,
        token_type: "Bearer",
        expires_at: claims.expires_at(),
        user: user.into(),
    })
}

/// Creates a customer account and opens its first session, as one step:
/// the account is committed only once the session is open, so a sign-up
/// that cannot open one (Redis down: 503) leaves no account behind.
pub async fn sign_up(
    state: &AppState,
    account: NewAccount,
    user_agent: Option<&str>,
) -> AppResult<SignupView> {
    // The hash before the connection: a burst of sign-ups queueing for the
    // hasher does not hold the pool's connections meanwhile.
    let hashed = HashedAccount::of(&state.hasher, account).await?;
    let mut conn = state.conn().await?;
    let session =
        diesel_async::AsyncConnection::transaction::<_, AppError, _>(&mut *conn, async |conn| {
            let user = hashed.insert(conn).await?;
            open_session(state, user, user_agent).await
        })
        .await?;
    Ok(SignupView::from(session))
}

/// Renames the signed-in user.
/// (The admins' order lists show the name: they are retired with it.)
pub async fn rename(state: &AppState, user_id: i32, name: &Name) -> AppResult<User> {
    let renamed = async {
        let mut conn = state.conn().await?;
        Ok(queries::update_name(&mut conn, user_id, name.as_str()).await?)
    };
    state
        .cache
        .write(super::cache::account_changed(), renamed)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))
}
