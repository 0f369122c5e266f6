//! The Catwalk documents, each built by PostgreSQL as the JSON text the
//! Atelier API answered (see the `catwalk_*_document` functions in the
//! migrations): no rows cross the wire to be re-assembled, a product's
//! styles with all their photos and SKUs are one round trip, and both the
//! call (a prepared statement) and the query inside the function (a cached
//! PL/pgSQL plan) are planned once per connection, not per request.

use diesel::expression::functions::declare_sql_function;
use diesel::sql_types::{BigInt, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[declare_sql_function]
extern "SQL" {
    fn catwalk_product_page(page_size: BigInt, skip: BigInt) -> Nullable<Text>;
    fn catwalk_product_document(product: Int4) -> Nullable<Text>;
    fn catwalk_styles_document(product: Int4) -> Nullable<Text>;
    fn catwalk_related_document(product: Int4) -> Nullable<Text>;
}

/// A page of products, lowest ids first.
pub async fn product_page(
    conn: &mut AsyncPgConnection,
    page: i64,
    count: i64,
) -> diesel::QueryResult<String> {
    let skip = (page - 1).saturating_mul(count);
    let document: Option<String> = diesel::select(catwalk_product_page(count, skip))
        .get_result(conn)
        .await?;
    Ok(document.unwrap_or_else(|| "[]".into()))
}

/// One of a product's documents.
#[derive(Debug, Clone, Copy)]
pub enum ProductDocument {
    /// The product with its features.
    Product,
    /// Its styles with their photos and SKUs, in the Atelier's shape
    /// (including its placeholders for a style with no photos or no SKUs).
    Styles,
    /// The ids of its related products.
    Related,
}

/// The document of product `product_id`; `None` when there is no such product.
pub async fn product_document(
    conn: &mut AsyncPgConnection,
    document: ProductDocument,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    match document {
        ProductDocument::Product => {
            diesel::select(catwalk_product_document(product_id))
                .get_result(conn)
                .await
        }
        ProductDocument::Styles => {
            diesel::select(catwalk_styles_document(product_id))
                .get_result(conn)
                .await
        }
        ProductDocument::Related => {
            diesel::select(catwalk_related_document(product_id))
                .get_result(conn)
                .await
        }
    }
}
