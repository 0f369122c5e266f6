//! The OpenAPI document's frame; its paths and schemas come from the handlers'
//! `#[utoipa::path]` annotations as [`crate::router::api_routes`] registers them.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "A store catalog, the Project Catwalk products API, carts and orders."
    ),
    tags(
        (name = "catalog", description = "Categories, products, tags"),
        (name = "operations", description = "Health, metrics, documentation"),
    )
)]
pub struct ApiDoc;
