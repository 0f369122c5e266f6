//! The Catwalk routes: the Atelier shapes exactly, no envelope, with
//! `X-Data-Source`, through the shared cache.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::queries;
use crate::cache::CacheKey;
use crate::catalog::cache as catalog_cache;
use crate::error::{AppError, AppResult, FieldErrors, ProblemSchema};
use crate::extract::{ApiQuery, ResourceId};
use crate::openapi::{QueryProblems, ReadProblems};
use crate::response::{Document, Framing};
use crate::state::AppState;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

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

/// A product's document: built by `load`, 404 when it gives nothing.
async fn bare(
    state: &AppState,
    key: CacheKey,
    load: fn(&mut AsyncPgConnection, i32) -> BoxFuture<'_, diesel::QueryResult<Option<String>>>,
    product_id: i32,
) -> AppResult<Response> {
    state
        .cached(&key, Framing::Bare, async |conn: &mut AsyncPgConnection| {
            let json = load(conn, product_id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no product has id {product_id}")))?;
            Ok(Document::new(json.into(), Framing::Bare))
        })
        .await
}

/// A page of products, lowest ids first.
#[utoipa::path(
    get, path = "/products", tag = "catwalk", operation_id = "catwalk_list_products",
    params(CatwalkPageQuery),
    responses(
        ReadProblems,
        QueryProblems,
        (status = 200, description = "`[{id, name, slogan, description, category, default_price}]`", body = Vec<serde_json::Value>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
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
        errors.add("page", "must be at least 1");
    }
    if !(1..=MAX_COUNT).contains(&count) {
        errors.add("count", format!("must be from 1 to {MAX_COUNT}"));
    }
    errors.into_result(())?;
    let key = super::cache::product_page(page, count, &state.config.cache_limits);
    state
        .cached(&key, Framing::Bare, async |conn: &mut AsyncPgConnection| {
            let json = queries::product_page(conn, page, count).await?;
            Ok(Document::new(json.into(), Framing::Bare))
        })
        .await
}

/// One product with its features.
#[utoipa::path(
    get, path = "/products/{product_id}", tag = "catwalk", operation_id = "catwalk_get_product",
    params(("product_id" = i32, Path, minimum = 1, maximum = 2147483647)),
    responses(
        ReadProblems,
        (status = 200, description = "`{id, name, slogan, description, category, default_price, features: [{feature, value}]}`", body = serde_json::Value,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    bare(
        &state,
        catalog_cache::product_catwalk(id),
        |conn, id| Box::pin(queries::product(conn, id)),
        id,
    )
    .await
}

/// A product's styles, with photos and SKUs.
#[utoipa::path(
    get, path = "/products/{product_id}/styles", tag = "catwalk", operation_id = "catwalk_get_styles",
    params(("product_id" = i32, Path, minimum = 1, maximum = 2147483647)),
    responses(
        ReadProblems,
        (status = 200, description = "`{product_id, results: [{style_id, name, original_price, sale_price, default?, photos, skus}]}`", body = serde_json::Value,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_styles(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    let key = catalog_cache::product_styles(id);
    bare(
        &state,
        key,
        |conn, id| Box::pin(queries::styles(conn, id)),
        id,
    )
    .await
}

/// The ids of a product's related products.
#[utoipa::path(
    get, path = "/products/{product_id}/related", tag = "catwalk", operation_id = "catwalk_get_related",
    params(("product_id" = i32, Path, minimum = 1, maximum = 2147483647)),
    responses(
        ReadProblems,
        (status = 200, description = "`[id, ...]`", body = Vec<i32>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_related(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    let key = catalog_cache::product_related(id);
    bare(
        &state,
        key,
        |conn, id| Box::pin(queries::related(conn, id)),
        id,
    )
    .await
}
