//! Every query on `orders` and `order_lines` (stock moves through the
//! inventory, cart lines through the cart, idempotency keys through
//! `idempotency`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::expression::functions::declare_sql_function;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Jsonb, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::domain::{OrderFilter, Status};
use super::models::{Order, OrderLine};
use crate::domain::Pagination;
use crate::schema::{order_lines, orders};

#[declare_sql_function]
extern "SQL" {
    /// Inserts an order and its lines; its id and time (migration
    /// `checkout_statements`).
    #[allow(clippy::too_many_arguments)]
    fn record_order(
        buyer: Int4,
        order_total: Numeric,
        address: Nullable<Jsonb>,
        line_products: Array<Nullable<Int4>>,
        line_skus: Array<Nullable<Int4>>,
        line_names: Array<Text>,
        line_prices: Array<Numeric>,
        line_quantities: Array<Int4>,
        line_styles: Array<Nullable<Text>>,
        line_sizes: Array<Nullable<Text>>,
    ) -> Record<(Int4, Timestamptz)>;
}

/// A new order, `placed` at the transaction's time, with `lines` (whose
/// `order_id` is set here), in one statement: the order as stored.
pub async fn insert_order(
    mut conn: &AsyncPgConnection,
    user_id: i32,
    total: Decimal,
    shipping_address: Option<serde_json::Value>,
    lines: &mut [OrderLine],
) -> QueryResult<Order> {
    let products: Vec<Option<i32>> = lines.iter().map(|line| line.product_id).collect();
    let skus: Vec<Option<i32>> = lines.iter().map(|line| line.line.sku_id).collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|line| line.line.product_name.as_str())
        .collect();
    let prices: Vec<Decimal> = lines.iter().map(|line| line.line.unit_price).collect();
    let quantities: Vec<i32> = lines.iter().map(|line| line.line.quantity).collect();
    let styles: Vec<Option<&str>> = lines
        .iter()
        .map(|line| line.line.style_name.as_deref())
        .collect();
    let sizes: Vec<Option<&str>> = lines.iter().map(|line| line.line.size.as_deref()).collect();
    let (id, placed_at): (i32, DateTime<Utc>) = diesel::select(record_order(
        user_id,
        total,
        shipping_address.clone(),
        products,
        skus,
        names,
        prices,
        quantities,
        styles,
        sizes,
    ))
    .get_result(&mut conn)
    .await?;
    for line in lines.iter_mut() {
        line.order_id = id;
    }
    Ok(Order {
        id,
        user_id,
        status: Status::Placed,
        total,
        created_at: placed_at,
        updated_at: placed_at,
        shipping_address,
        history: serde_json::json!([{"status": Status::Placed.as_str(), "at": placed_at}]),
    })
}

/// `[{status, at: now()}]`: one step of an order's history.
fn history_step(
    status: Status,
) -> diesel::expression::SqlLiteral<
    diesel::sql_types::Jsonb,
    impl diesel::query_builder::QueryFragment<diesel::pg::Pg>,
> {
    diesel::dsl::sql::<diesel::sql_types::Jsonb>("jsonb_build_array(jsonb_build_object('status', ")
        .bind::<diesel::sql_types::Text, _>(status.as_str())
        .sql("::text, 'at', now()))")
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

pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: i32,
    status: Status,
) -> QueryResult<Order> {
    diesel::update(orders::table.find(id))
        .set((
            orders::status.eq(status),
            orders::history.eq(orders::history.concat(history_step(status))),
        ))
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
/// A page of the orders `filter` names (of `filter.user_id`'s alone when
/// set), newest first: one past the limit.
pub async fn list_orders(
    conn: &mut AsyncPgConnection,
    filter: &OrderFilter,
    page: Pagination,
) -> QueryResult<(Vec<Order>, i64)> {
    let filtered = || {
        let mut query = orders::table.into_boxed();
        if let Some(user_id) = filter.user_id {
            query = query.filter(orders::user_id.eq(user_id));
        }
        if let Some(status) = filter.status {
            query = query.filter(orders::status.eq(status));
        }
        if let Some(from) = filter.from {
            query = query.filter(orders::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(orders::created_at.lt(to));
        }
        query
    };
    let count = filtered().count();
    // One past the limit, to tell whether more follow; after a cursor by
    // id instead of an OFFSET.
    let mut query = filtered()
        .select(Order::as_select())
        .order(orders::id.desc())
        .limit(page.limit + 1);
    query = match filter.after {
        Some(after) => query.filter(orders::id.lt(after)),
        None => query.offset(page.offset()),
    };
    let rows = query.load(conn).await?;
    Ok((rows, count.get_result(conn).await?))
}
