//! The product list's read: a query's filter resolved (every unknown
//! category or tag named at once), and a page of products through the
//! cache, with its count kept apart and the URL of the next page.

use axum::response::Response;
use diesel_async::AsyncPgConnection;

use super::cache;
use super::domain::{ProductFilter, SortBy};
use super::dto::{ProductListQuery, ProductView};
use super::queries::{self, Categories, GroupTable, ListScope, Tags, Total};
use crate::cache::{CacheKey, Document, Framing};
use crate::domain::Name;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::response::ListPage;
use crate::state::AppState;

/// A page of products matching `filter` (a category or tag named but
/// missing is a 422), with the URL of the next page, answered through the
/// cache. A miss takes the list's count from the cache too, where it is
/// kept apart ([`cache::product_total`]): an order retires the pages that
/// show its product, and the count, which it does not change, need not be
/// taken again (it is most of a page's load).
pub async fn product_list(
    state: AppState,
    filter: ProductFilter,
    client: String,
) -> AppResult<Response> {
    let (deep_pages, skips) = (state.deep_pages.clone(), filter.skips());
    let read = async move { page_of_products(&state, &filter, &client).await };
    deep_pages.read(skips, read).await
}

async fn page_of_products(
    state: &AppState,
    filter: &ProductFilter,
    client: &str,
) -> AppResult<Response> {
    let key = cache::product_list(filter, &state.config.cache_limits, client);
    state
        .cache
        .respond(&key, Framing::Envelope, async |at| {
            // A search the cache missed reads in one of the searches' slots.
            let searched = filter.search.is_some();
            let _slot = state.deep_pages.search_slot(searched).await?;
            let total = match cache::product_total(filter) {
                Some(key) => cached_total(state, &key, filter).await?,
                None => None,
            };
            state
                .read_replayed(at, async |conn: &mut AsyncPgConnection| {
                    let scope = list_scope(conn, filter).await?;
                    let page = queries::list_products(conn, filter, &scope, total).await?;
                    let data = page.records.into_iter().map(ProductView::from).collect();
                    let page = ListPage {
                        total_capped: page.total_capped,
                        has_next: page.has_next,
                        next: page.next.map(|cursor| next_url(filter, &cursor)),
                        ..ListPage::of(data, filter.page, page.total)
                    };
                    let shows =
                        cache::showing_products(page.data.iter().map(|product| product.fields.id));
                    Ok(Document::envelope_of(&page)?.showing(shows))
                })
                .await
        })
        .await
}

/// The count of a list through the cache; `None` (count it with the page)
/// when the entry is not one this version wrote.
async fn cached_total(
    state: &AppState,
    key: &CacheKey,
    filter: &ProductFilter,
) -> AppResult<Option<Total>> {
    let (document, _) = state
        .cache
        .read(key, Framing::Bare, |at| {
            state.read_replayed(at, async |conn: &mut AsyncPgConnection| {
                let scope = list_scope(conn, filter).await?;
                let total = queries::count_products(conn, filter, &scope).await?;
                Ok(Document::bare(&total).map_err(anyhow::Error::from)?)
            })
        })
        .await?;
    Ok(serde_json::from_slice(&document.bytes).ok())
}

/// The filter a product list's query asks for. A 422 also names its
/// categories and tags that name nothing (API.md: every bad parameter at
/// once; a good query has them checked by the list itself).
pub async fn list_filter(state: &AppState, query: &ProductListQuery) -> AppResult<ProductFilter> {
    let mut errors = match query.parse() {
        Err(AppError::Validation(errors)) => errors,
        parsed => return parsed,
    };
    let (categories, tags) = query.group_names();
    let unnamed =
        |field: &str, names: Vec<Name>| if errors.has(field) { Vec::new() } else { names };
    let (categories, tags) = (unnamed("category", categories), unnamed("tag", tags));
    if categories.is_empty() && tags.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let unknown = state
        .read_briefly(async |conn: &mut AsyncPgConnection| {
            let mut unknown = FieldErrors::new();
            group_ids::<Categories>(conn, "category", &categories, &mut unknown).await?;
            group_ids::<Tags>(conn, "tag", &tags, &mut unknown).await?;
            Ok(unknown)
        })
        .await;
    if let Some(unknown) = unknown {
        errors.add_unnamed(unknown);
    }
    Err(AppError::Validation(errors))
}

/// What `filter` names, resolved: its categories and tags (every unknown
/// name is a 422, all at once) and, for a search, the categories whose
/// names match and the words as names spell them.
async fn list_scope(conn: &mut AsyncPgConnection, filter: &ProductFilter) -> AppResult<ListScope> {
    let mut errors = FieldErrors::new();
    let scope = ListScope {
        category_ids: group_ids::<Categories>(conn, "category", &filter.categories, &mut errors)
            .await?,
        tag_ids: group_ids::<Tags>(conn, "tag", &filter.tags, &mut errors).await?,
        search_categories: match &filter.search {
            Some(search) => queries::categories_matching(conn, search.as_str()).await?,
            None => Vec::new(),
        },
        spellings: match &filter.search {
            Some(search) => queries::spellings(conn, search.as_str()).await?,
            None => None,
        },
    };
    errors.into_result(scope)
}

/// The ids of the groups `names` names (`None` when it names none); each
/// unknown name is recorded against `field`.
async fn group_ids<G: GroupTable>(
    conn: &mut AsyncPgConnection,
    field: &str,
    names: &[Name],
    errors: &mut FieldErrors,
) -> AppResult<Option<Vec<i32>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(names.len());
    for value in names {
        // A value is one name, or (when no group is called that) several,
        // comma-separated: a name may hold a comma.
        if let Some(id) = G::id_by_name(conn, value.as_str()).await? {
            ids.push(id);
            continue;
        }
        let parts: Vec<&str> = value.as_str().split(',').map(str::trim).collect();
        if parts.len() == 1 {
            errors.add(field, format!("no {field} is named {:?}", value.as_str()));
            continue;
        }
        for part in parts {
            match G::id_by_name(conn, part).await? {
                Some(id) => ids.push(id),
                None => errors.add(field, format!("no {field} is named {part:?}")),
            }
        }
    }
    Ok(Some(ids))
}

/// `/api/products?...&after=<cursor>`: the same query, from the row after
/// `cursor` (normalized: every value as the filter holds it, each a
/// parameter of its own, since a value's commas are read by what exists).
fn next_url(filter: &ProductFilter, cursor: &crate::domain::Cursor) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for category in &filter.categories {
        query.append_pair("category", category.as_str());
    }
    for tag in &filter.tags {
        query.append_pair("tag", tag.as_str());
    }
    if let Some(min) = filter.min_price {
        query.append_pair("minPrice", &min.shortest());
    }
    if let Some(max) = filter.max_price {
        query.append_pair("maxPrice", &max.shortest());
    }
    if let Some(in_stock) = filter.in_stock {
        query.append_pair("inStock", if in_stock { "true" } else { "false" });
    }
    match &filter.search {
        Some(search) => {
            query.append_pair("q", search.as_str());
        }
        // A blank `q` is what lets `relevance` stand without a search.
        None if filter.sort_by == SortBy::Relevance => {
            query.append_pair("q", "");
        }
        None => {}
    }
    query
        .append_pair("sortBy", filter.sort_by.as_str())
        .append_pair("order", filter.order.as_str())
        .append_pair("limit", &filter.page.limit.to_string())
        .append_pair("after", &cursor.encode());
    format!("/api/products?{}", query.finish())
}
