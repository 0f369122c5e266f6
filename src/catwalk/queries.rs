//! The Catwalk documents, each built by PostgreSQL in one query as the JSON
//! text the Atelier API answered: no rows cross the wire to be re-assembled,
//! and a product's styles with all their photos and SKUs are one round trip.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Json {
    #[diesel(sql_type = Nullable<Text>)]
    document: Option<String>,
}

async fn one_document(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    let rows: Vec<Json> = diesel::sql_query(sql)
        .bind::<Int4, _>(product_id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().and_then(|row| row.document))
}

/// A page of products, lowest ids first.
pub async fn product_page(
    conn: &mut AsyncPgConnection,
    page: i64,
    count: i64,
) -> diesel::QueryResult<String> {
    let row: Json = diesel::sql_query(
        "SELECT COALESCE(json_agg(json_build_object( \
                    'id', p.id, 'name', p.product_name, 'slogan', p.slogan, \
                    'description', p.description, 'category', c.category_name, \
                    'default_price', p.price::text) ORDER BY p.id), '[]'::json)::text AS document \
         FROM (SELECT * FROM products ORDER BY id LIMIT $1 OFFSET $2) p \
         LEFT JOIN categories c ON c.id = p.category_id",
    )
    .bind::<BigInt, _>(count)
    .bind::<BigInt, _>((page - 1).saturating_mul(count))
    .get_result(conn)
    .await?;
    Ok(row.document.unwrap_or_else(|| "[]".into()))
}

/// One product with its features; `None` when there is no such product.
pub async fn product(
    conn: &mut AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    one_document(
        conn,
        "SELECT json_build_object( \
             'id', p.id, 'name', p.product_name, 'slogan', p.slogan, \
             'description', p.description, 'category', c.category_name, \
             'default_price', p.price::text, \
             'features', COALESCE((SELECT json_agg(json_build_object( \
                             'feature', f.feature, 'value', f.value) ORDER BY f.id) \
                           FROM features f WHERE f.product_id = p.id), '[]'::json) \
         )::text AS document \
         FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = $1",
        product_id,
    )
    .await
}

/// A product's styles with their photos and SKUs, in the Atelier's shape
/// (including its placeholders for a style with no photos or no SKUs).
pub async fn styles(
    conn: &mut AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    one_document(
        conn,
        "SELECT json_build_object('product_id', p.id::text, 'results', COALESCE(( \
             SELECT json_agg(json_build_object( \
                 'style_id', s.id, 'name', s.name, \
                 'original_price', s.original_price::text, \
                 'sale_price', s.sale_price::text, \
                 'default?', s.is_default, \
                 'photos', COALESCE((SELECT json_agg(json_build_object( \
                                 'thumbnail_url', ph.thumbnail_url, 'url', ph.url) ORDER BY ph.id) \
                             FROM photos ph WHERE ph.style_id = s.id), \
                           '[{\"thumbnail_url\": null, \"url\": null}]'::json), \
                 'skus', COALESCE((SELECT json_object_agg(k.id::text, json_build_object( \
                                 'quantity', k.quantity, 'size', k.size) ORDER BY k.id) \
                             FROM skus k WHERE k.style_id = s.id), \
                           '{\"null\": {\"quantity\": null, \"size\": null}}'::json) \
             ) ORDER BY s.id) \
             FROM styles s WHERE s.product_id = p.id), '[]'::json))::text AS document \
         FROM products p WHERE p.id = $1",
        product_id,
    )
    .await
}

/// The ids of a product's related products.
pub async fn related(
    conn: &mut AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Option<String>> {
    one_document(
        conn,
        "SELECT COALESCE((SELECT json_agg(r.related_product_id ORDER BY r.id) \
                          FROM related_products r WHERE r.product_id = p.id), '[]'::json)::text \
                AS document \
         FROM products p WHERE p.id = $1",
        product_id,
    )
    .await
}
