//! The catalog's product writes, each one transaction that states what it
//! retires: create (with its tags), change (a partial update; `tagIds`
//! replaces the tag set), delete; and the product list's read.

use axum::response::Response;
use diesel_async::AsyncPgConnection;

use super::cache;
use super::domain::{ProductFilter, ValidNewProduct, ValidProductChanges};
use super::dto::{CreateProductBody, ProductListQuery, ProductView, UpdateProductBody};
use super::models::ProductRecord;
use super::queries::{self, Categories, GroupTable, ListScope, Tags, Total};
use crate::cache::{CacheKey, Document, Framing};
use crate::domain::{JsonInteger, Name, RowId};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::extract::NamesRows;
use crate::response::ListPage;
use crate::state::AppState;

/// Creates a product and its ProductTag rows, all or nothing.
pub async fn create_product(state: &AppState, valid: ValidNewProduct) -> AppResult<ProductRecord> {
    state
        .cache
        .write(
            cache::products_changed(&[]),
            state.transaction(async |conn: &mut AsyncPgConnection| {
                check_references(conn, valid.product.category_id, Some(&valid.tag_ids)).await?;
                let product = queries::insert_product(conn, &valid.product).await?;
                queries::replace_product_tags(conn, product.id, &valid.tag_ids).await?;
                reread(conn, product.id).await
            }),
        )
        .await
}

/// Changes product `id`; fields left out stay as they are.
pub async fn change_product(
    state: &AppState,
    id: i32,
    valid: ValidProductChanges,
) -> AppResult<ProductRecord> {
    state
        .cache
        .write(
            cache::products_changed(&[id]),
            state.transaction(async |conn: &mut AsyncPgConnection| {
                queries::lock_product(conn, id)
                    .await?
                    .ok_or_else(|| no_product(id))?;
                check_references(
                    conn,
                    valid.changes.category_id.flatten(),
                    valid.tag_ids.as_deref(),
                )
                .await?;
                if let Some(stock) = valid.changes.stock {
                    refuse_stock_of_sku_product(conn, id, stock).await?;
                }
                queries::update_product(conn, id, &valid.changes)
                    .await?
                    .ok_or_else(|| no_product(id))?;
                if let Some(tag_ids) = &valid.tag_ids {
                    queries::replace_product_tags(conn, id, tag_ids).await?;
                    queries::touch_product(conn, id).await?;
                }
                reread(conn, id).await
            }),
        )
        .await
}

/// Deletes product `id` (its ProductTag rows and features go with it; past
/// orders keep their lines, with `product_id` null).
pub async fn delete_product(state: &AppState, id: i32) -> AppResult<()> {
    state
        .cache
        .write(
            cache::product_deleted(id),
            state.transaction(async |conn: &mut AsyncPgConnection| {
                let deleted = queries::delete_product(conn, id).await?;
                deleted.then_some(()).ok_or_else(|| no_product(id))
            }),
        )
        .await
}

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
    let (skips, searched) = (filter.skips(), filter.search.is_some());
    let deep_pages = state.deep_pages.clone();
    let read = async move { page_of_products(&state, &filter, &client).await };
    deep_pages.list(skips, searched, read).await
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
    if let Some(search) = &filter.search {
        query.append_pair("q", search.as_str());
    }
    query
        .append_pair("sortBy", filter.sort_by.as_str())
        .append_pair("order", filter.order.as_str())
        .append_pair("limit", &filter.page.limit.to_string())
        .append_pair("after", &cursor.encode());
    format!("/api/products?{}", query.finish())
}

fn no_product(id: i32) -> AppError {
    AppError::not_found(format!("no product has id {id}"))
}

/// The product as written, inside the write's transaction.
async fn reread(conn: &mut AsyncPgConnection, id: i32) -> AppResult<ProductRecord> {
    queries::find_product(conn, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("product {id} vanished inside its transaction").into())
}

/// Names the unknown category and tags of a product write in one 422.
/// (The foreign keys still guard against a row deleted meanwhile.)
async fn check_references(
    conn: &mut AsyncPgConnection,
    category_id: Option<i32>,
    tag_ids: Option<&[i32]>,
) -> AppResult<()> {
    unknown_references(conn, category_id, tag_ids.unwrap_or_default())
        .await?
        .into_result(())
}

/// An error for the category and each tag that names nothing.
async fn unknown_references(
    conn: &mut AsyncPgConnection,
    category_id: Option<i32>,
    tag_ids: &[i32],
) -> diesel::QueryResult<FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(category_id) = category_id
        && !queries::category_exists(conn, category_id).await?
    {
        errors.add("category_id", format!("no category has id {category_id}"));
    }
    if !tag_ids.is_empty() {
        let existing = queries::existing_tag_ids(conn, tag_ids).await?;
        for missing in tag_ids.iter().filter(|id| !existing.contains(id)) {
            errors.add("tagIds", format!("no tag has id {missing}"));
        }
    }
    Ok(errors)
}

/// The category and tags a product body names, as far as they read.
pub struct NamedGroups {
    category_id: Option<i32>,
    tag_ids: Vec<i32>,
}

impl NamedGroups {
    fn read(category_id: Option<JsonInteger>, tag_ids: Option<&[JsonInteger]>) -> Self {
        let mut tag_ids: Vec<i32> = tag_ids
            .unwrap_or_default()
            .iter()
            .filter_map(|raw| RowId::read(*raw))
            .collect();
        tag_ids.sort_unstable();
        tag_ids.dedup();
        Self {
            category_id: category_id.and_then(RowId::read),
            tag_ids,
        }
    }

    /// Adds the unknown ones to a 422 that names other fields (unless their
    /// own field is named already).
    async fn name_unknown(self, state: &AppState, errors: &mut FieldErrors) {
        let category_id = self.category_id.filter(|_| !errors.has("category_id"));
        let tag_ids = if errors.has("tagIds") {
            Vec::new()
        } else {
            self.tag_ids
        };
        if category_id.is_none() && tag_ids.is_empty() {
            return;
        }
        let unknown = state
            .read_briefly(async |conn: &mut AsyncPgConnection| {
                Ok(unknown_references(conn, category_id, &tag_ids).await?)
            })
            .await;
        if let Some(unknown) = unknown {
            errors.add_unnamed(unknown);
        }
    }
}

impl NamesRows<AppState> for CreateProductBody {
    type Rows = NamedGroups;

    fn rows(&self) -> NamedGroups {
        NamedGroups::read(self.category_id, self.tag_ids.as_deref())
    }

    async fn name_unknown(state: &AppState, rows: NamedGroups, errors: &mut FieldErrors) {
        rows.name_unknown(state, errors).await;
    }
}

impl NamesRows<AppState> for UpdateProductBody {
    type Rows = NamedGroups;

    fn rows(&self) -> NamedGroups {
        NamedGroups::read(self.category_id.flatten(), self.tag_ids.as_deref())
    }

    async fn name_unknown(state: &AppState, rows: NamedGroups, errors: &mut FieldErrors) {
        rows.name_unknown(state, errors).await;
    }
}

/// Refuses a stock set by hand for a product sold by SKU: its stock is the
/// sum of its SKUs' quantities (API.md), kept by the database as they
/// change (the inventory's rule); a 422 naming `stock`. The stock it has
/// already (a product read and sent back whole) is no change.
async fn refuse_stock_of_sku_product(
    conn: &mut AsyncPgConnection,
    id: i32,
    stock: i32,
) -> AppResult<()> {
    match queries::stock_kept_by_skus(conn, id).await? {
        Some(kept) if kept != stock => Err(AppError::validation(
            "stock",
            "is the sum of this product's SKUs' quantities: it changes with them",
        )),
        _ => Ok(()),
    }
}
