//! The order documents (`orders:<user_id>:...`) and what retires them.
//!
//! A customer's documents depend on `orders:<user_id>` (their own view), an
//! admin's on `orders` (everybody's), and both on the catalog's
//! `product-deletions` (a line's `product_id` becomes null when its product
//! is deleted).

use crate::cache::{CacheKey, Namespace, Retirement};
use crate::catalog;
use crate::config::CacheLimits;
use crate::domain::Pagination;

use super::domain::OrderFilter;

/// One user's orders.
pub fn orders_of(user_id: i32) -> Namespace {
    Namespace::named(format!("orders:{user_id}"))
}

/// The lists of everybody's orders (the admins' view).
pub fn all_orders() -> Namespace {
    Namespace::fixed("orders")
}

/// Whose orders a reader sees: their own, or (an admin) everybody's.
#[derive(Debug, Clone, Copy)]
pub enum Viewer {
    Owner(i32),
    Admin(i32),
}

impl Viewer {
    fn scope(self) -> (i32, Namespace, &'static str) {
        match self {
            Self::Owner(user_id) => (user_id, orders_of(user_id), "page"),
            Self::Admin(user_id) => (user_id, all_orders(), "all"),
        }
    }
}

/// What a viewer's order documents depend on: their scope's orders, the
/// products deleted (a line's `product_id`), and for an admin the accounts
/// (each order names its customer).
fn depends_on(viewer: Viewer, namespace: Namespace) -> Vec<Namespace> {
    let mut depends_on = vec![namespace, catalog::cache::product_deletions()];
    if matches!(viewer, Viewer::Admin(_)) {
        depends_on.push(crate::auth::cache::accounts());
    }
    depends_on
}

/// `orders:<user_id>:page:<page>:<limit>` (or `:all:` for an admin), with
/// `:<status>` when filtered by one. A list of one customer's or of a time
/// range is open-ended: answered from PostgreSQL and never kept.
pub fn order_page(
    viewer: Viewer,
    page: Pagination,
    filter: &OrderFilter,
    limits: &CacheLimits,
) -> CacheKey {
    let (user_id, namespace, scope) = viewer.scope();
    let status = filter
        .status
        .map_or(String::new(), |status| format!(":{}", status.as_str()));
    let key = CacheKey::new(
        format!(
            "orders:{user_id}:{scope}:{}:{}{status}",
            page.page, page.limit
        ),
        "orders",
        depends_on(viewer, namespace),
    )
    .on_page(page.page, limits.max_page);
    if filter.is_open_ended() {
        key.never_kept()
    } else {
        key
    }
}

/// `orders:<user_id>:<id>` for its owner, `orders:<user_id>:all:<id>` for
/// an admin: the two renderings differ (an admin's names the customer), and
/// a user whose role changed must never be served the other one.
pub fn order(viewer: Viewer, id: i32) -> CacheKey {
    let (user_id, namespace, scope) = viewer.scope();
    let key = match viewer {
        Viewer::Owner(_) => format!("orders:{user_id}:{id}"),
        Viewer::Admin(_) => format!("orders:{user_id}:{scope}:{id}"),
    };
    CacheKey::new(key, "orders", depends_on(viewer, namespace))
}

/// An order of `owner` placed or changed: the owner's documents and the admins'.
pub fn order_changed(owner: i32) -> Retirement {
    Retirement::of([orders_of(owner), all_orders()])
}
