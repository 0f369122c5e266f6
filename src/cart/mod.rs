//! The shopper's cart: lines of products (or SKUs) at today's prices,
//! cached at `cart:<user_id>`.

pub mod cache;
pub mod dto;
pub mod handlers;
pub mod queries;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The cart routes, relative to `/api`.
pub fn router() -> OpenApiRouter<AppState> {
    use handlers::*;
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
}
