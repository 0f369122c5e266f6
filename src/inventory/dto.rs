//! A requested line as carts and orders send it: `{product_id, sku_id?, quantity}`.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Item;
use crate::domain::{JsonInteger, Money, Quantity, RowId};
use crate::error::FieldErrors;
use crate::extract::{NamesRows, ParseBody};
use crate::schema::order_lines;
use crate::state::AppState;

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

/// What a cart line and an order line show of what they hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub sku_id: Option<i32>,
    pub product_name: String,
    /// The style and size (null for a product bought without a SKU).
    pub style_name: Option<String>,
    pub size: Option<String>,
    /// What one costs: today's price in a cart, the price paid in an order.
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
}

/// What a line holds, as an order line stores it (and a cart's query
/// answers it, under the same column names).
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = order_lines, check_for_backend(diesel::pg::Pg))]
pub struct StoredLine {
    pub sku_id: Option<i32>,
    pub product_name: String,
    pub style_name: Option<String>,
    pub size: Option<String>,
    pub unit_price: Decimal,
    pub quantity: i32,
}

impl LineView {
    /// The line with its total, as a decimal (which does not overflow for
    /// any price and quantity a database holds). Writes refuse a line whose
    /// total does not fit the money type.
    pub fn new(line: StoredLine) -> Self {
        let line_total = line.unit_price * Decimal::from(line.quantity);
        Self {
            sku_id: line.sku_id,
            product_name: line.product_name,
            style_name: line.style_name,
            size: line.size,
            unit_price: Money::from_stored(line.unit_price),
            quantity: line.quantity,
            line_total: Money::from_stored(line_total),
        }
    }
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
        let product_id = errors.parse_required(&name("product_id"), self.product_id, RowId::parse);
        let sku_id = match self.sku_id {
            None => Some(None),
            Some(id) => errors.check(&name("sku_id"), RowId::parse(id)).map(Some),
        };
        let quantity = errors.parse_required(&name("quantity"), self.quantity, Quantity::parse);
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

impl LineBody {
    /// The item, as far as its ids read (an unreadable `sku_id` is none).
    pub fn item(&self) -> Option<Item> {
        Some(Item {
            product_id: RowId::read(self.product_id?)?,
            sku_id: self.sku_id.and_then(RowId::read),
        })
    }
}

impl NamesRows<AppState> for LineBody {
    type Rows = Vec<(usize, Item)>;

    fn rows(&self) -> Self::Rows {
        self.item().map(|item| (0, item)).into_iter().collect()
    }

    async fn name_unknown(state: &AppState, rows: Self::Rows, errors: &mut FieldErrors) {
        super::name_unbuyable(state, rows, |_| String::new(), errors).await;
    }
}
