//! A product's variants as `/api` shows them: its styles with the price a
//! shopper pays for them (`style_offers`, the one place that rule is
//! written), their photos, and their SKUs with what is left (`sku_offers`);
//! and the price range of products sold by SKU, for list pages.

use std::collections::HashMap;

use diesel::expression::functions::declare_sql_function;
use diesel::prelude::*;
use diesel::sql_types::Numeric;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::catalog::models::{Variant, VariantPhoto, VariantSku};
use crate::schema::{photos, styles};
use crate::views::{sku_offers, style_offers};

#[declare_sql_function]
extern "SQL" {
    /// `min(numeric)` (diesel orders no `Numeric` of its own).
    #[aggregate]
    #[sql_name = "min"]
    fn lowest(price: Numeric) -> Nullable<Numeric>;
    /// `max(numeric)`.
    #[aggregate]
    #[sql_name = "max"]
    fn highest(price: Numeric) -> Nullable<Numeric>;
}

#[derive(Queryable)]
struct StyleRow {
    style_id: i32,
    name: String,
    original_price: Decimal,
    sale_price: Option<Decimal>,
    price: Decimal,
    is_default: bool,
}

#[derive(Queryable)]
struct PhotoRow {
    style_id: i32,
    thumbnail_url: Option<String>,
    url: Option<String>,
}

#[derive(Queryable)]
struct SkuRow {
    sku_id: i32,
    style_id: i32,
    size: String,
    available: i32,
}

/// Product `product_id`'s styles, lowest ids first, each with its photos and
/// SKUs; none for a product without SKUs (API.md: its styles, if any, sell
/// nothing: it is bought as a plain product). Three queries on this one
/// product, sent together (pipelined on `conn`).
pub async fn variants_of(
    conn: &AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Vec<Variant>> {
    let styles = async {
        let mut conn = conn;
        style_offers::table
            .filter(style_offers::product_id.eq(product_id))
            .order(style_offers::style_id)
            .select((
                style_offers::style_id,
                style_offers::name,
                style_offers::original_price,
                style_offers::sale_price,
                style_offers::price,
                style_offers::is_default,
            ))
            .load::<StyleRow>(&mut conn)
            .await
    };
    let photos = async {
        let mut conn = conn;
        photos::table
            .inner_join(styles::table)
            .filter(styles::product_id.eq(product_id))
            .order((photos::style_id, photos::id))
            .select((photos::style_id, photos::thumbnail_url, photos::url))
            .load::<PhotoRow>(&mut conn)
            .await
    };
    let skus = async {
        let mut conn = conn;
        sku_offers::table
            .filter(sku_offers::product_id.eq(product_id))
            .order(sku_offers::sku_id)
            .select((
                sku_offers::sku_id,
                sku_offers::style_id,
                sku_offers::size,
                sku_offers::available,
            ))
            .load::<SkuRow>(&mut conn)
            .await
    };
    let (styles, photos, skus) = futures_util::try_join!(styles, photos, skus)?;
    if skus.is_empty() {
        return Ok(Vec::new());
    }
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

/// For product `product_id`, sold by SKU: the lowest and the highest price
/// a shopper pays for one of its SKUs (`None` for a product without SKUs).
pub async fn price_range(
    conn: &AsyncPgConnection,
    product_id: i32,
) -> diesel::QueryResult<Option<(Decimal, Decimal)>> {
    let mut conn = conn;
    let (low, high): (Option<Decimal>, Option<Decimal>) = sku_offers::table
        .filter(sku_offers::product_id.eq(product_id))
        .select((lowest(sku_offers::price), highest(sku_offers::price)))
        .get_result(&mut conn)
        .await?;
    Ok(low.zip(high))
}

/// For each of `product_ids` sold by SKU: the lowest and the highest price
/// a shopper pays for one of its SKUs. Products without SKUs are absent.
pub async fn price_ranges(
    conn: &mut AsyncPgConnection,
    product_ids: &[i32],
) -> diesel::QueryResult<HashMap<i32, (Decimal, Decimal)>> {
    let rows: Vec<(i32, Option<Decimal>, Option<Decimal>)> = sku_offers::table
        .filter(sku_offers::product_id.eq_any(product_ids))
        .group_by(sku_offers::product_id)
        .select((
            sku_offers::product_id,
            lowest(sku_offers::price),
            highest(sku_offers::price),
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(product_id, low, high)| Some((product_id, (low?, high?))))
        .collect())
}
