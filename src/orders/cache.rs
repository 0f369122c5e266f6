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

/// `orders:<user_id>:page:<page>:<limit>` (or `:all:` for an admin).
pub fn order_page(viewer: Viewer, page: Pagination, limits: &CacheLimits) -> CacheKey {
    let (user_id, namespace, scope) = viewer.scope();
    CacheKey::new(
        format!("orders:{user_id}:{scope}:{}:{}", page.page, page.limit),
        "orders",
        vec![namespace, catalog::cache::product_deletions()],
    )
    .on_page(page.page, limits.max_page)
}

/// `orders:<user_id>:<id>`.
pub fn order(viewer: Viewer, id: i32) -> CacheKey {
    let (user_id, namespace, _) = viewer.scope();
    CacheKey::new(
        format!("orders:{user_id}:{id}"),
        "orders",
        vec![namespace, catalog::cache::product_deletions()],
    )
}

/// An order of `owner` placed or changed: the owner's documents and the admins'.
pub fn order_changed(owner: i32) -> Retirement {
    Retirement::of([orders_of(owner), all_orders()])
}
