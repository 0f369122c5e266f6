//! Accounts and sessions: creating an account (the one path that sign-up,
//! the seed and `create-admin` share, so every account passes the same
//! rules), signing in, and the rate limit of both.

use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;

use super::domain::{Credentials, NewAccount, PasswordChange};
use super::dto::{SessionView, SignupView};
use super::models::{NewUser, User};
use super::queries;
use super::sessions;
use crate::domain::Name;
use crate::domain::email::MAX_EMAIL_CHARS;
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

/// What becomes of an attempt that Redis cannot count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncounted {
    /// It goes through: sign-up is meant to work without Redis.
    Allowed,
    /// A 503 before any hash is spent: a sign-in could not open its session
    /// anyway, and one let through would be a guess without limit whose
    /// answer (401 for a wrong password, 503 for the right one) tells.
    Refused,
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
/// IPv6 address by its /64 network: see [`rate_limit::client_network`]) and
/// the email; refuses it with 429 past either limit.
pub async fn limit_attempts(
    state: &AppState,
    action: &str,
    address: &str,
    email: &str,
    uncounted: Uncounted,
) -> AppResult<Counted> {
    let limits = state.config.auth_rate_limit;
    // The email is hashed so that Redis holds no address in clear.
    let email_digest = xxhash_rust::xxh3::xxh3_64(email.trim().to_lowercase().as_bytes());
    let buckets = [
        Bucket {
            key: state.config.redis_key(format!(
                "ratelimit:{action}:address:{}",
                rate_limit::client_network(address)
            )),
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
        Ok(Decision::Allowed) => Ok(Counted(buckets.into())),
        Ok(Decision::Limited {
            retry_after_seconds,
        }) => Err(AppError::RateLimited {
            retry_after_seconds,
        }),
        Err(failure) if uncounted == Uncounted::Refused => Err(failure.into()),
        Err(failure) => {
            tracing::warn!(error = %failure, "rate limit not counted: Redis is unavailable");
            Ok(Counted(Vec::new()))
        }
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
    if !state
        .hasher
        .verify_password(credentials.password, stored_hash)
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
    if now.is_none_or(|user| user.password_hash != checked_hash) {
        close_it().await?;
        return Err(refused());
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

const WRONG_CURRENT_PASSWORD: &str = "is not the account's password";

/// A password change's body that broke a rule (`problem`) is also checked
/// for a wrong `current_password`, so that the 422 names every bad field at
/// once (API.md); the problem as it was when that cannot be told.
pub async fn current_password_too(
    state: &AppState,
    user: &User,
    sent_current: Option<String>,
    problem: AppError,
) -> AppError {
    let AppError::Validation(mut errors) = problem else {
        return problem;
    };
    let Some(current) = sent_current.filter(|_| !errors.has("current_password")) else {
        return AppError::Validation(errors);
    };
    // No stored password is this long: wrong without spending a hash.
    if current.chars().count() > MAX_PASSWORD_CHARS {
        errors.add("current_password", WRONG_CURRENT_PASSWORD);
        return AppError::Validation(errors);
    }
    match is_current_password(state, user, current.into()).await {
        Ok(true) => {}
        Ok(false) => errors.add("current_password", WRONG_CURRENT_PASSWORD),
        // The hasher busy: the 422 as it was, sure of what it names.
        Err(error) => tracing::debug!(error = %error, "current password left unchecked"),
    }
    AppError::Validation(errors)
}

async fn is_current_password(
    state: &AppState,
    user: &User,
    current: secrecy::SecretString,
) -> AppResult<bool> {
    let stored = Some(user.password_hash.clone());
    let hasher = state.hasher.for_signed_in();
    Ok(hasher.verify_password(current, stored).await?)
}

/// Changes the password after checking the current one (422 naming
/// `current_password` when it is wrong), and ends every other session of
/// the user at once: before the change, so that nothing signed in with the
/// old password outlives it, and again after it, for a sign-in that
/// checked the old password meanwhile. The calling session stays. The
/// account's row is locked from the check of the hash to the change, so of
/// two changes at once the second finds the password changed (422) and
/// ends no session. When the second ending fails, the password is changed
/// all the same: the 503 says so, and what is left to do.
pub async fn change_password(
    state: &AppState,
    user: &User,
    current_session: &str,
    change: PasswordChange,
) -> AppResult<()> {
    if !is_current_password(state, user, change.current).await? {
        return Err(AppError::validation(
            "current_password",
            WRONG_CURRENT_PASSWORD,
        ));
    }
    let hasher = state.hasher.for_signed_in();
    let new_hash = hasher.hash_password(change.new.into_secret()).await?;
    let (user_id, checked) = (user.id, user.password_hash.as_str());
    state
        .transaction(async |conn: &mut AsyncPgConnection| {
            match queries::lock_password_hash(conn, user_id).await? {
                None => Err(AppError::Unauthorized(
                    "the account no longer exists".into(),
                )),
                Some(hash) if hash != checked => Err(AppError::validation(
                    "current_password",
                    WRONG_CURRENT_PASSWORD,
                )),
                Some(_) => {
                    sessions::close_all(state, user_id, Some(current_session)).await?;
                    queries::update_password_hash(conn, user_id, &new_hash).await?;
                    Ok(())
                }
            }
        })
        .await?;
    // Again after the commit: a session signed in with the old password
    // while the change ran. Should that fail, the password is changed all
    // the same (a retry would be told it is wrong): the client is told what
    // is left to do. (Not tried again in the background: that would also
    // end sessions opened with the new password meanwhile.)
    if let Err(failure) = sessions::close_all(state, user_id, Some(current_session)).await {
        tracing::warn!(error = %failure, user_id, "ending the other sessions after a password change failed");
        return Err(AppError::unavailable(
            "the password is changed, but not every other session could be ended yet: \
             sign out everywhere (POST /api/auth/signout-all) once the service answers again",
        ));
    }
    Ok(())
}
