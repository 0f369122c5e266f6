//! The Catwalk routes: the Atelier shapes exactly, no envelope, with
//! `X-Data-Source`, through the shared cache.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::queries::{self, ProductDocument};
use super::schemas::{CatwalkListProduct, CatwalkProduct, CatwalkStyles};
use crate::catalog::cache as catalog_cache;
use crate::error::{AppError, AppResult, FieldErrors, ProblemSchema};
use crate::extract::{ApiQuery, ResourceId, path_id};
use crate::openapi::{QueryProblems, ReadProblems};
use crate::response::{Document, Framing};
use crate::state::AppState;
use diesel_async::AsyncPgConnection;

path_id!(CatwalkProductPath(product_id));

/// The most products one page may hold.
pub const MAX_COUNT: i64 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatwalkPageQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    /// Products per page.
    #[param(minimum = 1, maximum = 100, default = 5)]
    pub count: Option<i64>,
}

/// A page of products, lowest ids first.
#[utoipa::path(
    get, path = "/products", tag = "catwalk", operation_id = "catwalk_list_products",
    params(CatwalkPageQuery),
    responses(ReadProblems, QueryProblems,
        (status = 200, description = "`[{id, name, slogan, description, category, default_price}]`", body = Vec<CatwalkListProduct>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CatwalkPageQuery>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let page = query.page.unwrap_or(1);
    let count = query.count.unwrap_or(5);
    if !(1..=i64::from(i32::MAX)).contains(&page) {
        errors.add("page", format!("must be from 1 to {}", i32::MAX));
    }
    if !(1..=MAX_COUNT).contains(&count) {
        errors.add("count", format!("must be from 1 to {MAX_COUNT}"));
    }
    errors.into_result(())?;
    let key = super::cache::product_page(page, count, &state.config.cache_limits);
    let deep_pages = state.deep_pages.clone();
    let read = async move {
        state
            .cached(&key, Framing::Bare, async |conn: &mut AsyncPgConnection| {
                let json = queries::product_page(conn, page, count).await?;
                Ok(Document::new(json.into(), Framing::Bare))
            })
            .await
    };
    deep_pages.read((page - 1) * count, read).await
}

/// One of product `product_id`'s documents, through the cache; 404 when
/// there is no such product.
async fn product_document(
    state: &AppState,
    document: ProductDocument,
    product_id: i32,
) -> AppResult<Response> {
    let key = match document {
        ProductDocument::Product => catalog_cache::product_catwalk(product_id),
        ProductDocument::Styles => catalog_cache::product_styles(product_id),
        ProductDocument::Related => catalog_cache::product_related(product_id),
    };
    state
        .cached(&key, Framing::Bare, async |conn: &mut AsyncPgConnection| {
            let json = queries::product_document(conn, document, product_id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no product has id {product_id}")))?;
            Ok(Document::new(json.into(), Framing::Bare))
        })
        .await
}

/// The three routes of a product's documents, alike but for what they show.
macro_rules! product_document_route {
    ($(#[$doc:meta])* $handler:ident: $document:ident at $path:literal, $operation:literal, $shape:literal, $body:ty) => {
        $(#[$doc])*
        #[utoipa::path(
            get, path = $path, tag = "catwalk", operation_id = $operation,
            params(CatwalkProductPath),
            responses(ReadProblems,
                (status = 200, description = $shape, body = $body, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
                (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
            )
        )]
        pub async fn $handler(
            State(state): State<AppState>,
            ResourceId(id): ResourceId,
        ) -> AppResult<Response> {
            product_document(&state, ProductDocument::$document, id).await
        }
    };
}

product_document_route!(
    /// One product with its features.
    get_product: Product at "/products/{product_id}", "catwalk_get_product",
    "`{id, name, slogan, description, category, default_price, features: [{feature, value}]}`",
    CatwalkProduct
);

product_document_route!(
    /// A product's styles, with photos and SKUs.
    get_styles: Styles at "/products/{product_id}/styles", "catwalk_get_styles",
    "`{product_id, results: [{style_id, name, original_price, sale_price, default?, photos, skus}]}`",
    CatwalkStyles
);

product_document_route!(
    /// The ids of a product's related products.
    get_related: Related at "/products/{product_id}/related", "catwalk_get_related",
    "`[id, ...]`", Vec<i32>
);
