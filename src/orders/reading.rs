//! Reading orders: a page of them through the cache, filtered, with its
//! `next` cursor, and orders as the API shows them (lines, and to an admin
//! the customer).

use std::collections::HashMap;

use axum::response::Response;
use diesel_async::AsyncPgConnection;

use super::cache::{self, Viewer};
use super::domain::OrderFilter;
use super::dto::{CustomerView, OrderView};
use super::models::Order;
use super::queries;
use crate::domain::Pagination;
use crate::error::{AppError, AppResult};
use crate::response::{Document, Framing, ListPage};
use crate::state::AppState;

/// Orders as the API shows them: with their lines and, to an admin, their
/// customers.
pub async fn views(
    conn: &mut AsyncPgConnection,
    orders: Vec<Order>,
    for_admin: bool,
) -> AppResult<Vec<OrderView>> {
    let ids: Vec<i32> = orders.iter().map(|order| order.id).collect();
    let mut lines = queries::lines_of(conn, &ids).await?;
    let mut customers = HashMap::new();
    if for_admin {
        let mut user_ids: Vec<i32> = orders.iter().map(|order| order.user_id).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        for user in crate::auth::queries::find_users(conn, &user_ids).await? {
            let customer = CustomerView {
                id: user.id,
                email: user.email,
                name: user.name,
            };
            customers.insert(user.id, customer);
        }
    }
    Ok(orders
        .into_iter()
        .map(|order| {
            let order_lines = lines.remove(&order.id).unwrap_or_default();
            let customer = customers.get(&order.user_id).cloned();
            OrderView {
                customer,
                ..OrderView::new(order, order_lines)
            }
        })
        .collect())
}

/// A page of the orders `viewer` may see that `filter` names, through the
/// cache. A customer sees their own orders only, and may not name another
/// customer (403).
pub async fn list(
    state: AppState,
    viewer: Viewer,
    page: Pagination,
    mut filter: OrderFilter,
) -> AppResult<Response> {
    // The key names the query as asked (a customer's own orders are not an
    // open-ended list: their key is theirs).
    let key = cache::order_page(viewer, page, &filter, &state.config.cache_limits);
    let asked = filter.clone();
    let for_admin = match viewer {
        Viewer::Admin(_) => true,
        Viewer::Owner(user_id) => {
            if filter.user_id.is_some_and(|asked| asked != user_id) {
                return Err(AppError::Forbidden(
                    "only an admin may list another customer's orders".into(),
                ));
            }
            filter.user_id = Some(user_id);
            false
        }
    };
    let skips = page.skips(filter.after.is_some());
    let deep_pages = state.deep_pages.clone();
    let read = async move {
        state
            .cached(
                &key,
                Framing::Envelope,
                async |conn: &mut AsyncPgConnection| {
                    let (orders, total) = queries::list_orders(conn, &filter, page).await?;
                    let mut listed = ListPage::from_rows(orders, page, total.total, |last| {
                        next_url(&asked, page, last.id)
                    });
                    listed.total_capped = total.capped;
                    let orders = std::mem::take(&mut listed.data);
                    let data = views(conn, orders, for_admin).await?;
                    Document::envelope_of(&listed.with_data(data))
                },
            )
            .await
    };
    deep_pages.read(skips, read).await
}

/// `/api/orders?...&after=<cursor>`: the same list, after order `last_id`.
fn next_url(filter: &OrderFilter, page: Pagination, last_id: i32) -> String {
    let cursor = crate::domain::Cursor {
        order: super::domain::ORDER_LIST_ORDER.to_owned(),
        value: None,
        id: last_id,
        page: crate::domain::Cursor::page_after(page.page),
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(status) = filter.status {
        query.append_pair("status", status.as_str());
    }
    if let Some(user_id) = filter.user_id {
        query.append_pair("user_id", &user_id.to_string());
    }
    let stamp =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if let Some(from) = filter.from {
        query.append_pair("from", &stamp(from));
    }
    if let Some(to) = filter.to {
        query.append_pair("to", &stamp(to));
    }
    query
        .append_pair("limit", &page.limit.to_string())
        .append_pair("after", &cursor.encode());
    format!("/api/orders?{}", query.finish())
}
