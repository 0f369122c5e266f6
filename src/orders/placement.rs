//! An order being placed: its lines summed by item and checked, the
//! refusals checkout answers (API.md), and the placed order's answer. The
//! use cases that place it are in [`super::service`].

use std::collections::BTreeMap;

use super::cache;
use super::domain::{OrderRequest, OrderSource, summed};
use super::dto::OrderView;
use super::models::{Order, OrderLine};
use crate::cache::Retirement;
use crate::domain::Money;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::inventory::{self, Item, Purchasable, StoredLine};
use crate::response::Envelope;

/// The answer to a placement: a new order's body, or the first answer's.
pub enum Placement {
    Placed(String),
    Replayed(String),
}

impl Placement {
    /// Counts a placement once it committed (a replay placed nothing).
    pub(super) fn count(&self) {
        if matches!(self, Self::Placed(_)) {
            Self::count_placed();
        }
    }

    /// `orders_placed_total`: orders committed, whether or not anyone
    /// waited for the answer.
    pub(super) fn count_placed() {
        metrics::counter!("orders_placed_total").increment(1);
    }
}

/// An order's lines summed by item (in the order rows are locked), checked
/// to fit, with the quantity each item takes.
pub(super) struct Wanted {
    sums: BTreeMap<Item, (i64, usize)>,
    pub(super) items: Vec<Item>,
    pub(super) taken: Vec<(Item, i32)>,
}

impl Wanted {
    pub(super) fn of(lines: Vec<(Item, i32)>, source: &OrderSource) -> AppResult<Self> {
        let field = source.field();
        if lines.is_empty() {
            return Err(AppError::validation(
                field,
                match source {
                    OrderSource::Cart => "the cart is empty",
                    OrderSource::Items(_) => "must name at least one item",
                },
            ));
        }
        let sums = summed(lines.into_iter());
        check_sums_fit(&sums, field)?;
        let items: Vec<Item> = sums.keys().copied().collect();
        let taken = sums
            .iter()
            .map(|(item, (quantity, _))| (*item, *quantity as i32))
            .collect();
        Ok(Self { sums, items, taken })
    }

    pub(super) fn quantity(&self, item: &Item) -> i64 {
        self.sums[item].0
    }

    /// The total of these lines at the `available` prices, or a 422 naming
    /// `field` when it would not fit the money type.
    pub(super) fn total_of(&self, available: &[Purchasable], field: &str) -> AppResult<Money> {
        available
            .iter()
            .try_fold(Money::ZERO, |total, purchasable| {
                purchasable
                    .unit_price
                    .times(self.quantity(&purchasable.item))
                    .and_then(|line_total| total.plus(line_total))
                    .ok_or_else(|| total_too_large(field))
            })
    }

    /// What the locked part's failure answers: a total that did not fit at
    /// the prices it locked (raised since the request read them) is the
    /// same 422 as one that does not fit at the prices read.
    pub(super) fn refuse_failed(&self, error: diesel::result::Error, field: &str) -> AppError {
        if crate::error::is_numeric_overflow(&error) {
            total_too_large(field)
        } else {
            error.into()
        }
    }

    /// The request's field of the line that first named the `index`th item.
    pub(super) fn line_field(&self, field: &str, index: usize) -> String {
        format!("{field}[{}]", self.sums[&self.items[index]].1)
    }

    /// What placing these lines retires before any row is locked, so that
    /// the round trip to Redis is not part of the time a hot product's
    /// buyers wait for each other. Whether a product's stock reaches zero
    /// (which `inStock` lists show) only the locked rows tell.
    pub(super) fn retired(&self, user_id: i32) -> Retirement {
        let mut product_ids: Vec<i32> = self.items.iter().map(|item| item.product_id).collect();
        product_ids.dedup();
        cache::order_changed(user_id).and(inventory::stock_changed(&product_ids, false))
    }

    /// The placed order's answer: its lines as the locked part wrote them
    /// (`stored`), else as read, at the prices it charged (an edit may have
    /// landed since this request's own read).
    pub(super) fn answer(
        &self,
        order: Order,
        stored: Option<Vec<OrderLine>>,
        available: Vec<Purchasable>,
        unit_prices: Vec<rust_decimal::Decimal>,
    ) -> AppResult<String> {
        if let Some(lines) = stored {
            return body_of(OrderView::new(order, lines));
        }
        let lines: Vec<OrderLine> = available
            .into_iter()
            .zip(unit_prices)
            .map(|(purchasable, unit_price)| OrderLine {
                order_id: order.id,
                product_id: Some(purchasable.item.product_id),
                line: StoredLine {
                    sku_id: purchasable.item.sku_id,
                    quantity: self.quantity(&purchasable.item) as i32,
                    product_name: purchasable.product_name,
                    unit_price: Money::from_stored(unit_price).amount(),
                    style_name: purchasable.style_name,
                    size: purchasable.size,
                },
            })
            .collect();
        body_of(OrderView::new(order, lines))
    }
}

pub(super) fn body_of(view: OrderView) -> AppResult<String> {
    Ok(serde_json::to_string(&Envelope { data: view }).map_err(anyhow::Error::from)?)
}

/// The request's shipping address as the order stores it.
pub(super) fn shipping_address(request: &OrderRequest) -> AppResult<Option<serde_json::Value>> {
    Ok(request
        .shipping_address
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(anyhow::Error::from)?)
}

/// The same item named on several lines must add up to a quantity.
pub(super) fn check_sums_fit(sums: &BTreeMap<Item, (i64, usize)>, field: &str) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    for (item, (quantity, index)) in sums {
        if *quantity > i64::from(i32::MAX) {
            errors.add(
                format!("{field}[{index}].quantity"),
                format!(
                    "the quantities of product {} add up to more than {}",
                    item.product_id,
                    i32::MAX
                ),
            );
        }
    }
    errors.into_result(())
}

/// The price guard: a 409 with the lines and the total as they are now
/// when the total differs from what the shopper saw (API.md).
pub(super) fn refuse_unexpected_total(
    available: &[Purchasable],
    wanted: impl Fn(&Purchasable) -> i64,
    total: Money,
    expected: Money,
) -> AppResult<()> {
    if total == expected {
        return Ok(());
    }
    let lines: Vec<serde_json::Value> = available
        .iter()
        .map(|purchasable| {
            serde_json::json!({
                "product_id": purchasable.item.product_id,
                "sku_id": purchasable.item.sku_id,
                "unit_price": purchasable.unit_price,
                "quantity": wanted(purchasable),
            })
        })
        .collect();
    let mut extensions = serde_json::Map::new();
    extensions.insert("lines".into(), serde_json::Value::Array(lines));
    extensions.insert("total".into(), serde_json::json!(total));
    metrics::counter!("orders_refused_total", "reason" => "price").increment(1);
    Err(AppError::Conflict {
        detail: format!(
            "the total is {total} now, not the expected {expected}; nothing was ordered"
        ),
        extensions,
    })
}

/// 409 naming every line that asks for more than is left, as the cart
/// answers (API.md).
pub(super) fn refuse_short_lines(short: &[inventory::Shortage]) -> AppError {
    metrics::counter!("orders_refused_total", "reason" => "stock").increment(1);
    inventory::refuse_shortages(
        short,
        "not enough stock for some lines; nothing was ordered",
    )
}

/// The refusal of an order with short lines: a total that would not fit
/// first (422: what the request asks before what the stock allows, as
/// API.md's "a huge quantity times a price"), else the short lines (409).
pub(super) fn refuse_short(total: AppResult<Money>, short: &[inventory::Shortage]) -> AppError {
    total.err().unwrap_or_else(|| refuse_short_lines(short))
}

/// The refusal of an order whose total would not fit the money type.
fn total_too_large(field: &str) -> AppError {
    AppError::validation(field, "the order's total would exceed 99999999.99")
}
