//! A product's variants as `/api` shows them: its styles with the price a
//! shopper pays for them (`style_offers`, the one place that rule is
//! written), their photos, and their SKUs with what is left (`sku_offers`);
//! and the price range of products sold by SKU, for list pages.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Int4, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::catalog::models::{Variant, VariantPhoto, VariantSku};

#[derive(QueryableByName)]
struct StyleRow {
    #[diesel(sql_type = Int4)]
    style_id: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Numeric)]
    original_price: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    sale_price: Option<Decimal>,
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(sql_type = Bool)]
    is_default: bool,
}

#[derive(QueryableByName)]
struct PhotoRow {
    #[diesel(sql_type = Int4)]
    style_id: i32,
    #[diesel(sql_type = Nullable<Text>)]
    thumbnail_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    url: Option<String>,
}

#[derive(QueryableByName)]
struct SkuRow {
    #[diesel(sql_type = Int4)]
    sku_id: i32,
    #[diesel(sql_type = Int4)]
    style_id: i32,
    #[diesel(sql_type = Text)]
    size: String,
    #[diesel(sql_type = Int4)]
    available: i32,
}

#[derive(QueryableByName)]
struct RangeRow {
    #[diesel(sql_type = Int4)]
    product_id: i32,
    #[diesel(sql_type = Numeric)]
    min_price: Decimal,
    #[diesel(sql_type = Numeric)]
    max_price: Decimal,
}

/// Product `product_id`'s styles, lowest ids first, each with its photos and
/// SKUs (empty for a product without styles).
pub async fn variants_of(
    conn: &mut AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Vec<Variant>> {
    let styles: Vec<StyleRow> = diesel::sql_query(
        "SELECT style_id, name, original_price, sale_price, price, is_default \
         FROM style_offers WHERE product_id = $1 ORDER BY style_id",
    )
    .bind::<Int4, _>(product_id)
    .load(conn)
    .await?;
    if styles.is_empty() {
        return Ok(Vec::new());
    }
    let style_ids: Vec<i32> = styles.iter().map(|style| style.style_id).collect();
    let photos: Vec<PhotoRow> = diesel::sql_query(
        "SELECT style_id, thumbnail_url, url FROM photos \
         WHERE style_id = ANY($1) ORDER BY style_id, id",
    )
    .bind::<Array<Int4>, _>(&style_ids)
    .load(conn)
    .await?;
    let skus: Vec<SkuRow> = diesel::sql_query(
        "SELECT sku_id, style_id, size, available FROM sku_offers \
         WHERE product_id = $1 ORDER BY sku_id",
    )
    .bind::<Int4, _>(product_id)
    .load(conn)
    .await?;
    let mut photos_of: HashMap<i32, Vec<VariantPhoto>> = HashMap::new();
    for photo in photos {
        photos_of
            .entry(photo.style_id)
            .or_default()
            .push(VariantPhoto {
                thumbnail_url: photo.thumbnail_url,
                url: photo.url,
            });
    }
    let mut skus_of: HashMap<i32, Vec<VariantSku>> = HashMap::new();
    for sku in skus {
        skus_of.entry(sku.style_id).or_default().push(VariantSku {
            sku_id: sku.sku_id,
            size: sku.size,
            stock: sku.available,
        });
    }
    Ok(styles
        .into_iter()
        .map(|style| Variant {
            photos: photos_of.remove(&style.style_id).unwrap_or_default(),
            skus: skus_of.remove(&style.style_id).unwrap_or_default(),
            style_id: style.style_id,
            name: style.name,
            original_price: style.original_price,
            sale_price: style.sale_price,
            price: style.price,
            is_default: style.is_default,
        })
        .collect())
}

/// For each of `product_ids` sold by SKU: the lowest and the highest price
/// a shopper pays for one of its SKUs. Products without SKUs are absent.
pub async fn price_ranges(
    conn: &mut AsyncPgConnection,
    product_ids: &[i32],
) -> diesel::QueryResult<HashMap<i32, (Decimal, Decimal)>> {
    let rows: Vec<RangeRow> = diesel::sql_query(
        "SELECT product_id, min(price) AS min_price, max(price) AS max_price \
         FROM sku_offers WHERE product_id = ANY($1) GROUP BY product_id",
    )
    .bind::<Array<Int4>, _>(product_ids)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.product_id, (row.min_price, row.max_price)))
        .collect())
}
