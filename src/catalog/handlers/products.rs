//! Product handlers: extract, call the query or the service, answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use diesel_async::AsyncPgConnection;

use crate::auth::AdminUser;
use crate::catalog::dto::{
    CreateProductBody, ProductDetail, ProductListQuery, ProductView, UpdateProductBody,
};
use crate::catalog::{cache, listing, queries, service};
use crate::error::{AppError, AppResult};
use crate::extract::{ApiQuery, Checked, ClientAddress, Lenient, ResourceId, path_id};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems, problems};
use crate::response::{Created, Document, Envelope, Framing, ListEnvelope, SourcedEnvelope};
use crate::state::AppState;

path_id!(
    /// Product id
    ProductPath(id)
);

problems!(NoSuchProduct: "404" => "No such product");
problems!(IdsUsedUp: "409" => "No new product id is left");

/// Lists products with their category and tags; filters, sorts and pages.
#[utoipa::path(
    get, path = "/products", tag = "catalog",
    params(ProductListQuery),
    responses(ReadProblems, QueryProblems,
        (status = 200, description = "A page of products", body = ListEnvelope<ProductView>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiQuery(query): ApiQuery<ProductListQuery>,
) -> AppResult<Response> {
    let filter = listing::list_filter(&state, &query).await?;
    listing::product_list(state, filter, client).await
}

/// One product with its category, tags and features.
#[utoipa::path(
    get, path = "/products/{id}", tag = "catalog",
    params(ProductPath),
    responses(ReadProblems, NoSuchProduct,
        (status = 200, description = "The product", body = SourcedEnvelope<ProductDetail>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    state
        .cached(
            &cache::product_api(id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                // Every query of the document in one round trip.
                let (record, features, variants) = futures_util::try_join!(
                    queries::find_product(conn, id),
                    queries::features_of_product(conn, id),
                    queries::variants_of(conn, id),
                )?;
                let record =
                    record.ok_or_else(|| AppError::not_found(format!("no product has id {id}")))?;
                Document::envelope_of(&Envelope {
                    data: ProductDetail::new(record, features, variants),
                })
            },
        )
        .await
}

/// Creates a product and its ProductTag rows, all or nothing.
#[utoipa::path(
    post, path = "/products", tag = "catalog", security(("bearer" = [])),
    request_body = CreateProductBody,
    responses(ReadProblems, BodyProblems, AdminProblems, IdsUsedUp,
        (status = 201, description = "Created", body = Envelope<ProductView>, headers(("Location" = String, description = "`/api/products/{id}`"))),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    Checked(valid): Checked<CreateProductBody>,
) -> AppResult<Created<Envelope<ProductView>>> {
    let record = service::create_product(&state, valid).await?;
    Ok(Created::at(
        format!("/api/products/{}", record.product.id),
        Envelope {
            data: record.into(),
        },
    ))
}

/// Changes a product; fields left out stay, `tagIds` replaces the tag set.
#[utoipa::path(
    put, path = "/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(ProductPath),
    request_body = UpdateProductBody,
    responses(ReadProblems, BodyProblems, AdminProblems, NoSuchProduct,
        (status = 200, description = "The product as it is now", body = Envelope<ProductView>),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    body: Lenient<UpdateProductBody>,
) -> AppResult<Envelope<ProductView>> {
    let record = service::change_product_as_sent(&state, id, body).await?;
    Ok(Envelope {
        data: record.into(),
    })
}

/// Deletes a product (its ProductTag rows and features go with it).
#[utoipa::path(
    delete, path = "/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(ProductPath),
    responses(ReadProblems, AdminProblems, NoSuchProduct,
        (status = 204, description = "Deleted"),
    )
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    service::delete_product(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
