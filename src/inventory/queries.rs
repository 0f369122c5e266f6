//! The inventory's reads and writes of `products`' price and stock and of
//! `sku_offers` / `skus`. Locks are taken in id order (products, then SKUs).
//!
//! Hand-written SQL where the query builder cannot say it (`FOR UPDATE OF`
//! a joined table, the `sku_offers` view); what checkout runs on every
//! order goes through the query builder or a SQL function, so that it is
//! prepared once per connection rather than planned on every call.

use diesel::expression::functions::declare_sql_function;
use diesel::sql_types::{Array, Int4, Nullable, Numeric, Text};
use diesel::{Queryable, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::{Item, Locking};

#[declare_sql_function]
extern "SQL" {
    /// Whether product `product` is sold by SKU (migration `checkout_statements`).
    fn sold_by_sku(product: Int4) -> Bool;
    /// Guarded decrements of stock; 0, or the 1-based index of the first
    /// short line (migration `checkout_statements`).
    fn take_stock(
        product_ids: Array<Int4>,
        sku_ids: Array<Nullable<Int4>>,
        quantities: Array<Int4>,
    ) -> Int4;
    /// Waits in turn for these products (migration `checkout_statements`).
    fn queue_for_products(product_ids: Array<Int4>) -> Int4;
}

#[derive(Queryable)]
pub(super) struct ProductRow {
    pub id: i32,
    pub product_name: String,
    pub price: Decimal,
    pub stock: i32,
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

const SKUS: &str = "SELECT sku_id, product_id, available, price, style_name, size \
     FROM sku_offers WHERE sku_id = ANY($1) ORDER BY sku_id";
const SKUS_LOCKED: &str = "SELECT o.sku_id, o.product_id, o.available, o.price, o.style_name, o.size \
     FROM sku_offers o JOIN skus k ON k.id = o.sku_id \
     WHERE o.sku_id = ANY($1) ORDER BY o.sku_id FOR UPDATE OF k";

/// Waits until the transactions ahead of this one that lock any of `ids`
/// are done (first come, first served), so that the row locks after it
/// are granted in order.
pub(super) async fn queue(mut conn: &AsyncPgConnection, ids: &[i32]) -> diesel::QueryResult<()> {
    diesel::select(queue_for_products(ids))
        .get_result::<i32>(&mut conn)
        .await
        .map(drop)
}

pub(super) async fn products(
    mut conn: &AsyncPgConnection,
    ids: &[i32],
    locking: Locking,
) -> diesel::QueryResult<Vec<ProductRow>> {
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::schema::products;
    let query = products::table
        .filter(products::id.eq_any(ids))
        .order(products::id)
        .select((
            products::id,
            products::product_name,
            products::price,
            products::stock,
            sold_by_sku(products::id),
        ));
    match locking {
        Locking::None => query.load(&mut conn).await,
        Locking::ForUpdate => query.for_update().load(&mut conn).await,
    }
}

pub(super) async fn skus(
    mut conn: &AsyncPgConnection,
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

/// Guarded decrements, in one statement: of each SKU (its product's stock
/// follows, by the trigger), or of each product. The first line that was
/// short, if any (the caller rolls back what the others took).
pub(super) async fn take(
    mut conn: &AsyncPgConnection,
    lines: &[(Item, i32)],
) -> diesel::QueryResult<Option<Item>> {
    let products: Vec<i32> = lines.iter().map(|(item, _)| item.product_id).collect();
    let skus: Vec<Option<i32>> = lines.iter().map(|(item, _)| item.sku_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|(_, quantity)| *quantity).collect();
    let short: i32 = diesel::select(take_stock(products, skus, quantities))
        .get_result(&mut conn)
        .await?;
    Ok(usize::try_from(short)
        .ok()
        .and_then(|short| short.checked_sub(1))
        .and_then(|index| lines.get(index))
        .map(|(item, _)| *item))
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
