//! Category and tag handlers: the same five routes for each kind of group,
//! declared once (`group_handlers!`) over the generic flows of
//! [`crate::catalog::groups`]. What differs is named at the two uses below.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::AdminUser;
use crate::catalog::dto::{
    CategoryBody, CategoryChangesBody, CategoryView, TagBody, TagChangesBody, TagView,
};
use crate::catalog::groups::{self, Categories, GroupListQuery, Tags};
use crate::error::{AppResult, ProblemSchema};
use crate::extract::{ApiQuery, ResourceId, Valid, path_id};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems};
use crate::response::{Created, Envelope, ListEnvelope, SourcedEnvelope};
use crate::state::AppState;

macro_rules! group_handlers {
    (
        $group:ident: $view:ident, $body:ident, $changes:ident at $all:literal, $one:literal by $id_param:ident;
        words: $page_of:literal, $the:literal, $no_such:literal, $as_now:literal;
        $(#[$list_doc:meta])* list: $list:ident;
        $(#[$get_doc:meta])* get: $get:ident;
        $(#[$create_doc:meta])* create: $create:ident;
        $(#[$update_doc:meta])* update: $update:ident;
        $(#[$delete_doc:meta])* delete: $delete:ident;
    ) => {
        $(#[$list_doc])*
        #[utoipa::path(
            get, path = $all, tag = "catalog",
            params(GroupListQuery),
            responses(ReadProblems, QueryProblems,
                (status = 200, description = $page_of, body = ListEnvelope<$view>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
            )
        )]
        pub async fn $list(
            State(state): State<AppState>,
            ApiQuery(query): ApiQuery<GroupListQuery>,
        ) -> AppResult<Response> {
            groups::list::<$group>(&state, query).await
        }

        $(#[$get_doc])*
        #[utoipa::path(
            get, path = $one, tag = "catalog",
            params($id_param),
            responses(ReadProblems,
                (status = 200, description = $the, body = SourcedEnvelope<$view>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
                (status = 404, description = $no_such, body = ProblemSchema, content_type = "application/problem+json"),
            )
        )]
        pub async fn $get(State(state): State<AppState>, ResourceId(id): ResourceId) -> AppResult<Response> {
            groups::get::<$group>(&state, id).await
        }

        $(#[$create_doc])*
        #[utoipa::path(
            post, path = $all, tag = "catalog", security(("bearer" = [])),
            request_body = $body,
            responses(ReadProblems, BodyProblems, AdminProblems,
                (status = 201, description = "Created", body = Envelope<$view>, headers(("Location" = String, description = "Where it is read"))),
                (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
            )
        )]
        pub async fn $create(
            State(state): State<AppState>,
            _admin: AdminUser,
            Valid(name): Valid<$body>,
        ) -> AppResult<Created<Envelope<$view>>> {
            groups::create::<$group>(&state, name).await
        }

        $(#[$update_doc])*
        #[utoipa::path(
            put, path = $one, tag = "catalog", security(("bearer" = [])),
            params($id_param),
            request_body = $changes,
            responses(ReadProblems, BodyProblems, AdminProblems,
                (status = 200, description = $as_now, body = Envelope<$view>),
                (status = 404, description = $no_such, body = ProblemSchema, content_type = "application/problem+json"),
                (status = 409, description = "The name is taken", body = ProblemSchema, content_type = "application/problem+json"),
            )
        )]
        pub async fn $update(
            State(state): State<AppState>,
            _admin: AdminUser,
            ResourceId(id): ResourceId,
            Valid(name): Valid<$changes>,
        ) -> AppResult<Envelope<$view>> {
            groups::rename::<$group>(&state, id, name).await
        }

        $(#[$delete_doc])*
        #[utoipa::path(
            delete, path = $one, tag = "catalog", security(("bearer" = [])),
            params($id_param),
            responses(ReadProblems, AdminProblems,
                (status = 204, description = "Deleted"),
                (status = 404, description = $no_such, body = ProblemSchema, content_type = "application/problem+json"),
            )
        )]
        pub async fn $delete(
            State(state): State<AppState>,
            _admin: AdminUser,
            ResourceId(id): ResourceId,
        ) -> AppResult<StatusCode> {
            groups::delete::<$group>(&state, id).await
        }
    };
}

path_id!(
    /// Category id
    CategoryPath(id)
);
path_id!(
    /// Tag id
    TagPath(id)
);

group_handlers! {
    Categories: CategoryView, CategoryBody, CategoryChangesBody at "/categories", "/categories/{id}" by CategoryPath;
    words: "A page of categories", "The category", "No such category", "The category as it is now";
    /// Lists categories, each with its first 100 products.
    list: list_categories;
    /// One category with its first 100 products.
    get: get_category;
    /// Creates a category.
    create: create_category;
    /// Renames a category (a partial update: a body without `category_name` changes nothing).
    update: update_category;
    /// Deletes a category; its products stay, with `category_id: null`.
    delete: delete_category;
}

group_handlers! {
    Tags: TagView, TagBody, TagChangesBody at "/tags", "/tags/{id}" by TagPath;
    words: "A page of tags", "The tag", "No such tag", "The tag as it is now";
    /// Lists tags, each with its first 100 products.
    list: list_tags;
    /// One tag with its first 100 products.
    get: get_tag;
    /// Creates a tag.
    create: create_tag;
    /// Renames a tag.
    update: update_tag;
    /// Deletes a tag and its ProductTag rows.
    delete: delete_tag;
}
