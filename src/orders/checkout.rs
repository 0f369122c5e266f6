//! Placing an order: one transaction that takes stock with guarded
//! decrements, snapshots prices, writes the order and its lines, empties the
//! cart when the order came from it, and remembers the answer under the
//! request's Idempotency-Key.

use std::collections::BTreeMap;

use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Map, Value, json};

use super::dto::OrderView;
use super::models::NewOrderLine;
use super::queries;
use crate::cache::{Cache, CacheWrite, Namespace};
use crate::catalog::purchasable::{self, Item, Locking};
use crate::domain::Money;
use crate::error::{AppError, FieldErrors};
use crate::response::Envelope;

/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_HOURS: i32 = 24;

/// What is being ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderSource {
    /// The user's cart, as it is when the transaction locks it.
    Cart,
    /// These lines, in the order sent (field names `items[i]`).
    Items(Vec<(Item, i32)>),
}

impl OrderSource {
    /// A stable digest of the request, to tell a replay from a reuse of the
    /// key with another body. Lines are summed and sorted first, so the
    /// same request written differently is still the same request.
    pub fn digest(&self) -> String {
        let canonical = match self {
            Self::Cart => "cart".to_owned(),
            Self::Items(items) => summed(items.iter().map(|(item, quantity)| (*item, *quantity)))
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

/// An Idempotency-Key and the digest of the request that came with it.
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_digest: String,
}

/// The answer to a placement: a new order's body, or the first answer's.
pub enum Placement {
    Placed(String),
    Replayed(String),
}

/// Sums quantities of the same item, keyed (and so sorted) by product then
/// SKU: the order rows are locked in. The index is the item's first line.
fn summed(lines: impl Iterator<Item = (Item, i32)>) -> BTreeMap<Item, (i64, usize)> {
    let mut sums: BTreeMap<Item, (i64, usize)> = BTreeMap::new();
    for (index, (item, quantity)) in lines.enumerate() {
        let entry = sums.entry(item).or_insert((0, index));
        entry.0 += i64::from(quantity);
    }
    sums
}

/// Places the order. Runs inside the caller's transaction. The products'
/// cached documents are retired here, once the transaction knows which
/// products the order takes (the cart's lines are known only once locked),
/// and before it commits; the write is pushed on `writes` for the caller to
/// finish after the commit.
pub async fn place(
    conn: &mut AsyncPgConnection,
    cache: &Cache,
    writes: &mut Vec<CacheWrite>,
    user_id: i32,
    source: &OrderSource,
    idempotency: Option<&Idempotency<'_>>,
) -> Result<Placement, AppError> {
    if let Some(idempotency) = idempotency {
        // Concurrent requests with one key queue here; the later ones then
        // find the first one's answer.
        let lock = xxhash_rust::xxh3::xxh3_64(format!("{user_id}:{}", idempotency.key).as_bytes());
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(lock as i64)
            .execute(conn)
            .await?;
        if let Some((digest, body)) =
            queries::find_idempotent_answer(conn, user_id, idempotency.key, IDEMPOTENCY_HOURS)
                .await?
        {
            return if digest == idempotency.request_digest {
                Ok(Placement::Replayed(body))
            } else {
                Err(AppError::validation(
                    "Idempotency-Key",
                    "this key was used with another request",
                ))
            };
        }
    }

    let (lines, field) = match source {
        OrderSource::Items(items) => (items.clone(), "items"),
        OrderSource::Cart => (queries::lock_cart(conn, user_id).await?, "cart"),
    };
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
    let mut product_ids: Vec<i32> = sums.keys().map(|item| item.product_id).collect();
    product_ids.dedup();
    writes.push(
        cache
            .begin_write(product_ids.into_iter().map(Namespace::Product).collect())
            .await?,
    );
    let mut errors = FieldErrors::new();
    for (item, (quantity, index)) in &sums {
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
    errors.into_result(())?;

    let wanted: Vec<(String, Item)> = sums
        .iter()
        .map(|(item, (_, index))| (format!("{field}[{index}]"), *item))
        .collect();
    // Locks products by id, then SKUs by id: every checkout and cancellation
    // takes them in this order, so none can wait on another in a cycle.
    let available = purchasable::resolve(conn, &wanted, Locking::ForUpdate).await?;

    let short: Vec<Value> = available
        .iter()
        .filter(|purchasable| sums[&purchasable.item].0 > i64::from(purchasable.available))
        .map(|purchasable| {
            json!({
                "product_id": purchasable.item.product_id,
                "sku_id": purchasable.item.sku_id,
                "requested": sums[&purchasable.item].0,
                "available": purchasable.available,
            })
        })
        .collect();
    if !short.is_empty() {
        let mut extensions = Map::new();
        extensions.insert("lines".into(), Value::Array(short));
        return Err(AppError::Conflict {
            detail: "not enough stock for some lines; nothing was ordered".into(),
            extensions,
        });
    }

    let mut total = Money::ZERO;
    for purchasable in &available {
        let line_total = purchasable.unit_price.times(sums[&purchasable.item].0);
        total = match line_total.and_then(|line_total| total.plus(line_total)) {
            Some(total) => total,
            None => {
                return Err(AppError::validation(
                    field,
                    "the order's total would exceed 99999999.99",
                ));
            }
        };
    }

    for purchasable in &available {
        let quantity = sums[&purchasable.item].0 as i32;
        if !queries::take_stock(conn, purchasable.item, quantity).await? {
            // The rows are locked and were checked above; only a product
            // whose stock disagrees with its SKUs can get here.
            return Err(AppError::conflict(format!(
                "product {} does not have the stock its SKUs promise",
                purchasable.item.product_id
            )));
        }
    }

    let order = queries::insert_order(conn, user_id, total.amount()).await?;
    let new_lines: Vec<NewOrderLine> = available
        .iter()
        .map(|purchasable| NewOrderLine {
            order_id: order.id,
            product_id: Some(purchasable.item.product_id),
            sku_id: purchasable.item.sku_id,
            product_name: purchasable.product_name.clone(),
            unit_price: purchasable.unit_price.amount(),
            quantity: sums[&purchasable.item].0 as i32,
        })
        .collect();
    queries::insert_lines(conn, &new_lines).await?;
    if matches!(source, OrderSource::Cart) {
        queries::clear_cart(conn, user_id).await?;
    }
    let lines = queries::lines_of(conn, &[order.id])
        .await?
        .remove(&order.id)
        .unwrap_or_default();
    let order_id = order.id;
    let body = serde_json::to_string(&Envelope {
        data: OrderView::new(order, lines),
    })
    .map_err(anyhow::Error::from)?;
    if let Some(idempotency) = idempotency {
        queries::remember_answer(
            conn,
            user_id,
            idempotency.key,
            &idempotency.request_digest,
            order_id,
            &body,
        )
        .await?;
    }
    Ok(Placement::Placed(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(product_id: i32, sku_id: Option<i32>) -> Item {
        Item { product_id, sku_id }
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
