//! What the cart routes send and accept over the wire.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queries::CartLineRow;
use crate::domain::{JsonInteger, Money, Quantity};
use crate::error::FieldErrors;
use crate::extract::ParseBody;

/// One line of the cart, at today's price.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartItemView {
    pub id: i32,
    pub product_id: i32,
    pub sku_id: Option<i32>,
    pub product_name: String,
    /// The style and size (null for a product without SKUs).
    pub style_name: Option<String>,
    pub size: Option<String>,
    /// What one costs today: the SKU's price, or the product's.
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
}

/// The cart: its lines and their total, at today's prices.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    pub items: Vec<CartItemView>,
    pub total: Money,
}

impl CartView {
    /// Totals are summed as decimals (which do not overflow for any cart a
    /// database can hold); writes refuse lines whose total would not fit the
    /// money type, so these stay within it unless a price rises afterwards.
    pub fn new(rows: Vec<CartLineRow>) -> Self {
        let mut total = Decimal::ZERO;
        let items = rows
            .into_iter()
            .map(|row| {
                let line_total = row.unit_price * Decimal::from(row.quantity);
                total += line_total;
                CartItemView {
                    id: row.id,
                    product_id: row.product_id,
                    sku_id: row.sku_id,
                    product_name: row.product_name,
                    style_name: row.style_name,
                    size: row.size,
                    unit_price: Money::from_stored(row.unit_price),
                    quantity: row.quantity,
                    line_total: Money::from_stored(line_total),
                }
            })
            .collect();
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
        errors
            .required("quantity", self.quantity)
            .and_then(|quantity| errors.check("quantity", Quantity::parse(quantity)))
    }
}
