//! Orders: a checkout that never oversells and never double-charges, the
//! order history, cancellation and the admin's status changes.

pub mod cache;
pub mod domain;
pub mod dto;
mod durable;
pub mod handlers;
pub mod models;
mod placement;
pub mod queries;
pub mod reading;
pub mod service;
pub mod unpaid;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The order routes, relative to `/api`.
pub fn router() -> OpenApiRouter<AppState> {
    use handlers::*;
    OpenApiRouter::new()
        .routes(routes!(list_orders, place_order))
        .routes(routes!(get_order, update_status))
        .routes(routes!(cancel_order))
}
