//! "Signed-in user" and "admin" extractors.
//!
//! A request is signed in when its `Authorization: Bearer` token carries our
//! HS256 signature, has not expired, its session key still exists in Redis,
//! and its user still exists. The role is read from the user's row, not the
//! token, so a demoted admin loses the rights at once.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::models::User;
use super::queries;
use super::sessions;
use crate::domain::Role;
use crate::error::AppError;
use crate::jwt::Claims;
use crate::state::AppState;

/// A signed-in user and the session the request came with.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session: Claims,
}

impl AuthUser {
    pub fn id(&self) -> i32 {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

fn unauthorized(detail: &str) -> AppError {
    AppError::Unauthorized(detail.to_owned())
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(parts: &Parts) -> Result<&str, AppError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("sign in and send `Authorization: Bearer <token>`"))?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not readable"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let invalid = || unauthorized("the token is invalid, expired or revoked; sign in again");
        let claims = state.tokens.verify(token).ok_or_else(invalid)?;
        let user_id = claims.user_id().ok_or_else(invalid)?;
        // The session (Redis) and the user's row (PostgreSQL) are asked at
        // once, one round trip of waiting instead of two; the session's
        // answer is heard first, as if they had been asked in turn.
        let (open, user) = tokio::join!(
            sessions::is_open(state, user_id, &claims),
            state.read(async |conn: &mut diesel_async::AsyncPgConnection| {
                Ok(queries::find_user(conn, user_id).await?)
            }),
        );
        if !open? {
            return Err(invalid());
        }
        let user = user?.ok_or_else(invalid)?;
        if !claims.names_account_created_at(user.created_at) {
            // A session of an account gone, whose id another account has
            // now (a database made anew): it ends, off that account's list.
            let _ = sessions::close(state, user_id, &claims.jti).await;
            return Err(invalid());
        }
        Ok(Self {
            user,
            session: claims,
        })
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            Ok(Self(user))
        } else {
            Err(AppError::Forbidden("this needs an admin account".into()))
        }
    }
}

/// The request's `User-Agent`, when it has a readable one (kept with a new
/// session, for the sessions list).
#[derive(Debug, Clone, Default)]
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        ))
    }
}
