//! What a cached document is called and what it depends on.
//!
//! A [`CacheKey`] names the Redis key (without `REDIS_KEY_PREFIX`), the
//! [`Namespace`]s whose writes make it stale, and the [`Kind`] its counters
//! are kept under. Domains build their keys here, so that every key format
//! of API.md lives in one file.

use std::fmt::Write as _;

/// A family of data whose writes retire every document that shows it.
/// Each has a version in Redis (`version:<name>`) that a write replaces, and
/// a count of writers in flight (`pending:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Every page of `/api/products` (and of `/catwalk/products`).
    ProductLists,
    /// The documents of one product (detail, styles, related).
    Product(i32),
    /// What every product document embeds from elsewhere: category and tag names.
    ProductEmbeds,
    /// Every category document (each embeds its products).
    Categories,
    /// Every tag document (each embeds its products).
    Tags,
    /// One user's cart.
    Cart(i32),
    /// One user's order documents.
    Orders(i32),
    /// The order lists that show everybody's orders (the admins' view).
    AllOrders,
    /// Deleted products: order documents show their lines' `product_id`,
    /// which a product's deletion sets to null.
    ProductDeletions,
    /// Every product document: the bulk writers (seed, import) retire them
    /// all at once instead of one version per product.
    Catalog,
}

impl Namespace {
    pub fn name(&self) -> String {
        match self {
            Self::ProductLists => "products".into(),
            Self::Product(id) => format!("product:{id}"),
            Self::ProductEmbeds => "product-embeds".into(),
            Self::Categories => "categories".into(),
            Self::Tags => "tags".into(),
            Self::Cart(user_id) => format!("cart:{user_id}"),
            Self::Orders(user_id) => format!("orders:{user_id}"),
            Self::AllOrders => "orders".into(),
            Self::ProductDeletions => "product-deletions".into(),
            Self::Catalog => "catalog".into(),
        }
    }

    /// What a change to the catalog's products retires: every list, every
    /// category and tag (they embed products), and carts (they show prices
    /// and stock) through [`Namespace::ProductLists`].
    pub fn product_change(id: Option<i32>) -> Vec<Self> {
        let mut namespaces = vec![Self::ProductLists, Self::Categories, Self::Tags];
        namespaces.extend(id.map(Self::Product));
        namespaces
    }

    /// What deleting a product retires: what changing it does, and the
    /// order documents whose lines named it.
    pub fn product_deletion(id: i32) -> Vec<Self> {
        let mut namespaces = Self::product_change(Some(id));
        namespaces.push(Self::ProductDeletions);
        namespaces
    }

    /// What a bulk writer (seed, import) retires: everything the catalog
    /// shows, and the order documents whose lines may lose their product.
    pub fn bulk_change() -> Vec<Self> {
        let mut namespaces = Self::group_change();
        namespaces.extend([Self::Catalog, Self::ProductDeletions, Self::AllOrders]);
        namespaces
    }

    /// What renaming or deleting a category or tag retires: the groups
    /// themselves, every list (filters and embeds use names) and every
    /// product document (they embed names).
    pub fn group_change() -> Vec<Self> {
        vec![
            Self::Categories,
            Self::Tags,
            Self::ProductLists,
            Self::ProductEmbeds,
        ]
    }
}

/// The families counters are kept under, for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Product,
    ProductList,
    ProductSearch,
    Category,
    Tag,
    Cart,
    Orders,
    Catwalk,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Product,
        Kind::ProductList,
        Kind::ProductSearch,
        Kind::Category,
        Kind::Tag,
        Kind::Cart,
        Kind::Orders,
        Kind::Catwalk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::ProductList => "products",
            Self::ProductSearch => "search",
            Self::Category => "categories",
            Self::Tag => "tags",
            Self::Cart => "cart",
            Self::Orders => "orders",
            Self::Catwalk => "catwalk",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|kind| *kind == self).unwrap_or(0)
    }
}

/// Whether a loaded document is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A document of something named (a product, a category, a cart, a page
    /// of a list within `CACHE_MAX_PAGE`): there are as many as there are
    /// things, whoever asks.
    Always,
    /// A document of an open-ended query (a name search, a price range):
    /// kept only within the asking client's budget, and for a short life.
    Open { client: String },
    /// Not kept (a page past `CACHE_MAX_PAGE`).
    Never,
}

/// A cacheable document: its key, the field when the key is a hash of
/// renderings, what it depends on, and whether it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub key: String,
    /// `Some(field)` when the key is a hash with one field per rendering.
    pub field: Option<&'static str>,
    pub kind: Kind,
    pub depends_on: Vec<Namespace>,
    pub admission: Admission,
}

impl CacheKey {
    pub fn new(key: String, kind: Kind, depends_on: Vec<Namespace>) -> Self {
        Self {
            key,
            field: None,
            kind,
            depends_on,
            admission: Admission::Always,
        }
    }

    /// Page `page` of a list: not kept past `max_page`.
    #[must_use]
    pub fn on_page(mut self, page: i64, max_page: i64) -> Self {
        if page > max_page {
            self.admission = Admission::Never;
        }
        self
    }

    /// The document of an open-ended query asked by `client`.
    #[must_use]
    pub fn open_for(mut self, client: &str) -> Self {
        if self.admission == Admission::Always {
            self.admission = Admission::Open {
                client: client.to_owned(),
            };
        }
        self
    }

    /// `product:<id>`, a hash with one field per rendering (`api`, `catwalk`).
    pub fn product(id: i32, rendering: &'static str) -> Self {
        Self {
            key: format!("product:{id}"),
            field: Some(rendering),
            kind: Kind::Product,
            depends_on: vec![
                Namespace::Product(id),
                Namespace::ProductEmbeds,
                Namespace::Catalog,
            ],
            admission: Admission::Always,
        }
    }
}

/// A category name as it appears in a key: `:` and `%` percent-encoded, so
/// that every `products:` key has exactly nine parts.
pub fn key_part(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            ':' | '%' => {
                let _ = write!(encoded, "%{:02X}", character as u32);
            }
            other => encoded.push(other),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_in_names_are_encoded() {
        assert_eq!(key_part("Shirts"), "Shirts");
        assert_eq!(key_part("a:b%c"), "a%3Ab%25c");
        assert_eq!(key_part("Hats & Caps"), "Hats & Caps");
    }

    #[test]
    fn namespace_names_are_stable() {
        assert_eq!(Namespace::Product(7).name(), "product:7");
        assert_eq!(Namespace::ProductLists.name(), "products");
        assert_eq!(Namespace::Cart(3).name(), "cart:3");
    }
}
