//! What the cart routes send and accept over the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queries::CartLineRow;
use crate::domain::{JsonInteger, Money, Quantity};
use crate::error::FieldErrors;
use crate::extract::ParseBody;
use crate::inventory::LineView;

/// One line of the cart, at today's price and stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartItemView {
    pub id: i32,
    pub product_id: i32,
    #[serde(flatten)]
    pub line: LineView,
    /// How many can be bought now (the SKU's quantity, or the product's
    /// stock); a checkout of a line asking for more is a 409.
    pub available: i32,
}

/// The cart: its lines and their total, at today's prices.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    pub items: Vec<CartItemView>,
    pub total: Money,
}

impl CartView {
    /// Totals are summed as decimals (which do not overflow for any cart a
    /// database can hold); writes refuse a line, or a cart, whose total would
    /// not fit the money type, so these stay within it unless a price rises
    /// afterwards.
    pub fn new(rows: Vec<CartLineRow>) -> Self {
        let items: Vec<CartItemView> = rows
            .into_iter()
            .map(|row| CartItemView {
                id: row.id,
                product_id: row.product_id,
                line: LineView::new(row.line),
                available: row.available,
            })
            .collect();
        let total = items.iter().map(|item| item.line.line_total.amount()).sum();
        Self {
            items,
            total: Money::from_stored(total),
        }
    }
}

/// `PUT /api/cart/items/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantityBody {
    #[schema(value_type = Quantity, required)]
    pub quantity: Option<JsonInteger>,
}

impl ParseBody for SetQuantityBody {
    type Parsed = Quantity;

    fn parse(self, errors: &mut FieldErrors) -> Option<Quantity> {
        errors.parse_required("quantity", self.quantity, Quantity::parse)
    }
}
