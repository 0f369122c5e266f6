//! What the order routes send and accept over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::models::{Order, OrderLine, Status};
use crate::domain::Money;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: Option<i32>,
    pub sku_id: Option<i32>,
    pub product_name: String,
    /// The price at purchase.
    #[schema(value_type = String, example = "14.99")]
    pub unit_price: Money,
    pub quantity: i32,
    #[schema(value_type = String, example = "29.98")]
    pub line_total: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i32,
    pub user_id: i32,
    pub status: Status,
    #[schema(value_type = String, example = "29.98")]
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderLineView>,
}

impl OrderView {
    pub fn new(order: Order, lines: Vec<OrderLine>) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            status: Status::from_stored(&order.status).unwrap_or(Status::Placed),
            total: Money::from_stored(order.total),
            created_at: order.created_at,
            updated_at: order.updated_at,
            items: lines
                .into_iter()
                .map(|line| {
                    let unit_price = Money::from_stored(line.unit_price);
                    OrderLineView {
                        product_id: line.product_id,
                        sku_id: line.sku_id,
                        product_name: line.product_name,
                        // Checked to fit when the order was placed.
                        line_total: unit_price
                            .times(i64::from(line.quantity))
                            .unwrap_or(unit_price),
                        unit_price,
                        quantity: line.quantity,
                    }
                })
                .collect(),
        }
    }
}

/// One line of `POST /api/orders` `{items: [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemBody {
    pub product_id: i64,
    pub sku_id: Option<i64>,
    pub quantity: i64,
}

/// `POST /api/orders`: no body (or `{}`) orders the cart; `items` orders them instead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    pub items: Option<Vec<OrderItemBody>>,
}

/// `PATCH /api/orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: Status,
}
