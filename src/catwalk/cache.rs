//! The Catwalk pages of products, `catwalk:products:<page>:<count>`. (A
//! product's own Catwalk documents are the catalog's `product:<id>` family,
//! declared in `catalog::cache`.)

use crate::cache::CacheKey;
use crate::catalog;
use crate::config::CacheLimits;

/// `catwalk:products:<page>:<count>`: shows products, so it goes with them.
pub fn product_page(page: i64, count: i64, limits: &CacheLimits) -> CacheKey {
    CacheKey::new(
        format!("catwalk:products:{page}:{count}"),
        "catwalk",
        vec![catalog::cache::products()],
    )
    .on_page(page, limits.max_page)
    .readable_on_replica()
}
