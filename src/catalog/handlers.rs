//! Catalog handlers: extract, check, call a query, map to the wire.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::domain::ProductFilter;
use super::dto::{
    CategoryBody, CategoryChangesBody, CategoryView, CreateProductBody, ProductDetail,
    ProductListQuery, ProductView, TagBody, TagChangesBody, TagView, UpdateProductBody,
};
use super::{cache_keys, queries};
use crate::auth::AdminUser;
use crate::cache::CacheKey;
use crate::cache::Namespace;
use crate::domain::PageQuery;
use crate::error::{AppError, AppResult, FieldErrors, ProblemSchema};
use crate::extract::{ApiQuery, ClientAddress, ResourceId, Valid};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems};
use crate::response::{Document, Envelope, Framing, ListEnvelope, ListPage, SourcedEnvelope};
use crate::state::{AppState, DbWork};

/// Answers `key` through the cache, loading it with `load` on a miss.
async fn cached(
    state: &AppState,
    key: &CacheKey,
    load: impl for<'c> DbWork<'c, Document>,
) -> AppResult<Response> {
    state.cached(key, Framing::Envelope, load).await
}

// ---- categories ----------------------------------------------------------

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
    let mut errors = FieldErrors::new();
    let page = query.parse(&mut errors);
    errors.into_result(())?;
    cached(
        &state,
        &cache_keys::category_page(page.page, page.limit, &state.config.cache_limits),
        async |conn: &mut AsyncPgConnection| {
            let (rows, total) = queries::list_categories(conn, page).await?;
            Document::envelope_of(&ListPage {
                data: rows.into_iter().map(CategoryView::from).collect(),
                page: page.page,
                limit: page.limit,
                total,
                total_capped: false,
            })
        },
    )
    .await
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
    cached(
        &state,
        &cache_keys::category(id),
        async |conn: &mut AsyncPgConnection| {
            let record = queries::find_category(conn, id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no category has id {id}")))?;
            Document::envelope_of(&Envelope {
                data: CategoryView::from(record),
            })
        },
    )
    .await
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
    state
        .cache
        .write(vec![Namespace::Categories], async {
            let mut conn = state.conn().await?;
            let category = queries::insert_category(&mut conn, &name).await?;
            let record = queries::find_category(&mut conn, category.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("category {} vanished after insert", category.id))?;
            Ok((
                StatusCode::CREATED,
                Envelope {
                    data: record.into(),
                },
            ))
        })
        .await
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
    state
        .cache
        .write(Namespace::group_change(), async {
            let mut conn = state.conn().await?;
            if let Some(name) = name
                && queries::rename_category(&mut conn, id, &name)
                    .await?
                    .is_none()
            {
                return Err(AppError::not_found(format!("no category has id {id}")));
            }
            let record = queries::find_category(&mut conn, id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no category has id {id}")))?;
            Ok(Envelope {
                data: record.into(),
            })
        })
        .await
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
    state
        .cache
        .write(Namespace::group_change(), async {
            let mut conn = state.conn().await?;
            if !queries::delete_category(&mut conn, id).await? {
                return Err(AppError::not_found(format!("no category has id {id}")));
            }
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

// ---- tags ----------------------------------------------------------------

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
    let mut errors = FieldErrors::new();
    let page = query.parse(&mut errors);
    errors.into_result(())?;
    cached(
        &state,
        &cache_keys::tag_page(page.page, page.limit, &state.config.cache_limits),
        async |conn: &mut AsyncPgConnection| {
            let (rows, total) = queries::list_tags(conn, page).await?;
            Document::envelope_of(&ListPage {
                data: rows.into_iter().map(TagView::from).collect(),
                page: page.page,
                limit: page.limit,
                total,
                total_capped: false,
            })
        },
    )
    .await
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
    cached(
        &state,
        &cache_keys::tag(id),
        async |conn: &mut AsyncPgConnection| {
            let record = queries::find_tag(conn, id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no tag has id {id}")))?;
            Document::envelope_of(&Envelope {
                data: TagView::from(record),
            })
        },
    )
    .await
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
    state
        .cache
        .write(vec![Namespace::Tags], async {
            let mut conn = state.conn().await?;
            let tag = queries::insert_tag(&mut conn, &name).await?;
            let record = queries::find_tag(&mut conn, tag.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("tag {} vanished after insert", tag.id))?;
            Ok((
                StatusCode::CREATED,
                Envelope {
                    data: record.into(),
                },
            ))
        })
        .await
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
    state
        .cache
        .write(Namespace::group_change(), async {
            let mut conn = state.conn().await?;
            if let Some(name) = name
                && queries::rename_tag(&mut conn, id, &name).await?.is_none()
            {
                return Err(AppError::not_found(format!("no tag has id {id}")));
            }
            let record = queries::find_tag(&mut conn, id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no tag has id {id}")))?;
            Ok(Envelope {
                data: record.into(),
            })
        })
        .await
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
    state
        .cache
        .write(Namespace::group_change(), async {
            let mut conn = state.conn().await?;
            if !queries::delete_tag(&mut conn, id).await? {
                return Err(AppError::not_found(format!("no tag has id {id}")));
            }
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

// ---- products ------------------------------------------------------------

/// Lists products with their category and tags; filters, sorts and pages.
#[utoipa::path(
    get, path = "/products", tag = "catalog",
    params(ProductListQuery),
    responses(
        ReadProblems,
        QueryProblems,
        (status = 200, description = "A page of products", body = ListEnvelope<ProductView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiQuery(query): ApiQuery<ProductListQuery>,
) -> AppResult<Response> {
    let filter = ProductFilter::parse(&query)?;
    cached(
        &state,
        &cache_keys::product_list(&filter, &state.config.cache_limits, &client),
        async |conn: &mut AsyncPgConnection| {
            let category_id = match &filter.category {
                None => None,
                Some(name) => Some(
                    queries::find_category_by_name(conn, name.as_str())
                        .await?
                        .ok_or_else(|| {
                            AppError::validation(
                                "category",
                                format!("no category is named {name:?}"),
                            )
                        })?
                        .id,
                ),
            };
            let (rows, total, total_capped) =
                queries::list_products(conn, &filter, category_id).await?;
            Document::envelope_of(&ListPage {
                data: rows.into_iter().map(ProductView::from).collect(),
                page: filter.page.page,
                limit: filter.page.limit,
                total,
                total_capped,
            })
        },
    )
    .await
}

/// One product with its category, tags and features.
#[utoipa::path(
    get, path = "/products/{id}", tag = "catalog",
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Product id")),
    responses(
        ReadProblems,
        (status = 200, description = "The product", body = SourcedEnvelope<ProductDetail>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    cached(
        &state,
        &cache_keys::product(id),
        async |conn: &mut AsyncPgConnection| {
            let record = queries::find_product(conn, id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("no product has id {id}")))?;
            let features = queries::features_of_product(conn, id).await?;
            Document::envelope_of(&Envelope {
                data: ProductDetail::new(record, features),
            })
        },
    )
    .await
}

/// Creates a product and its ProductTag rows, all or nothing.
#[utoipa::path(
    post, path = "/products", tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateProductBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 201, description = "Created", body = Envelope<ProductView>),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    Valid(valid): Valid<CreateProductBody>,
) -> AppResult<(StatusCode, Envelope<ProductView>)> {
    state
        .cache
        .write(Namespace::product_change(None), async {
            let mut conn = state.conn().await?;
            let record = conn
                .transaction::<_, AppError, _>(async |conn| {
                    check_references(conn, valid.product.category_id, Some(&valid.tag_ids)).await?;
                    let product = queries::insert_product(conn, &valid.product).await?;
                    queries::replace_product_tags(conn, product.id, &valid.tag_ids).await?;
                    queries::find_product(conn, product.id)
                        .await?
                        .ok_or_else(|| {
                            anyhow::anyhow!("product vanished inside its transaction").into()
                        })
                })
                .await?;
            Ok((
                StatusCode::CREATED,
                Envelope {
                    data: record.into(),
                },
            ))
        })
        .await
}

/// Changes a product; fields left out stay, `tagIds` replaces the tag set.
#[utoipa::path(
    put, path = "/products/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Product id")),
    request_body = UpdateProductBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 200, description = "The product as it is now", body = Envelope<ProductView>),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    Valid(valid): Valid<UpdateProductBody>,
) -> AppResult<Envelope<ProductView>> {
    state
        .cache
        .write(Namespace::product_change(Some(id)), async {
            let mut conn = state.conn().await?;
            let record = conn
                .transaction::<_, AppError, _>(async |conn| {
                    check_references(
                        conn,
                        valid.changes.category_id.flatten(),
                        valid.tag_ids.as_deref(),
                    )
                    .await?;
                    queries::update_product(conn, id, &valid.changes)
                        .await?
                        .ok_or_else(|| AppError::not_found(format!("no product has id {id}")))?;
                    if let Some(tag_ids) = &valid.tag_ids {
                        queries::replace_product_tags(conn, id, tag_ids).await?;
                        queries::touch_product(conn, id).await?;
                    }
                    queries::find_product(conn, id).await?.ok_or_else(|| {
                        anyhow::anyhow!("product vanished inside its transaction").into()
                    })
                })
                .await?;
            Ok(Envelope {
                data: record.into(),
            })
        })
        .await
}

/// Deletes a product (its ProductTag rows and features go with it).
#[utoipa::path(
    delete, path = "/products/{id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Product id")),
    responses(
        ReadProblems,
        AdminProblems,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such product", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    state
        .cache
        .write(Namespace::product_deletion(id), async {
            let mut conn = state.conn().await?;
            if !queries::delete_product(&mut conn, id).await? {
                return Err(AppError::not_found(format!("no product has id {id}")));
            }
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

/// Names the unknown category and tags of a product write in one 422.
/// (The foreign keys still guard against a row deleted meanwhile.)
async fn check_references(
    conn: &mut AsyncPgConnection,
    category_id: Option<i32>,
    tag_ids: Option<&[i32]>,
) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    if let Some(category_id) = category_id
        && !queries::category_exists(conn, category_id).await?
    {
        errors.add("category_id", format!("no category has id {category_id}"));
    }
    if let Some(tag_ids) = tag_ids.filter(|ids| !ids.is_empty()) {
        let existing = queries::existing_tag_ids(conn, tag_ids).await?;
        for missing in tag_ids.iter().filter(|id| !existing.contains(id)) {
            errors.add("tagIds", format!("no tag has id {missing}"));
        }
    }
    errors.into_result(())
}
