//! The catalog's cache keys (API.md, "Redis keys"), normalized so that equal
//! queries share one key.

use super::domain::ProductFilter;
use crate::cache::keys::key_part;
use crate::cache::{CacheKey, Kind, Namespace};
use crate::config::CacheLimits;

/// `products:<category>:<minPrice>:<maxPrice>:<inStock>:<page>:<limit>:<sortBy>:<order>`,
/// or, for a name search, `search:<hash of the normalized query>`. A name
/// search or a price range is open-ended (any client can ask for endless
/// variants): it is kept within `client`'s budget.
pub fn product_list(filter: &ProductFilter, limits: &CacheLimits, client: &str) -> CacheKey {
    let key = product_list_key(filter).on_page(filter.page.page, limits.max_page);
    let open_ended =
        filter.search.is_some() || filter.min_price.is_some() || filter.max_price.is_some();
    if open_ended {
        key.open_for(client)
    } else {
        key
    }
}

fn product_list_key(filter: &ProductFilter) -> CacheKey {
    let any = || "any".to_owned();
    let parts = [
        filter
            .category
            .as_ref()
            .map_or_else(any, |name| key_part(name.as_str())),
        filter.min_price.map_or_else(any, |money| money.shortest()),
        filter.max_price.map_or_else(any, |money| money.shortest()),
        filter
            .in_stock
            .map_or_else(any, |in_stock| in_stock.to_string()),
        filter.page.page.to_string(),
        filter.page.limit.to_string(),
        filter.sort_by.as_str().to_owned(),
        filter.order.as_str().to_owned(),
    ];
    let list = parts.join(":");
    match &filter.search {
        None => CacheKey::new(
            format!("products:{list}"),
            Kind::ProductList,
            vec![Namespace::ProductLists],
        ),
        Some(search) => {
            // The search matches case-insensitively, so its case is not part of the query.
            let normalized = format!("{list}:{}", search.as_str().to_lowercase());
            let digest = xxhash_rust::xxh3::xxh3_64(normalized.as_bytes());
            CacheKey::new(
                format!("search:{digest:016x}"),
                Kind::ProductSearch,
                vec![Namespace::ProductLists],
            )
        }
    }
}

/// `product:<id>`, the `/api` rendering.
pub fn product(id: i32) -> CacheKey {
    CacheKey::product(id, "api")
}

pub fn category_page(page: i64, limit: i64, limits: &CacheLimits) -> CacheKey {
    CacheKey::new(
        format!("categories:page:{page}:{limit}"),
        Kind::Category,
        vec![Namespace::Categories],
    )
    .on_page(page, limits.max_page)
}

pub fn category(id: i32) -> CacheKey {
    CacheKey::new(
        format!("categories:{id}"),
        Kind::Category,
        vec![Namespace::Categories],
    )
}

pub fn tag_page(page: i64, limit: i64, limits: &CacheLimits) -> CacheKey {
    CacheKey::new(
        format!("tags:page:{page}:{limit}"),
        Kind::Tag,
        vec![Namespace::Tags],
    )
    .on_page(page, limits.max_page)
}

pub fn tag(id: i32) -> CacheKey {
    CacheKey::new(format!("tags:{id}"), Kind::Tag, vec![Namespace::Tags])
}
