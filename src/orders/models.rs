//! Order rows as diesel reads and writes them, and the status machine.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::schema::{order_lines, orders};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct Order {
    pub id: i32,
    pub user_id: i32,
    pub status: String,
    pub total: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines, check_for_backend(diesel::pg::Pg))]
pub struct OrderLine {
    pub order_id: i32,
    pub product_id: Option<i32>,
    pub sku_id: Option<i32>,
    pub product_name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = order_lines)]
pub struct NewOrderLine {
    pub order_id: i32,
    pub product_id: Option<i32>,
    pub sku_id: Option<i32>,
    pub product_name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn from_stored(value: &str) -> Option<Self> {
        Some(match value {
            "placed" => Self::Placed,
            "paid" => Self::Paid,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// `placed -> paid -> shipped -> delivered`, and `cancelled` from
    /// `placed` or `paid`; nothing else.
    pub fn can_become(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Self::Placed, Self::Paid)
                | (Self::Paid, Self::Shipped)
                | (Self::Shipped, Self::Delivered)
                | (Self::Placed | Self::Paid, Self::Cancelled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let all = [Placed, Paid, Shipped, Delivered, Cancelled];
        let allowed: Vec<_> = all
            .iter()
            .flat_map(|from| all.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Placed, Paid),
                (Placed, Cancelled),
                (Paid, Shipped),
                (Paid, Cancelled),
                (Shipped, Delivered)
            ]
        );
    }
}
