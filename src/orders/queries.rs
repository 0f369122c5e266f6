//! Every query on orders, their lines, and idempotency keys; and the stock
//! movements that orders make.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::models::{NewOrderLine, Order, OrderLine};
use crate::catalog::purchasable::Item;
use crate::domain::Pagination;
use crate::schema::{cart_items, idempotency_keys, order_lines, orders, products, skus};

/// A user's cart lines, locked, oldest first.
pub async fn lock_cart(
    conn: &mut AsyncPgConnection,
    user_id: i32,
) -> QueryResult<Vec<(Item, i32)>> {
    cart_items::table
        .filter(cart_items::user_id.eq(user_id))
        .order(cart_items::id)
        .select((
            cart_items::product_id,
            cart_items::sku_id,
            cart_items::quantity,
        ))
        .for_update()
        .load::<(i32, Option<i32>, i32)>(conn)
        .await
        .map(|rows| {
            rows.into_iter()
                .map(|(product_id, sku_id, quantity)| (Item { product_id, sku_id }, quantity))
                .collect()
        })
}

/// Takes `quantity` of an item if that much is there; false otherwise.
/// For a SKU, from the SKU and from its product's stock alike.
pub async fn take_stock(
    conn: &mut AsyncPgConnection,
    item: Item,
    quantity: i32,
) -> QueryResult<bool> {
    if let Some(sku_id) = item.sku_id {
        let taken = diesel::update(skus::table.find(sku_id).filter(skus::quantity.ge(quantity)))
            .set(skus::quantity.eq(skus::quantity - quantity))
            .execute(conn)
            .await?;
        if taken != 1 {
            return Ok(false);
        }
    }
    let taken = diesel::update(
        products::table
            .find(item.product_id)
            .filter(products::stock.ge(quantity)),
    )
    .set(products::stock.eq(products::stock - quantity))
    .execute(conn)
    .await?;
    Ok(taken == 1)
}

/// Locks the rows a cancellation puts stock back into, in the same order
/// checkout locks them (products by id, then SKUs by id).
pub async fn lock_for_restock(
    conn: &mut AsyncPgConnection,
    product_ids: &[i32],
    sku_ids: &[i32],
) -> QueryResult<()> {
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

/// Puts a line's quantity back (rows that were deleted meanwhile are skipped).
pub async fn return_stock(conn: &mut AsyncPgConnection, line: &OrderLine) -> QueryResult<()> {
    if let Some(sku_id) = line.sku_id {
        diesel::update(skus::table.find(sku_id))
            .set(skus::quantity.eq(skus::quantity + line.quantity))
            .execute(conn)
            .await?;
    }
    if let Some(product_id) = line.product_id {
        diesel::update(products::table.find(product_id))
            .set(products::stock.eq(products::stock + line.quantity))
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn insert_order(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    total: Decimal,
) -> QueryResult<Order> {
    diesel::insert_into(orders::table)
        .values((orders::user_id.eq(user_id), orders::total.eq(total)))
        .returning(Order::as_returning())
        .get_result(conn)
        .await
}

pub async fn insert_lines(conn: &mut AsyncPgConnection, lines: &[NewOrderLine]) -> QueryResult<()> {
    diesel::insert_into(order_lines::table)
        .values(lines)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn clear_cart(conn: &mut AsyncPgConnection, user_id: i32) -> QueryResult<()> {
    diesel::delete(cart_items::table.filter(cart_items::user_id.eq(user_id)))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find_order(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<Option<Order>> {
    orders::table
        .find(id)
        .select(Order::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn lock_order(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<Option<Order>> {
    orders::table
        .find(id)
        .select(Order::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn set_status(conn: &mut AsyncPgConnection, id: i32, status: &str) -> QueryResult<Order> {
    diesel::update(orders::table.find(id))
        .set(orders::status.eq(status))
        .returning(Order::as_returning())
        .get_result(conn)
        .await
}

/// The lines of `order_ids`, by order.
pub async fn lines_of(
    conn: &mut AsyncPgConnection,
    order_ids: &[i32],
) -> QueryResult<HashMap<i32, Vec<OrderLine>>> {
    let lines: Vec<OrderLine> = order_lines::table
        .filter(order_lines::order_id.eq_any(order_ids))
        .order((order_lines::order_id, order_lines::id))
        .select(OrderLine::as_select())
        .load(conn)
        .await?;
    let mut by_order: HashMap<i32, Vec<OrderLine>> = HashMap::new();
    for line in lines {
        by_order.entry(line.order_id).or_default().push(line);
    }
    Ok(by_order)
}

/// A page of orders, newest first: one user's, or everybody's.
pub async fn list_orders(
    conn: &mut AsyncPgConnection,
    user_id: Option<i32>,
    page: Pagination,
) -> QueryResult<(Vec<Order>, i64)> {
    let mut query = orders::table.select(Order::as_select()).into_boxed();
    let mut count = orders::table.count().into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(orders::user_id.eq(user_id));
        count = count.filter(orders::user_id.eq(user_id));
    }
    let rows = query
        .order(orders::id.desc())
        .limit(page.limit)
        .offset((page.page - 1) * page.limit)
        .load(conn)
        .await?;
    Ok((rows, count.get_result(conn).await?))
}

/// A remembered answer for (user, key), younger than `max_age_hours`.
pub async fn find_idempotent_answer(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &str,
    max_age_hours: i32,
) -> QueryResult<Option<(String, String)>> {
    // Forget expired keys first, so that they can be used afresh.
    diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 \
         AND created_at < now() - make_interval(hours => $3)",
    )
    .bind::<Int4, _>(user_id)
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<Int4, _>(max_age_hours)
    .execute(conn)
    .await?;
    idempotency_keys::table
        .find((user_id, key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await
        .optional()
}

pub async fn remember_answer(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &str,
    request_hash: &str,
    order_id: i32,
    response_body: &str,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::order_id.eq(order_id),
            idempotency_keys::response_body.eq(response_body),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The product ids an order's lines name (for retiring their caches).
pub async fn product_ids_of_order(
    conn: &mut AsyncPgConnection,
    order_id: i32,
) -> QueryResult<Vec<i32>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .filter(order_lines::product_id.is_not_null())
        .select(order_lines::product_id.assume_not_null())
        .load(conn)
        .await
}
