//! The catalog's cached documents (API.md, "Redis keys"), what each depends
//! on, and what each kind of catalog write retires. Keys are normalized so
//! that equal queries share one.
//!
//! Namespaces: `products` (what every product list shows), `product:<id>`
//! (one product's documents), `product-embeds` (category and tag names shown
//! inside product documents), `categories`, `tags`, `catalog` (every product
//! document, for the bulk writers), `product-deletions` (order documents show
//! their lines' `product_id`, which a product's deletion sets to null),
//! `in-stock` (which products an `inStock` list holds).
//!
//! The catalog also declares the `product:<id>` family of keys that the
//! Catwalk API renders (`product:<id>` field `catwalk`, `:styles`,
//! `:related`): one place names every document of a product.

use super::domain::ProductFilter;
use crate::cache::{CacheKey, Namespace, Retirement, key_part};
use crate::config::CacheLimits;
use crate::domain::pagination::DEFAULT_LIMIT;
use crate::domain::text::{is_lower_as_postgres, lower_as_postgres};
use crate::domain::{Cursor, Name, Pagination};

/// Every product list (and every Catwalk page of products).
pub fn products() -> Namespace {
    Namespace::fixed("products")
}

/// One product's documents.
pub fn product(id: i32) -> Namespace {
    Namespace::named(format!("product:{id}"))
}

/// Whether products are in stock: what an `inStock` list's members are.
/// Moved when a product's stock may have crossed zero.
pub fn in_stock() -> Namespace {
    Namespace::fixed("in-stock")
}

/// The namespaces of these products, for a document that shows them (a
/// list page, a category, a cart): an order for one of them retires only
/// the documents that show it.
pub fn showing_products(ids: impl IntoIterator<Item = i32>) -> Vec<Namespace> {
    ids.into_iter().map(product).collect()
}

/// Category and tag names shown inside product documents.
pub fn product_embeds() -> Namespace {
    Namespace::fixed("product-embeds")
}

/// The namespaces of categories and of tags, named as their keys are.
pub const CATEGORIES: &str = "categories";
pub const TAGS: &str = "tags";

fn categories() -> Namespace {
    Namespace::fixed(CATEGORIES)
}

fn tags() -> Namespace {
    Namespace::fixed(TAGS)
}

/// Every product document at once, for the bulk writers (seed, import).
pub fn catalog() -> Namespace {
    Namespace::fixed("catalog")
}

/// Products deleted: documents that show a line's `product_id` depend on it.
pub fn product_deletions() -> Namespace {
    Namespace::fixed("product-deletions")
}

// ---- documents -------------------------------------------------------------

/// `products:<category>:<minPrice>:<maxPrice>:<inStock>:<page>:<limit>:<sortBy>:<order>`,
/// or, for a list with a search, a tag, several categories or a cursor,
/// `search:<hash of the normalized query>`. Such a list is open-ended (any
/// client can ask for endless variants): it is kept within `client`'s
/// budget, for an open-ended document's life.
pub fn product_list(filter: &ProductFilter, limits: &CacheLimits, client: &str) -> CacheKey {
    let key = product_list_key(filter).on_page(filter.page.page, limits.max_page);
    if under_search(filter) {
        key.open_for(client)
    } else if filter.min_price.is_some()
        || filter.max_price.is_some()
        || filter.page.limit != DEFAULT_LIMIT
        || filter.categories.iter().any(|name| !in_lower_case(name))
    {
        // A `products:` key lives as API.md says (1800 s). But with every
        // price, every size and every spelling of a name (`sHiRtS`) a
        // client could ask for endless pages (the whole cache): a price
        // range, a page of another size than the default, or a category
        // not in lower case is kept within the client's budget too.
        key.budgeted_for(client)
    } else {
        key
    }
}

/// Whether a name is written as its lower case: of a name's many
/// spellings, the one whose documents are bounded by the catalog (checked
/// without making the lower case: a list's read asks).
fn in_lower_case(name: &Name) -> bool {
    is_lower_as_postgres(name.as_str())
}

/// Whether the list is kept under `search:` rather than `products:`: a
/// search, tags, categories a nine-part key cannot name, or a cursor.
fn under_search(filter: &ProductFilter) -> bool {
    filter.search.is_some()
        || !filter.tags.is_empty()
        || categories_beyond_the_key(filter)
        || filter.after.is_some()
}

/// `products-total:<category>:<inStock>`: how many products a list of one
/// category (or all) matches, capped, kept apart from its pages. It depends
/// on what decides the members (as the pages do) and not on the stock the
/// pages show, so an order that retires a page leaves its count standing.
/// `None` for an open-ended list, whose count is loaded with its page.
pub fn product_total(filter: &ProductFilter) -> Option<CacheKey> {
    if open_ended(filter) {
        return None;
    }
    // Its category in lower case: API.md names no such key, the count is
    // the same for every spelling, and a name has endless spellings.
    let [category, _, _, in_stock, ..] = list_parts(filter, Spelling::Lowered);
    Some(
        CacheKey::new(
            format!("products-total:{category}:{in_stock}"),
            "products-total",
            list_depends_on(filter),
        )
        .readable_on_replica(),
    )
}

/// A list any client can vary without end (a search, a price range, tags,
/// several categories, a cursor).
fn open_ended(filter: &ProductFilter) -> bool {
    under_search(filter) || filter.min_price.is_some() || filter.max_price.is_some()
}

/// Whether the list's categories cannot stand in a nine-part key: more
/// than one, a value with a comma (which may name several), or a category
/// called like the key's placeholder for none (`any`: `category=Any` and no
/// category would share a key).
fn categories_beyond_the_key(filter: &ProductFilter) -> bool {
    filter.categories.len() > 1
        || filter
            .categories
            .iter()
            .any(|name| name.as_str().contains(',') || name.as_str().eq_ignore_ascii_case("any"))
}

/// How a key spells a list's categories.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spelling {
    /// As sent: a `products:` key, as API.md's example keeps `Shirts`.
    AsSent,
    /// In lower case: where no key shows them (a hash, a count).
    Lowered,
}

/// The parts of a `products:` key after its name, normalized as API.md
/// lists (money, `inStock`, `order`, defaults, `:` and `%` encoded). In a
/// `products:` key the category is kept as sent: its case is not among
/// API.md's normalizations, so `shirts` is a key of its own (the same
/// products, retired by the same writes).
fn list_parts(filter: &ProductFilter, spelling: Spelling) -> [String; 8] {
    let any = || "any".to_owned();
    [
        match filter.categories.as_slice() {
            [] => any(),
            [one] if spelling == Spelling::AsSent => key_part(one.as_str()),
            // Several go under `search:` (`categories_beyond_the_key`),
            // whose hash reads them again, by name.
            names => lowered(names),
        },
        filter.min_price.map_or_else(any, |money| money.shortest()),
        filter.max_price.map_or_else(any, |money| money.shortest()),
        filter
            .in_stock
            .map_or_else(any, |in_stock| in_stock.to_string()),
        filter.page.page.to_string(),
        filter.page.limit.to_string(),
        filter.sort_by.as_str().to_owned(),
        filter.order.as_str().to_owned(),
    ]
}

/// Names as a key holds them, compared without case: `Shirts` and `shirts`
/// are one query. Each value lower-cased and otherwise as sent, since what
/// it means depends on what exists: `Tops, Tees` is one category when one
/// is called that, else two (`group_ids`), so neither its commas nor its
/// spaces are normalized away; the values (a repeated parameter) in order,
/// apart (`|`, encoded within a value: a name may hold one).
fn lowered(names: &[Name]) -> String {
    let mut values: Vec<String> = names
        .iter()
        .map(|name| key_part(&lower_as_postgres(name.as_str())).replace('|', "%7C"))
        .collect();
    values.sort();
    values.join("|")
}

/// What decides a list's members and order (`products`; and for
/// `inStock`, `in-stock`). Its pages also show their products' own
/// namespaces (their stock): an order retires only the pages that show its
/// products.
fn list_depends_on(filter: &ProductFilter) -> Vec<Namespace> {
    let mut depends_on = vec![products()];
    if filter.in_stock.is_some() {
        depends_on.push(in_stock());
    }
    depends_on
}

fn product_list_key(filter: &ProductFilter) -> CacheKey {
    let depends_on = list_depends_on(filter);
    let key = if !under_search(filter) {
        let list = list_parts(filter, Spelling::AsSent).join(":");
        CacheKey::new(format!("products:{list}"), "products", depends_on)
    } else {
        let list = list_parts(filter, Spelling::Lowered).join(":");
        // The search matches case-insensitively, so its case is no part of the query.
        let search = filter
            .search
            .as_ref()
            .map(|search| lower_as_postgres(search.as_str()))
            .unwrap_or_default();
        let after = filter
            .after
            .as_ref()
            .map(Cursor::encode)
            .unwrap_or_default();
        // The categories again, by name: the list's own part says `any`
        // for none as for a category called so (`category=Any`).
        let normalized = format!(
            "{list}:categories={}:tags={}:q={search}:after={after}",
            lowered(&filter.categories),
            lowered(&filter.tags)
        );
        let digest = xxhash_rust::xxh3::xxh3_64(normalized.as_bytes());
        CacheKey::new(format!("search:{digest:016x}"), "search", depends_on)
    };
    key.showing_what_it_loads().readable_on_replica()
}

/// `product:<id>`, a hash with one field per rendering (`api`, `catwalk`).
fn product_document(id: i32, rendering: &'static str) -> CacheKey {
    CacheKey::new(
        format!("product:{id}"),
        "product",
        vec![product(id), product_embeds(), catalog()],
    )
    .rendering(rendering)
    .readable_on_replica()
}

/// `product:<id>`, the `/api` rendering.
pub fn product_api(id: i32) -> CacheKey {
    product_document(id, "api")
}

/// `product:<id>`, the Catwalk rendering.
pub fn product_catwalk(id: i32) -> CacheKey {
    product_document(id, "catwalk")
}

/// `product:<id>:styles` (Catwalk).
pub fn product_styles(id: i32) -> CacheKey {
    CacheKey::new(
        format!("product:{id}:styles"),
        "catwalk",
        vec![product(id), catalog()],
    )
    .readable_on_replica()
}

/// `product:<id>:related` (Catwalk): lists other products' ids, so a
/// deletion anywhere retires it.
pub fn product_related(id: i32) -> CacheKey {
    CacheKey::new(
        format!("product:{id}:related"),
        "catwalk",
        vec![product(id), product_deletions(), catalog()],
    )
    .readable_on_replica()
}

/// `<kind>:page:<page>:<limit>` (`categories:page:1:20`, `tags:page:1:20`):
/// a page of categories or tags; `<kind>:page:<page>:<limit>:bare` without
/// their products.
pub fn group_page(
    kind: &'static str,
    page: Pagination,
    after: Option<i32>,
    embed: bool,
    limits: &CacheLimits,
) -> CacheKey {
    // Without their products (`products=false`), a page is a document of its own.
    let bare = if embed { "" } else { ":bare" };
    let key = match after {
        None => format!("{kind}:page:{}:{}{bare}", page.page, page.limit),
        Some(id) => format!("{kind}:after:{id}:{}{bare}", page.limit),
    };
    let key = CacheKey::new(key, kind, vec![Namespace::fixed(kind), products()])
        .on_page(page.page, limits.max_page)
        .showing_what_it_loads()
        .readable_on_replica();
    // A page after a cursor names any id a client likes: never kept, so
    // that nobody can fill the cache with them.
    if after.is_some() {
        key.never_kept()
    } else {
        key
    }
}

/// `<kind>:<id>` (`categories:7`, `tags:7`): one category or tag.
/// Both show their first products (`showing_products`) and depend on
/// `products` for which products those are.
pub fn group(kind: &'static str, id: i32) -> CacheKey {
    CacheKey::new(
        format!("{kind}:{id}"),
        kind,
        vec![Namespace::fixed(kind), products()],
    )
    .showing_what_it_loads()
    .readable_on_replica()
}

// ---- what writes retire ----------------------------------------------------

/// The exact keys of one product's documents.
fn product_keys(id: i32) -> [String; 3] {
    [
        format!("product:{id}"),
        format!("product:{id}:styles"),
        format!("product:{id}:related"),
    ]
}

/// A change to products (a new one, or `ids` changed in any way): every
/// list and every category and tag (membership, order, names and prices),
/// and the documents of `ids` and whatever shows them (carts).
pub fn products_changed(ids: &[i32]) -> Retirement {
    Retirement::of([products(), categories(), tags()]).and(stock_changed(ids, false))
}

/// The stock of `ids` changed (an order, a cancellation): only their own
/// documents and those that show them; and `inStock` lists when a stock
/// may have crossed zero.
pub fn stock_changed(ids: &[i32], crossed_zero: bool) -> Retirement {
    let retired = Retirement::of(ids.iter().map(|id| product(*id)))
        .and_keys(ids.iter().flat_map(|id| product_keys(*id)));
    if crossed_zero {
        retired.and_namespaces([in_stock()])
    } else {
        retired
    }
}

/// A product's deletion: as a change, and the documents that showed its id.
pub fn product_deleted(id: i32) -> Retirement {
    products_changed(&[id]).and_namespaces([product_deletions()])
}

/// A new category (`categories`) or tag (`tags`): its own list; and, when
/// its name holds a comma, every product list, since a filter by that name
/// meant the groups its parts name until now.
pub fn group_created(kind: &'static str, name: &Name) -> Retirement {
    let retired = Retirement::of([Namespace::fixed(kind)]);
    if name.as_str().contains(',') {
        retired.and_namespaces([products()])
    } else {
        retired
    }
}

/// A category or tag renamed or deleted: the groups, every list (filters
/// and embeds use names) and every product document (they embed names).
pub fn group_changed() -> Retirement {
    Retirement::of([categories(), tags(), products(), product_embeds()])
}

/// A bulk writer (seed, import): everything the catalog shows, and (through
/// `product-deletions`) every order document, whose lines may lose their
/// product.
pub fn bulk_change() -> Retirement {
    group_changed().and_namespaces([catalog(), product_deletions()])
}

#[cfg(test)]
mod tests;
