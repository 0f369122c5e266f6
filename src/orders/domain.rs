//! Order rules: where an order is in its life and where it may go next, and
//! what a placement asks for.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::text_enum::text_enum;
use crate::error::AppError;

use crate::inventory::Item;

text_enum! {
    /// Where an order is in its life. Stored as text (`orders_status_known`).
    pub enum Status ("order status") {
        Placed = "placed",
        Paid = "paid",
        Shipped = "shipped",
        Delivered = "delivered",
        Cancelled = "cancelled",
    }
}

impl Status {
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

/// Who changes an order's status: its owner may only cancel it while it is
/// `placed`; an admin may move any order along the status machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Owner(i32),
    Admin,
}

impl Actor {
    /// Whether this actor may take an order of `owner` from `from` to `to`.
    pub fn may(self, owner: i32, from: Status, to: Status) -> bool {
        let allowed = match self {
            Self::Owner(user_id) => {
                user_id == owner && from == Status::Placed && to == Status::Cancelled
            }
            Self::Admin => true,
        };
        allowed && from.can_become(to)
    }

    /// Whether this actor may move an order of `owner` from `from` to `to`.
    pub fn check_move(self, owner: i32, from: Status, to: Status) -> Result<(), IllegalMove> {
        if self.may(owner, from, to) {
            Ok(())
        } else {
            Err(IllegalMove { from, to })
        }
    }

    /// Whether this actor may see an order of `owner` at all (404 otherwise,
    /// so that other users' ids tell nothing).
    pub fn may_see(self, owner: i32) -> bool {
        match self {
            Self::Owner(user_id) => user_id == owner,
            Self::Admin => true,
        }
    }
}

/// A status change that is not allowed (a 409).
#[derive(Debug)]
pub struct IllegalMove {
    from: Status,
    to: Status,
}

impl From<IllegalMove> for AppError {
    fn from(refused: IllegalMove) -> Self {
        let (from, to) = (refused.from.as_str(), refused.to.as_str());
        AppError::conflict(format!("an order that is {from} cannot become {to}"))
    }
}

/// A request to place an order: what is ordered, and the total the shopper
/// saw (the price guard: when given, an order whose total differs is
/// refused and nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub source: OrderSource,
    pub expected_total: Option<crate::domain::Money>,
    /// Where it goes, kept with the order.
    pub shipping_address: Option<ShippingAddress>,
}

impl OrderRequest {
    /// A stable digest of the request (see [`OrderSource::digest`]); the
    /// expected total is part of it, so a key reused with another is refused.
    pub fn digest(&self) -> String {
        let mut digest = self.source.digest();
        if let Some(total) = self.expected_total {
            digest = format!("{digest}:{}", total.shortest());
        }
        if let Some(address) = &self.shipping_address {
            let canonical = serde_json::to_string(address).unwrap_or_default();
            let hashed = xxhash_rust::xxh3::xxh3_64(canonical.as_bytes());
            digest = format!("{digest}:{hashed:016x}");
        }
        digest
    }
}

/// Where an order goes, as given at checkout (API.md): every field 1 to 255
/// characters after trimming, without control characters; `country` an ISO
/// 3166-1 alpha-2 code (kept upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingAddress {
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "12 St James's Square")]
    pub line1: String,
    pub line2: Option<String>,
    #[schema(example = "London")]
    pub city: String,
    #[schema(example = "SW1Y 4JH")]
    pub postal_code: String,
    #[schema(example = "GB")]
    pub country: String,
}

/// An ISO 3166-1 alpha-2 country code, in either case; kept upper-case.
pub fn parse_country(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase();
    isocountry::CountryCode::for_alpha2(&code)
        .map(|_| code)
        .map_err(|_| format!("{raw:?} is not an ISO 3166-1 alpha-2 country code (such as GB)"))
}

/// One step of an order's life: the status it reached, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub status: Status,
    pub at: DateTime<Utc>,
}

/// The human-readable number of order `id` (`EM-000042`): unique as the id is.
pub fn order_number(id: i32) -> String {
    format!("EM-{id:06}")
}

/// Which orders a list shows (besides whose: the viewer decides that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<Status>,
    /// Only an admin may ask for another customer's orders.
    pub user_id: Option<i32>,
    /// On `created_at`: from (inclusive) and to (exclusive).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The page starts after this order (lists go newest first, by id).
    pub after: Option<i32>,
}

/// Order lists go newest first, by id; their cursors say so.
pub const ORDER_LIST_ORDER: &str = "id:DESC";

impl OrderFilter {
    /// Whether the list is open-ended (a customer or a time range): such
    /// lists are answered from PostgreSQL and not kept in the cache.
    pub fn is_open_ended(&self) -> bool {
        self.user_id.is_some() || self.from.is_some() || self.to.is_some() || self.after.is_some()
    }
}

/// What is being ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderSource {
    /// The user's cart, as it is when the transaction locks it.
    Cart,
    /// These lines, in the order sent (field names `items[i]`).
    Items(Vec<(Item, i32)>),
}

impl OrderSource {
    /// The field the lines are reported under.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Cart => "cart",
            Self::Items(_) => "items",
        }
    }

    /// A stable digest of the request, to tell a replay from a reuse of the
    /// key with another body. Lines are summed and sorted first, so the
    /// same request written differently is still the same request.
    pub fn digest(&self) -> String {
        let canonical = match self {
            Self::Cart => "cart".to_owned(),
            Self::Items(items) => summed(items.iter().copied())
                .iter()
                .map(|(item, (quantity, _))| {
                    format!(
                        "{}:{}:{quantity}",
                        item.product_id,
                        item.sku_id.unwrap_or(0)
                    )
                })
                .collect::<Vec<_>>()
                .join(";"),
        };
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(canonical.as_bytes()))
    }
}

/// Sums quantities of the same item, keyed (and so sorted) by product then
/// SKU: the order rows are locked in. The index is the item's first line.
pub fn summed(lines: impl Iterator<Item = (Item, i32)>) -> BTreeMap<Item, (i64, usize)> {
    let mut sums: BTreeMap<Item, (i64, usize)> = BTreeMap::new();
    for (index, (item, quantity)) in lines.enumerate() {
        let entry = sums.entry(item).or_insert((0, index));
        entry.0 += i64::from(quantity);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    fn item(product_id: i32, sku_id: Option<i32>) -> Item {
        Item { product_id, sku_id }
    }

    #[test]
    fn json_and_the_column_use_the_same_words() {
        for status in Status::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

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

    #[test]
    fn an_owner_may_only_cancel_their_own_placed_order() {
        assert!(Actor::Owner(1).may(1, Placed, Cancelled));
        assert!(!Actor::Owner(1).may(1, Paid, Cancelled));
        assert!(!Actor::Owner(1).may(2, Placed, Cancelled));
        assert!(!Actor::Owner(1).may(1, Placed, Paid));
        assert!(Actor::Admin.may(2, Paid, Cancelled));
    }

    #[test]
    fn the_same_request_written_differently_has_one_digest() {
        let a = OrderSource::Items(vec![
            (item(2, None), 1),
            (item(1, None), 2),
            (item(2, None), 3),
        ]);
        let b = OrderSource::Items(vec![(item(1, None), 2), (item(2, None), 4)]);
        let c = OrderSource::Items(vec![(item(1, None), 2), (item(2, None), 5)]);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(b.digest(), c.digest());
        assert_ne!(OrderSource::Cart.digest(), b.digest());
    }

    #[test]
    fn lines_are_summed_and_sorted_by_product_then_sku() {
        let sums = summed(
            vec![
                (item(5, Some(9)), 1),
                (item(2, None), 1),
                (item(5, Some(3)), 2),
                (item(2, None), 4),
            ]
            .into_iter(),
        );
        let keys: Vec<_> = sums.keys().copied().collect();
        assert_eq!(keys, [item(2, None), item(5, Some(3)), item(5, Some(9))]);
        assert_eq!(sums[&item(2, None)], (5, 1));
    }
}
