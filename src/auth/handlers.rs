//! Account and session handlers.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::ExposeSecret;

use super::accounts::create_account;
use super::dto::{SessionView, SigninBody, SignupBody, UserView};
use super::extract::AuthUser;
use super::{queries, sessions};
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::error::{AppError, AppResult, ProblemSchema};
use crate::extract::{ClientAddress, Lenient};
use crate::openapi::{BodyProblems, RateLimited, ReadProblems, SessionProblems};
use crate::rate_limit::{self, Bucket, Decision};
use crate::response::Envelope;
use crate::state::AppState;

/// Counts a sign-up or sign-in attempt against the client's address and the
/// email; refuses it with 429 past either limit. When Redis cannot count,
/// the attempt goes through: sign-in fails on the session store anyway, and
/// sign-up is meant to work without Redis.
async fn limit_attempts(
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

/// Creates a customer account.
#[utoipa::path(
    post, path = "/auth/signup", tag = "auth",
    request_body = SignupBody,
    responses(
        ReadProblems,
        BodyProblems,
        RateLimited,
        (status = 201, description = "The new account", body = Envelope<UserView>),
        (status = 409, description = "The email is taken (in any case)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, password or name", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Lenient<SignupBody>,
) -> AppResult<(StatusCode, Envelope<UserView>)> {
    limit_attempts(&state, "signup", &address, body.0.email_as_sent()).await?;
    let account = body.parse()?;
    let mut conn = state.conn().await?;
    let user = create_account(&mut conn, &state.hasher, account).await?;
    Ok((StatusCode::CREATED, Envelope { data: user.into() }))
}

/// Opens a session: answers a bearer token.
#[utoipa::path(
    post, path = "/auth/signin", tag = "auth",
    request_body = SigninBody,
    responses(
        ReadProblems,
        BodyProblems,
        RateLimited,
        (status = 200, description = "A session token", body = Envelope<SessionView>),
        (status = 401, description = "Unknown email or wrong password (one answer for both)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A field missing, of the wrong type, or not part of the body", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Lenient<SigninBody>,
) -> AppResult<Envelope<SessionView>> {
    if let Err(error) = limit_attempts(&state, "signin", &address, body.0.email_as_sent()).await {
        metrics::counter!("signins_total", "outcome" => "rate_limited").increment(1);
        return Err(error);
    }
    let body = body.parse()?;
    let refused = || {
        metrics::counter!("signins_total", "outcome" => "refused").increment(1);
        AppError::Unauthorized("the email or the password is wrong".into())
    };
    // No stored password is this long: refuse without spending a hash on it.
    if body.password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
        return Err(refused());
    }
    let email = body.email.trim();
    let user = state
        .read(async |conn: &mut diesel_async::AsyncPgConnection| {
            Ok(queries::find_user_by_email(conn, email).await?)
        })
        .await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    if !state
        .hasher
        .verify_password(body.password, stored_hash)
        .await?
    {
        return Err(refused());
    }
    let user = user.ok_or_else(refused)?;
    let (token, claims) = state
        .tokens
        .issue(user.id, user.role, state.config.jwt_ttl)?;
    sessions::open(&state, user.id, &claims, &token).await?;
    metrics::counter!("signins_total", "outcome" => "accepted").increment(1);
    Ok(Envelope {
        data: SessionView {
            token,
            token_type: "Bearer",
            expires_at: claims.expires_at(),
            user: user.into(),
        },
    })
}

/// Ends the session of the token sent; other sessions of the user live on.
#[utoipa::path(
    post, path = "/auth/signout", tag = "auth",
    security(("bearer" = [])),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 204, description = "The token is dead"),
    )
)]
pub async fn signout(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    sessions::close(&state, auth.id(), &auth.session.jti).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 200, description = "The signed-in user", body = Envelope<UserView>),
    )
)]
pub async fn me(auth: AuthUser) -> Envelope<UserView> {
    Envelope {
        data: auth.user.into(),
    }
}
