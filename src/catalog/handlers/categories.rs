//! Category handlers: thin over the generic group flows (`catalog::groups`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::AdminUser;
use crate::catalog::dto::{CategoryBody, CategoryChangesBody, CategoryView};
use crate::catalog::groups::{self, Categories};
use crate::domain::PageQuery;
use crate::error::{AppResult, ProblemSchema};
use crate::extract::{ApiQuery, ResourceId, Valid};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems};
use crate::response::{Envelope, ListEnvelope, SourcedEnvelope};
use crate::state::AppState;

/// Lists categories, each with its first 100 products.
#[utoipa::path(
    get, path = "/categories", tag = "catalog",
    params(PageQuery),
    responses(
        ReadProblems,
        QueryProblems,
        (status = 200, description = "A page of categories", body = ListEnvelope<CategoryView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_categories(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> AppResult<Response> {
    groups::list::<Categories>(&state, query).await
}

/// One category with its first 100 products.
#[utoipa::path(
    get, path = "/categories/{id}", tag = "catalog",
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Category id")),
    responses(
        ReadProblems,
        (status = 200, description = "The category", body = SourcedEnvelope<CategoryView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such category", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_category(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    groups::get::<Categories>(&state, id).await
}

/// Creates a category.
#[utoipa::path(
    post, path = "/categories", tag = "catalog",
    security(("bearer" = [])),
    request_body = CategoryBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 201, description = "Created", body = Envelope<CategoryView>),
        (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    Valid(name): Valid<CategoryBody>,
) -> AppResult<(StatusCode, Envelope<CategoryView>)> {
    groups::create::<Categories>(&state, name).await
}

/// Renames a category (a partial update: a body without `category_name` changes nothing).
#[utoipa::path(
    put, path = "/categories/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Category id")),
    request_body = CategoryChangesBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 200, description = "The category as it is now", body = Envelope<CategoryView>),
        (status = 404, description = "No such category", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    Valid(name): Valid<CategoryChangesBody>,
) -> AppResult<Envelope<CategoryView>> {
    groups::rename::<Categories>(&state, id, name).await
}

/// Deletes a category; its products stay, with `category_id: null`.
#[utoipa::path(
    delete, path = "/categories/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Category id")),
    responses(
        ReadProblems,
        AdminProblems,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such category", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn delete_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    groups::delete::<Categories>(&state, id).await
}
