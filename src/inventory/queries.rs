//! The inventory's reads and writes of `products`' price and stock and of
//! `sku_offers` / `skus`. Locks are taken in id order (products, then SKUs).
//!
//! Hand-written SQL where the query builder cannot say it: `FOR UPDATE OF`
//! a joined table, the `sku_offers` view and an `EXISTS` subquery.

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Int4, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::{Item, Locking};

#[derive(QueryableByName)]
pub(super) struct ProductRow {
    #[diesel(sql_type = Int4)]
    pub id: i32,
    #[diesel(sql_type = Text)]
    pub product_name: String,
    #[diesel(sql_type = Numeric)]
    pub price: Decimal,
    #[diesel(sql_type = Int4)]
    pub stock: i32,
    #[diesel(sql_type = Bool)]
    pub has_skus: bool,
}

#[derive(QueryableByName)]
pub(super) struct SkuRow {
    #[diesel(sql_type = Int4)]
    pub sku_id: i32,
    #[diesel(sql_type = Int4)]
    pub product_id: i32,
    #[diesel(sql_type = Int4)]
    pub available: i32,
    #[diesel(sql_type = Numeric)]
    pub price: Decimal,
    #[diesel(sql_type = Text)]
    pub style_name: String,
    #[diesel(sql_type = Text)]
    pub size: String,
}

const PRODUCTS: &str = "SELECT p.id, p.product_name, p.price, p.stock, \
        EXISTS (SELECT 1 FROM sku_offers o WHERE o.product_id = p.id) AS has_skus \
     FROM products p WHERE p.id = ANY($1) ORDER BY p.id";
const PRODUCTS_LOCKED: &str = "SELECT p.id, p.product_name, p.price, p.stock, \
        EXISTS (SELECT 1 FROM sku_offers o WHERE o.product_id = p.id) AS has_skus \
     FROM products p WHERE p.id = ANY($1) ORDER BY p.id FOR UPDATE OF p";
const SKUS: &str = "SELECT sku_id, product_id, available, price, style_name, size \
     FROM sku_offers WHERE sku_id = ANY($1) ORDER BY sku_id";
const SKUS_LOCKED: &str = "SELECT o.sku_id, o.product_id, o.available, o.price, o.style_name, o.size \
     FROM sku_offers o JOIN skus k ON k.id = o.sku_id \
     WHERE o.sku_id = ANY($1) ORDER BY o.sku_id FOR UPDATE OF k";

pub(super) async fn products(
    conn: &mut AsyncPgConnection,
    ids: &[i32],
    locking: Locking,
) -> diesel::QueryResult<Vec<ProductRow>> {
    let sql = match locking {
        Locking::None => PRODUCTS,
        Locking::ForUpdate => PRODUCTS_LOCKED,
    };
    diesel::sql_query(sql)
        .bind::<Array<Int4>, _>(ids)
        .load(conn)
        .await
}

pub(super) async fn skus(
    conn: &mut AsyncPgConnection,
    ids: &[i32],
    locking: Locking,
) -> diesel::QueryResult<Vec<SkuRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match locking {
        Locking::None => SKUS,
        Locking::ForUpdate => SKUS_LOCKED,
    };
    diesel::sql_query(sql)
        .bind::<Array<Int4>, _>(ids)
        .load(conn)
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

/// A guarded decrement: of the SKU (its product's stock follows, by the
/// trigger), or of the product.
pub(super) async fn take(
    conn: &mut AsyncPgConnection,
    item: Item,
    quantity: i32,
) -> diesel::QueryResult<bool> {
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::schema::{products, skus};
    let taken = match item.sku_id {
        Some(sku_id) => {
            diesel::update(skus::table.find(sku_id).filter(skus::quantity.ge(quantity)))
                .set(skus::quantity.eq(skus::quantity - quantity))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(
                products::table
                    .find(item.product_id)
                    .filter(products::stock.ge(quantity)),
            )
            .set(products::stock.eq(products::stock - quantity))
            .execute(conn)
            .await?
        }
    };
    Ok(taken == 1)
}

/// Puts `quantity` back into the SKU (the product follows) or the product.
pub(super) async fn put_back(
    conn: &mut AsyncPgConnection,
    product_id: Option<i32>,
    sku_id: Option<i32>,
    quantity: i32,
) -> diesel::QueryResult<()> {
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::schema::{products, skus};
    match (sku_id, product_id) {
        (Some(sku_id), _) => {
            diesel::update(skus::table.find(sku_id))
                .set(skus::quantity.eq(skus::quantity + quantity))
                .execute(conn)
                .await?;
        }
        (None, Some(product_id)) => {
            diesel::update(products::table.find(product_id))
                .set(products::stock.eq(products::stock + quantity))
                .execute(conn)
                .await?;
        }
        (None, None) => {}
    }
    Ok(())
}
