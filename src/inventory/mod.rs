//! The inventory: the one owner of what can be bought, at what price, and
//! how much of it is left. Carts and orders go through it; nothing else
//! reads a SKU's price or moves stock.
//!
//! - [`resolve`] turns requested items (a product, or one SKU of a product
//!   sold by SKU) into [`Purchasable`]s with today's price and availability.
//! - Checkout takes stock in the database, in one call with the order it
//!   writes (the SQL routines `place_plain_order` and
//!   `place_order_with_lines`, through the inventory's `take_stock`; a plain
//!   order of products sold without SKUs takes it with one guarded
//!   decrement in the statement that writes the order: migration
//!   `a_plain_order_of_products_in_one_statement`); [`restore`] puts it
//!   back. Both lock products by id, then
//!   SKUs by id: every writer of stock takes them in that order, so no two
//!   can wait on each other in a cycle. (A checkout from the cart locks the
//!   cart's lines first; deletions of a product or a category take their
//!   locks in the same order: `catalog::queries`.)
//!
//! Two rules live in the database itself (migration `inventory_rules`): a
//! SKU's price (`sku_offers`: the sale price when set, else the original),
//! and a SKU product's stock being the sum of its SKUs' quantities (triggers
//! on `skus`), so that the importer and any other writer keep them too.

pub mod dto;
mod queries;

use std::collections::HashMap;

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

pub use dto::{LineBody, LineView, StoredLine};

use crate::cache::Retirement;
use crate::domain::Money;
use crate::error::FieldErrors;
use crate::state::AppState;

/// The most lines one purchase holds: an order's `items`, and the cart
/// (so that every cart can be ordered, and no checkout locks more rows).
pub const MAX_LINES: usize = 100;

/// One thing a line asks for: a product and, for a product with SKUs, its SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item {
    pub product_id: i32,
    pub sku_id: Option<i32>,
}

/// An item as it can be bought right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchasable {
    pub item: Item,
    pub product_name: String,
    /// What one costs: the SKU's price, or the product's.
    pub unit_price: Money,
    /// The SKU's quantity, or the product's stock.
    pub available: i32,
    /// For a SKU: its style's name and its size.
    pub style_name: Option<String>,
    pub size: Option<String>,
}

/// Why a requested item cannot be bought at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    NoSuchProduct,
    /// A product sold by SKU was asked for without one.
    SkuRequired,
    /// The SKU does not exist, or belongs to another product.
    NotItsSku,
}

impl LineProblem {
    /// The field of the line it concerns, and what to say.
    pub fn field_and_message(self) -> (&'static str, &'static str) {
        match self {
            Self::NoSuchProduct => ("product_id", "no product has this id"),
            Self::SkuRequired => (
                "sku_id",
                "this product is sold by SKU: name one of its SKUs",
            ),
            Self::NotItsSku => ("sku_id", "not a SKU of this product"),
        }
    }
}

/// What [`resolve`] can fail with.
#[derive(Debug)]
pub enum ResolveError {
    /// Lines that name nothing buyable, by their index in the request.
    Lines(Vec<(usize, LineProblem)>),
    Query(diesel::result::Error),
}

impl ResolveError {
    /// As a 422 naming each bad line's field under `line(index)` (`items[2]`,
    /// or `""` for a body that is one line).
    pub fn into_field_errors(self, line: impl Fn(usize) -> String) -> crate::error::AppError {
        match self {
            Self::Query(error) => error.into(),
            Self::Lines(problems) => crate::error::AppError::Validation(named(problems, line)),
        }
    }
}

fn named(problems: Vec<(usize, LineProblem)>, line: impl Fn(usize) -> String) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for (index, problem) in problems {
        let (member, message) = problem.field_and_message();
        let prefix = line(index);
        let name = if prefix.is_empty() {
            member.to_owned()
        } else {
            format!("{prefix}.{member}")
        };
        errors.add(name, message);
    }
    errors
}

/// Adds to a 422 that names other fields the `lines` (their index in the
/// request, and the item as far as it read) that name nothing buyable, each
/// under `line(index)`, unless that field is named already; so that the
/// 422 names every bad field at once (API.md). A store that cannot answer
/// adds nothing.
pub async fn name_unbuyable(
    state: &AppState,
    lines: Vec<(usize, Item)>,
    line: impl Fn(usize) -> String,
    errors: &mut FieldErrors,
) {
    if lines.is_empty() {
        return;
    }
    let items: Vec<Item> = lines.iter().map(|(_, item)| *item).collect();
    let resolved = state
        .read_briefly(async |conn: &mut AsyncPgConnection| Ok(resolve(conn, &items).await))
        .await;
    if let Some(Err(ResolveError::Lines(problems))) = resolved {
        let problems = problems
            .into_iter()
            .map(|(at, problem)| (lines[at].0, problem))
            .collect();
        errors.add_unnamed(named(problems, line));
    }
}

/// A line that asks for more than is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortage {
    pub item: Item,
    pub requested: i64,
    pub available: i32,
}

/// The lines of `purchasables` that ask for more than is available
/// (`wanted` says how many of each item the request asks for) refused, as
/// [`refuse_shortages`] does; nothing short is `Ok`.
pub fn refuse_short(
    purchasables: &[Purchasable],
    wanted: impl Fn(&Purchasable) -> i64,
    detail: &str,
) -> Result<(), crate::error::AppError> {
    let short: Vec<Shortage> = purchasables
        .iter()
        .filter(|purchasable| wanted(purchasable) > i64::from(purchasable.available))
        .map(|purchasable| Shortage {
            item: purchasable.item,
            requested: wanted(purchasable),
            available: purchasable.available,
        })
        .collect();
    if short.is_empty() {
        Ok(())
    } else {
        Err(refuse_shortages(&short, detail))
    }
}

/// The one answer to a request for more than is available, from the cart
/// and from checkout alike: a 409 whose `lines` name each short line as
/// `{product_id, sku_id, requested, available}` (API.md).
pub fn refuse_shortages(short: &[Shortage], detail: &str) -> crate::error::AppError {
    let lines: Vec<serde_json::Value> = short
        .iter()
        .map(|shortage| {
            serde_json::json!({
                "product_id": shortage.item.product_id,
                "sku_id": shortage.item.sku_id,
                "requested": shortage.requested,
                "available": shortage.available,
            })
        })
        .collect();
    let mut extensions = serde_json::Map::new();
    extensions.insert("lines".into(), serde_json::Value::Array(lines));
    crate::error::AppError::Conflict {
        detail: detail.to_owned(),
        extensions,
    }
}

impl From<diesel::result::Error> for ResolveError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Query(error)
    }
}

/// `items` as they can be bought now, in the order given.
pub async fn resolve(
    conn: &AsyncPgConnection,
    items: &[Item],
) -> Result<Vec<Purchasable>, ResolveError> {
    let mut product_ids: Vec<i32> = items.iter().map(|item| item.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let mut sku_ids: Vec<i32> = items.iter().filter_map(|item| item.sku_id).collect();
    sku_ids.sort_unstable();
    sku_ids.dedup();
    // One round trip: the two reads are pipelined.
    let (products, skus) = tokio::join!(
        queries::products(conn, &product_ids),
        queries::skus(conn, &sku_ids)
    );
    let products: HashMap<i32, queries::ProductRow> =
        products?.into_iter().map(|row| (row.id, row)).collect();
    let skus: HashMap<i32, queries::SkuRow> =
        skus?.into_iter().map(|row| (row.sku_id, row)).collect();

    let mut problems = Vec::new();
    let mut resolved = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some(product) = products.get(&item.product_id) else {
            problems.push((index, LineProblem::NoSuchProduct));
            continue;
        };
        let (unit_price, available, variant) = match (item.sku_id, product.has_skus) {
            (None, false) => (product.price, product.stock, None),
            (None, true) => {
                problems.push((index, LineProblem::SkuRequired));
                continue;
            }
            (Some(sku_id), _) => match skus.get(&sku_id) {
                Some(sku) if sku.product_id == item.product_id => (
                    sku.price,
                    sku.available,
                    Some((sku.style_name.clone(), sku.size.clone())),
                ),
                _ => {
                    problems.push((index, LineProblem::NotItsSku));
                    continue;
                }
            },
        };
        resolved.push(Purchasable {
            item: *item,
            product_name: product.product_name.clone(),
            unit_price: Money::from_stored(unit_price),
            available,
            style_name: variant.as_ref().map(|(style, _)| style.clone()),
            size: variant.map(|(_, size)| size),
        });
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(ResolveError::Lines(problems))
    }
}

/// Puts back what `lines` took (an order's cancellation); rows deleted
/// meanwhile are skipped. Locks in the order checkout does first.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    lines: &[(Option<i32>, Option<i32>, i32)],
) -> QueryResult<()> {
    let mut product_ids: Vec<i32> = lines.iter().filter_map(|line| line.0).collect();
    let mut sku_ids: Vec<i32> = lines.iter().filter_map(|line| line.1).collect();
    product_ids.sort_unstable();
    sku_ids.sort_unstable();
    queries::lock(conn, &product_ids, &sku_ids).await?;
    for (product_id, sku_id, quantity) in lines {
        queries::put_back(conn, *product_id, *sku_id, *quantity).await?;
    }
    Ok(())
}

/// What a change of these products' stock retires in the cache.
pub fn stock_changed(product_ids: &[i32], crossed_zero: bool) -> Retirement {
    crate::catalog::cache::stock_changed(product_ids, crossed_zero)
}
