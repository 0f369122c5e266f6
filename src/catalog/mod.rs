//! The store catalog: categories, products, tags and their ProductTag link.

pub mod cache;
pub mod domain;
pub mod dto;
pub mod groups;
pub mod handlers;
pub mod listing;
pub mod models;
pub mod queries;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The catalog routes, relative to `/api`.
pub fn router() -> OpenApiRouter<AppState> {
    use handlers::{groups::*, products::*};
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(list_tags, create_tag))
        .routes(routes!(get_tag, update_tag, delete_tag))
}
