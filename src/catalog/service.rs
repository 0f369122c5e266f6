//! The catalog's product writes, each one transaction that states what it
//! retires: create (with its tags), change (a partial update; `tagIds`
//! replaces the tag set), delete; and the product list's read.

use diesel_async::AsyncPgConnection;

use super::cache;
use super::domain::{ProductFilter, ValidNewProduct, ValidProductChanges};
use super::dto::ProductView;
use super::models::ProductRecord;
use super::queries::{self, Categories, GroupTable};
use crate::error::{AppError, AppResult, FieldErrors};
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
                check_references(
                    conn,
                    valid.changes.category_id.flatten(),
                    valid.tag_ids.as_deref(),
                )
                .await?;
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
        .write(cache::product_deleted(id), async {
            let mut conn = state.conn().await?;
            if queries::delete_product(&mut conn, id).await? {
                Ok(())
            } else {
                Err(no_product(id))
            }
        })
        .await
}

/// A page of products matching `filter` (a category named but missing is a 422).
pub async fn list_products(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
) -> AppResult<ListPage<ProductView>> {
    let category_id = match &filter.category {
        None => None,
        Some(name) => Some(
            Categories::id_by_name(conn, name.as_str())
                .await?
                .ok_or_else(|| {
                    AppError::validation(
                        "category",
                        format!("no category is named {:?}", name.as_str()),
                    )
                })?,
        ),
    };
    let (rows, total, total_capped) = queries::list_products(conn, filter, category_id).await?;
    let data = rows.into_iter().map(ProductView::from).collect();
    Ok(ListPage {
        total_capped,
        ..ListPage::of(data, filter.page, total)
    })
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
    let mut errors = FieldErrors::new();
    if let Some(category_id) = category_id
        && !queries::category_exists(conn, category_id).await?
    {
        errors.add("category_id", format!("no category has id {category_id}"));
    }
    if let Some(tag_ids) = tag_ids.filter(|ids| !ids.is_empty()) {
        let existing = queries::existing_tag_ids(conn, tag_ids).await?;
        for missing in tag_ids.iter().filter(|id| !existing.contains(id)) {
            errors.add("tagIds", format!("no tag has id {missing}"));
        }
    }
    errors.into_result(())
}
