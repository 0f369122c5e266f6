//! What a shopper can buy: a product, or one SKU of a product that has SKUs,
//! with today's price and what is available. Shared by the cart (which reads
//! it) and checkout (which reads it under row locks, in a fixed order).

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Int4, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::{JsonInteger, Money, Quantity, RowId};
use crate::error::{AppError, FieldErrors};
use crate::extract::ParseBody;

/// One thing a line asks for: a product and, for a product with SKUs, its SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item {
    pub product_id: i32,
    pub sku_id: Option<i32>,
}

/// One requested line: what the cart's `POST /api/cart/items` and each of
/// an order's `items` send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    #[schema(value_type = RowId, required)]
    pub product_id: Option<JsonInteger>,
    /// Required for a product sold by SKU (a Catwalk product), absent otherwise.
    #[schema(value_type = Option<RowId>)]
    pub sku_id: Option<JsonInteger>,
    #[schema(value_type = Quantity, required)]
    pub quantity: Option<JsonInteger>,
}

impl LineBody {
    /// The line, with what is wrong recorded under `field` (`""` for a body
    /// that is one line, `items[2]` for one of several).
    pub fn parse_at(self, field: &str, errors: &mut FieldErrors) -> Option<(Item, Quantity)> {
        let name = |member: &str| {
            if field.is_empty() {
                member.to_owned()
            } else {
                format!("{field}.{member}")
            }
        };
        let product_id = errors
            .required(&name("product_id"), self.product_id)
            .and_then(|id| errors.check(&name("product_id"), RowId::parse(id)));
        let sku_id = match self.sku_id {
            None => Some(None),
            Some(id) => errors.check(&name("sku_id"), RowId::parse(id)).map(Some),
        };
        let quantity = errors
            .required(&name("quantity"), self.quantity)
            .and_then(|quantity| errors.check(&name("quantity"), Quantity::parse(quantity)));
        Some((
            Item {
                product_id: product_id?.get(),
                sku_id: sku_id?.map(RowId::get),
            },
            quantity?,
        ))
    }
}

impl ParseBody for LineBody {
    type Parsed = (Item, Quantity);

    fn parse(self, errors: &mut FieldErrors) -> Option<Self::Parsed> {
        self.parse_at("", errors)
    }
}

/// An item as it can be bought right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchasable {
    pub item: Item,
    pub product_name: String,
    /// The SKU's style price (sale price when set) or the product's price.
    pub unit_price: Money,
    /// The SKU's quantity, or the product's stock.
    pub available: i32,
}

#[derive(QueryableByName)]
struct ProductRow {
    #[diesel(sql_type = Int4)]
    id: i32,
    #[diesel(sql_type = Text)]
    product_name: String,
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(sql_type = Int4)]
    stock: i32,
    #[diesel(sql_type = Bool)]
    has_skus: bool,
}

#[derive(QueryableByName)]
struct SkuRow {
    #[diesel(sql_type = Int4)]
    id: i32,
    #[diesel(sql_type = Int4)]
    product_id: i32,
    #[diesel(sql_type = Int4)]
    quantity: i32,
    #[diesel(sql_type = Nullable<Numeric>)]
    price: Option<Decimal>,
}

/// Whether to take row locks: checkout does, in product-id then SKU-id
/// order, so that two checkouts can never wait on each other in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    None,
    ForUpdate,
}

/// Resolves `items` (reported under their field in errors, e.g. `items[2]`,
/// or `""` for a body that is one item)
/// into purchasables, in the order given. An unknown product, a missing SKU
/// for a product that has SKUs, or a SKU of another product is a 422.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    items: &[(String, Item)],
    locking: Locking,
) -> Result<Vec<Purchasable>, AppError> {
    let lock = match locking {
        Locking::None => "",
        Locking::ForUpdate => " FOR UPDATE OF p",
    };
    let mut product_ids: Vec<i32> = items.iter().map(|(_, item)| item.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let products: HashMap<i32, ProductRow> = diesel::sql_query(format!(
        "SELECT p.id, p.product_name, p.price, p.stock, \
                EXISTS (SELECT 1 FROM styles s JOIN skus k ON k.style_id = s.id \
                        WHERE s.product_id = p.id) AS has_skus \
         FROM products p WHERE p.id = ANY($1) ORDER BY p.id{lock}"
    ))
    .bind::<Array<Int4>, _>(&product_ids)
    .load::<ProductRow>(conn)
    .await?
    .into_iter()
    .map(|row| (row.id, row))
    .collect();

    let mut sku_ids: Vec<i32> = items.iter().filter_map(|(_, item)| item.sku_id).collect();
    sku_ids.sort_unstable();
    sku_ids.dedup();
    let skus: HashMap<i32, SkuRow> = if sku_ids.is_empty() {
        HashMap::new()
    } else {
        let lock = match locking {
            Locking::None => "",
            Locking::ForUpdate => " FOR UPDATE OF k",
        };
        diesel::sql_query(format!(
            "SELECT k.id, s.product_id, k.quantity, COALESCE(s.sale_price, s.original_price) AS price \
             FROM skus k JOIN styles s ON s.id = k.style_id \
             WHERE k.id = ANY($1) ORDER BY k.id{lock}"
        ))
        .bind::<Array<Int4>, _>(&sku_ids)
        .load::<SkuRow>(conn)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect()
    };

    let mut errors = FieldErrors::new();
    let mut resolved = Vec::with_capacity(items.len());
    for (field, item) in items {
        let name = |member: &str| {
            if field.is_empty() {
                member.to_owned()
            } else {
                format!("{field}.{member}")
            }
        };
        let Some(product) = products.get(&item.product_id) else {
            errors.add(name("product_id"), "no product has this id");
            continue;
        };
        let (unit_price, available) = match (item.sku_id, product.has_skus) {
            (None, false) => (product.price, product.stock),
            (None, true) => {
                errors.add(
                    name("sku_id"),
                    "this product is sold by SKU: name one of its SKUs",
                );
                continue;
            }
            (Some(sku_id), _) => match skus.get(&sku_id) {
                Some(sku) if sku.product_id == item.product_id => {
                    (sku.price.unwrap_or(product.price), sku.quantity)
                }
                _ => {
                    errors.add(name("sku_id"), "not a SKU of this product");
                    continue;
                }
            },
        };
        resolved.push(Purchasable {
            item: *item,
            product_name: product.product_name.clone(),
            unit_price: Money::from_stored(unit_price),
            available,
        });
    }
    errors.into_result(resolved)
}
