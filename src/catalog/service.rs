//! The catalog's product writes, each one transaction that states what it
//! retires: create (with its tags), change (a partial update; `tagIds`
//! replaces the tag set), delete. (The product list's read: `listing`.)

use diesel_async::AsyncPgConnection;

use super::cache;
use super::domain::{ValidNewProduct, ValidProductChanges};
use super::dto::{CreateProductBody, UpdateProductBody};
use super::models::ProductRecord;
use super::queries;
use crate::domain::Stock;
use crate::domain::{JsonInteger, RowId};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::extract::{Lenient, NamesRows};
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
                let category_id = valid.changes.category_id.flatten();
                let tag_ids = valid.tag_ids.as_deref().unwrap_or_default();
                let mut errors = unknown_references(conn, category_id, tag_ids).await?;
                if let Some(stock) = valid.changes.stock {
                    errors.add_unnamed(stock_kept_by_skus(conn, id, stock).await?);
                }
                errors.into_result(())?;
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

/// [`change_product`] of a body as sent: a 422 names every bad field at
/// once, a stock set by hand on a product sold by SKU among them.
pub async fn change_product_as_sent(
    state: &AppState,
    id: i32,
    body: Lenient<UpdateProductBody>,
) -> AppResult<ProductRecord> {
    let stock = body.0.stock.and_then(|stock| Stock::parse(stock).ok());
    let mut errors = match body.parse_naming_rows(state).await {
        Ok(valid) => return change_product(state, id, valid).await,
        Err(AppError::Validation(errors)) => errors,
        Err(refused) => return Err(refused),
    };
    if let Some(stock) = stock.filter(|_| !errors.has("stock")) {
        let refused = state
            .read_briefly(async |conn: &mut AsyncPgConnection| {
                Ok(stock_kept_by_skus(conn, id, stock.get()).await?)
            })
            .await;
        if let Some(refused) = refused {
            errors.add_unnamed(refused);
        }
    }
    Err(AppError::Validation(errors))
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

/// A stock set by hand for a product sold by SKU is refused: its stock is
/// the sum of its SKUs' quantities (API.md), kept by the database as they
/// change (the inventory's rule); an error naming `stock`. The stock it has
/// already (a product read and sent back whole) is no change.
async fn stock_kept_by_skus(
    conn: &mut AsyncPgConnection,
    id: i32,
    stock: i32,
) -> diesel::QueryResult<FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(kept) = queries::stock_kept_by_skus(conn, id).await?
        && kept != stock
    {
        errors.add(
            "stock",
            "is the sum of this product's SKUs' quantities: it changes with them",
        );
    }
    Ok(errors)
}
