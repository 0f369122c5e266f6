//! Tag handlers: thin over the generic group flows (`catalog::groups`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::AdminUser;
use crate::catalog::dto::{TagBody, TagChangesBody, TagView};
use crate::catalog::groups::{self, Tags};
use crate::domain::PageQuery;
use crate::error::{AppResult, ProblemSchema};
use crate::extract::{ApiQuery, ResourceId, Valid};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems};
use crate::response::{Envelope, ListEnvelope, SourcedEnvelope};
use crate::state::AppState;

/// Lists tags, each with its first 100 products.
#[utoipa::path(
    get, path = "/tags", tag = "catalog",
    params(PageQuery),
    responses(
        ReadProblems,
        QueryProblems,
        (status = 200, description = "A page of tags", body = ListEnvelope<TagView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_tags(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> AppResult<Response> {
    groups::list::<Tags>(&state, query).await
}

/// One tag with its first 100 products.
#[utoipa::path(
    get, path = "/tags/{id}", tag = "catalog",
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Tag id")),
    responses(
        ReadProblems,
        (status = 200, description = "The tag", body = SourcedEnvelope<TagView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such tag", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_tag(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    groups::get::<Tags>(&state, id).await
}

/// Creates a tag.
#[utoipa::path(
    post, path = "/tags", tag = "catalog",
    security(("bearer" = [])),
    request_body = TagBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 201, description = "Created", body = Envelope<TagView>),
        (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create_tag(
    State(state): State<AppState>,
    _admin: AdminUser,
    Valid(name): Valid<TagBody>,
) -> AppResult<(StatusCode, Envelope<TagView>)> {
    groups::create::<Tags>(&state, name).await
}

/// Renames a tag.
#[utoipa::path(
    put, path = "/tags/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Tag id")),
    request_body = TagChangesBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 200, description = "The tag as it is now", body = Envelope<TagView>),
        (status = 404, description = "No such tag", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update_tag(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    Valid(name): Valid<TagChangesBody>,
) -> AppResult<Envelope<TagView>> {
    groups::rename::<Tags>(&state, id, name).await
}

/// Deletes a tag and its ProductTag rows.
#[utoipa::path(
    delete, path = "/tags/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Tag id")),
    responses(
        ReadProblems,
        AdminProblems,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such tag", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn delete_tag(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    groups::delete::<Tags>(&state, id).await
}
