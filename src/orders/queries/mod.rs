//! Every query on `orders` and `order_lines` (stock moves through the
//! inventory, cart lines through the cart, idempotency keys through
//! `idempotency`).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::domain::{OrderFilter, Status};
use super::models::{Order, OrderLine};
use crate::domain::Pagination;
use crate::domain::pagination::{TOTAL_CAP, Total};
use crate::schema::{order_lines, orders};

mod placing;

pub use placing::{Placed, PlacedAtOnce, place, place_at_once};

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

/// Orders still `placed` that were placed more than `life` ago, with ids
/// above `after`, at most `limit` of them, by id: (id, owner).
pub async fn unpaid_for(
    conn: &mut AsyncPgConnection,
    life: std::time::Duration,
    after: i32,
    limit: i64,
) -> QueryResult<Vec<(i32, i32)>> {
    // PostgreSQL's clock, which set `created_at` (`now()`), not this
    // node's, which may be off.
    let placed_before =
        diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now() - make_interval(secs => ")
            .bind::<diesel::sql_types::Double, _>(life.as_secs_f64())
            .sql(")");
    orders::table
        .filter(orders::status.eq(Status::Placed))
        .filter(orders::created_at.lt(placed_before))
        .filter(orders::id.gt(after))
        .order(orders::id)
        .select((orders::id, orders::user_id))
        .limit(limit)
        .load(conn)
        .await
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
) -> QueryResult<(Vec<Order>, Total)> {
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
    // Counted up to one past the cap, as the product lists are: an admin's
    // list of every order would otherwise count them all on each miss.
    let counted = filtered().select(orders::id).limit(TOTAL_CAP + 1);
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
    let matched = counted.load::<i32>(conn).await?.len() as i64;
    Ok((rows, Total::of_matched(matched)))
}
