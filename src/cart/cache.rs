//! The cart's cached document, `cart:<user_id>`, and what retires it.

use crate::cache::{CacheKey, Namespace, Retirement};
use crate::catalog;

/// One user's cart.
pub fn cart(user_id: i32) -> Namespace {
    Namespace::named(format!("cart:{user_id}"))
}

/// `cart:<user_id>`: today's prices and stock of its products, so it shows
/// their namespaces (an order of one of them retires it); catalog writes
/// retire it through the catalog's `products`.
pub fn cart_document(user_id: i32) -> CacheKey {
    CacheKey::new(
        format!("cart:{user_id}"),
        "cart",
        vec![cart(user_id), catalog::cache::products()],
    )
    .showing_what_it_loads()
}

/// Any change to a user's cart lines.
pub fn cart_changed(user_id: i32) -> Retirement {
    Retirement::of([cart(user_id)]).and_keys([format!("cart:{user_id}")])
}
