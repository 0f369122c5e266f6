//! Order rows as diesel reads and writes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::domain::Status;
use crate::inventory::StoredLine;
use crate::schema::{order_lines, orders};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub struct Order {
    pub id: i32,
    pub user_id: i32,
    pub status: Status,
    pub total: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// As given at checkout (see `ShippingAddress`).
    pub shipping_address: Option<serde_json::Value>,
    /// `[{status, at}]`, oldest first (see `HistoryEntry`).
    pub history: serde_json::Value,
}

/// A line of an order, as read back (checkout writes its lines in its SQL
/// routines, see `queries::placing`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines, check_for_backend(diesel::pg::Pg))]
pub struct OrderLine {
    pub order_id: i32,
    pub product_id: Option<i32>,
    #[diesel(embed)]
    pub line: StoredLine,
}
