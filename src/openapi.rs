//! The OpenAPI document's frame; its paths and schemas come from the handlers'
//! `#[utoipa::path]` annotations as [`crate::router::api_routes`] registers them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "A store catalog, the Project Catwalk products API, carts and orders."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "catalog", description = "Categories, products, tags; writes need an admin"),
        (name = "auth", description = "Sign-up, sign-in, sessions"),
        (name = "cart", description = "The signed-in user's cart"),
        (name = "orders", description = "Checkout and orders"),
        (name = "catwalk", description = "The Project Catwalk (Atelier) products API, under /catwalk"),
        (name = "operations", description = "Health, metrics, documentation"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that guarded operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
