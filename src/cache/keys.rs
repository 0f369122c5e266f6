//! How a cached document is named, what it depends on, and what a write
//! retires: the vocabulary every domain's `cache.rs` speaks. Nothing here
//! knows a domain; each domain declares its own keys (the formats of
//! API.md), namespaces and retirements with these types.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::rate_limit::ClientNetwork;

/// A family of data whose writes retire every document that shows it
/// (`product:42`, `categories`). Each has a version in Redis that a write
/// replaces, and a set of the writers in flight (each a marker that lapses
/// at its own time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Cow<'static, str>);

impl Namespace {
    /// A namespace with a fixed name.
    pub const fn fixed(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A namespace named at run time (`product:42`). Names hold neither `,`
    /// nor `|` (they are written into entries' headers).
    pub fn named(name: String) -> Self {
        debug_assert!(!name.contains([',', '|']), "{name}");
        Self(Cow::Owned(name))
    }

    pub fn name(&self) -> &str {
        &self.0
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
    Open { client: ClientNetwork },
    /// A document of something named, in one of very many renderings any
    /// client may ask for (a list page in another size than the default):
    /// kept within the asking client's budget, for a named document's life.
    Budgeted { client: ClientNetwork },
    /// Not kept (a page past `CACHE_MAX_PAGE`).
    Never,
}

/// A cacheable document: its key, the field when the key is a hash of
/// renderings, its family for the counters, what it depends on, and
/// whether it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub key: String,
    /// `Some(field)` when the key is a hash with one field per rendering.
    pub field: Option<&'static str>,
    /// The family its counters are kept under (`product`, `cart`, ...).
    pub kind: &'static str,
    pub depends_on: Vec<Namespace>,
    /// Whether its documents show more than its own namespaces (a list's
    /// products, see `Document::showing`).
    pub shows_loaded: bool,
    pub admission: Admission,
    /// Whether a miss may be loaded from a replica that has replayed the
    /// last acknowledged write (catalog and Catwalk documents; never a
    /// shopper's own cart or orders).
    pub replica_ok: bool,
}

impl CacheKey {
    pub fn new(key: String, kind: &'static str, depends_on: Vec<Namespace>) -> Self {
        Self {
            key,
            field: None,
            kind,
            depends_on,
            shows_loaded: false,
            admission: Admission::Always,
            replica_ok: false,
        }
    }

    /// Its misses may be loaded from a current replica.
    #[must_use]
    pub fn readable_on_replica(mut self) -> Self {
        self.replica_ok = true;
        self
    }

    /// Its documents name what they show ([`crate::cache::Document::showing`]).
    #[must_use]
    pub fn showing_what_it_loads(mut self) -> Self {
        self.shows_loaded = true;
        self
    }

    /// One rendering (`field`) of a document kept as a hash of renderings.
    #[must_use]
    pub fn rendering(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// Page `page` of a list: not kept past `max_page`.
    #[must_use]
    pub fn on_page(mut self, page: i64, max_page: i64) -> Self {
        if page > max_page {
            self.admission = Admission::Never;
        }
        self
    }

    /// A document never kept (answered from PostgreSQL every time).
    #[must_use]
    pub fn never_kept(mut self) -> Self {
        self.admission = Admission::Never;
        self
    }

    /// The document of an open-ended query asked by `client`, counted
    /// against its network's budget (an IPv6 client's /64 and its /48, as
    /// sign-ins are: a new address for each query buys nothing).
    #[must_use]
    pub fn open_for(self, client: &str) -> Self {
        self.counted_for(client, |client| Admission::Open { client })
    }

    /// A named document in one of its many renderings, asked by `client`:
    /// counted against its network's budget as an open-ended one is.
    #[must_use]
    pub fn budgeted_for(self, client: &str) -> Self {
        self.counted_for(client, |client| Admission::Budgeted { client })
    }

    /// A document kept (if at all) within `client`'s network's budget.
    fn counted_for(mut self, client: &str, admission: fn(ClientNetwork) -> Admission) -> Self {
        if self.admission == Admission::Always {
            self.admission = admission(ClientNetwork::of(client));
        }
        self
    }
}

/// What a write makes stale: the namespaces whose documents it retires,
/// and exact keys that hold only what it changed, deleted outright so that
/// `redis-cli` shows them gone (their versions already make them unreadable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retirement {
    pub namespaces: Vec<Namespace>,
    pub keys: Vec<String>,
}

impl Retirement {
    pub fn of(namespaces: impl IntoIterator<Item = Namespace>) -> Self {
        Self::default().and_namespaces(namespaces)
    }

    #[must_use]
    pub fn and_namespaces(mut self, namespaces: impl IntoIterator<Item = Namespace>) -> Self {
        push_new(&mut self.namespaces, namespaces);
        self
    }

    #[must_use]
    pub fn and_keys(mut self, keys: impl IntoIterator<Item = String>) -> Self {
        push_new(&mut self.keys, keys);
        self
    }

    /// Both retirements at once.
    #[must_use]
    pub fn and(self, other: Retirement) -> Self {
        self.and_namespaces(other.namespaces).and_keys(other.keys)
    }
}

/// Appends each of `items` that `list` does not hold yet (a write set is a
/// handful of entries: a scan beats hashing).
fn push_new<T: PartialEq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// A value as it appears in a key: `:` and `%` percent-encoded, so that a
/// key's parts can be told apart.
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
    fn a_retirement_names_each_namespace_and_key_once() {
        let first = Retirement::of([Namespace::fixed("a"), Namespace::named("b:1".into())])
            .and_keys(["b:1".to_owned()]);
        let both = first.and(Retirement::of([Namespace::fixed("a")]).and_keys(["b:1".into()]));
        assert_eq!(both.namespaces.len(), 2);
        assert_eq!(both.keys, ["b:1"]);
    }
}
