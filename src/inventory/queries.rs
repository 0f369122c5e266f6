//! The inventory's reads and writes of `products`' price and stock and of
//! `sku_offers` / `skus`. Locks are taken in id order (products, then SKUs).
//!
//! What checkout runs on every order goes through the query builder (the
//! `sku_offers` view is declared in `crate::views`), so that it is prepared
//! once per connection rather than planned on every call.

use diesel::Queryable;
use diesel::sql_types::{Array, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

#[derive(Queryable)]
pub(super) struct ProductRow {
    pub id: i32,
    pub product_name: String,
    pub price: Decimal,
    pub stock: i32,
    pub has_skus: bool,
}

#[derive(Queryable)]
pub(super) struct SkuRow {
    pub sku_id: i32,
    pub product_id: i32,
    pub available: i32,
    pub price: Decimal,
    pub style_name: String,
    pub size: String,
}

pub(super) async fn products(
    mut conn: &AsyncPgConnection,
    ids: &[i32],
) -> diesel::QueryResult<Vec<ProductRow>> {
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::schema::products;
    use crate::views::sku_offers;
    // Whether the product is sold by SKU (some style of it has one), as a
    // subquery of this prepared statement: planned once per connection.
    // (The SQL function `sold_by_sku` was not inlined, for its body holds
    // a sublink, and a SQL function that is not inlined is parsed and
    // planned again at every execution of the query that calls it: 15% of
    // PostgreSQL's time per order.)
    let has_skus = diesel::dsl::exists(
        sku_offers::table
            .filter(sku_offers::product_id.eq(products::id))
            .select(sku_offers::sku_id),
    );
    products::table
        .filter(products::id.eq_any(ids))
        .order(products::id)
        .select((
            products::id,
            products::product_name,
            products::price,
            products::stock,
            has_skus,
        ))
        .load(&mut conn)
        .await
}

pub(super) async fn skus(
    mut conn: &AsyncPgConnection,
    ids: &[i32],
) -> diesel::QueryResult<Vec<SkuRow>> {
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::views::sku_offers;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sku_offers::table
        .filter(sku_offers::sku_id.eq_any(ids))
        .order(sku_offers::sku_id)
        .select((
            sku_offers::sku_id,
            sku_offers::product_id,
            sku_offers::available,
            sku_offers::price,
            sku_offers::style_name,
            sku_offers::size,
        ))
        .load(&mut conn)
        .await
}

/// Locks products, then SKUs, by id.
pub(super) async fn lock(
    conn: &mut AsyncPgConnection,
    product_ids: &[i32],
    sku_ids: &[i32],
) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT id FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind::<Array<Int4>, _>(product_ids)
        .execute(conn)
        .await?;
    diesel::sql_query("SELECT id FROM skus WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind::<Array<Int4>, _>(sku_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts `quantity` back into the SKU (the product follows) or the product.
/// A stock that would pass `i32::MAX` (an admin may set a product's stock
/// near it) stays at `i32::MAX`, as the SKUs' sum does in the product: a
/// cancellation never fails on an overflow.
pub(super) async fn put_back(
    conn: &mut AsyncPgConnection,
    product_id: Option<i32>,
    sku_id: Option<i32>,
    quantity: i32,
) -> diesel::QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::Int4;
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::schema::{products, skus};
    let capped = |column: &str| {
        sql::<Int4>(&format!("LEAST({column}::bigint + "))
            .bind::<Int4, _>(quantity)
            .sql(", 2147483647)::int4")
    };
    match (sku_id, product_id) {
        (Some(sku_id), _) => {
            diesel::update(skus::table.find(sku_id))
                .set(skus::quantity.eq(capped("quantity")))
                .execute(conn)
                .await?;
        }
        (None, Some(product_id)) => {
            diesel::update(products::table.find(product_id))
                .set((
                    products::stock.eq(capped("stock")),
                    products::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
        }
        (None, None) => {}
    }
    Ok(())
}
