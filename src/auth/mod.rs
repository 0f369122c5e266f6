//! Accounts and sessions: sign-up, sign-in with argon2id passwords, HS256
//! tokens whose sessions live in Redis, and the extractors that guard routes.

pub mod cache;
pub mod domain;
pub mod dto;
pub mod extract;
pub mod handlers;
pub mod models;
pub mod password;
pub mod queries;
pub mod service;
pub mod sessions;

pub use extract::{AdminUser, AuthUser};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The account routes, relative to `/api`.
pub fn router() -> OpenApiRouter<AppState> {
    use handlers::*;
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(signin))
        .routes(routes!(signout))
        .routes(routes!(signout_all))
        .routes(routes!(me, rename_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}
