//! The Project Catwalk products API (the Atelier shapes) over the same
//! catalog as `/api`, and its SDC importer and data generator.

pub mod cache;
pub mod generate;
pub mod handlers;
pub mod import;
pub mod queries;
mod schemas;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The Catwalk routes, relative to `/catwalk`.
pub fn router() -> OpenApiRouter<AppState> {
    use handlers::*;
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(get_styles))
        .routes(routes!(get_related))
}
