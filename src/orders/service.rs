//! The order use cases, each one transaction that states what it retires:
//! placing an order (from the cart or from lines), and changing an order's
//! status (cancelling puts the stock back). Reading orders: [`super::reading`].

use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use super::cache;
use super::domain::{Actor, OrderRequest, OrderSource, Status, summed};
use super::dto::OrderView;
use super::models::OrderLine;
use super::queries;
use crate::cache::{Cache, CacheWrite};
use crate::db;
use crate::domain::Money;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::idempotency::{self, IdempotencyKey};
use crate::inventory::{self, Item, Purchasable, StoredLine};
use crate::response::Envelope;
use crate::state::AppState;

/// The answer to a placement: a new order's body, or the first answer's.
pub enum Placement {
    Placed(String),
    Replayed(String),
}

/// Places an order for `user_id`, in one transaction: replays the first
/// answer of a known `key`; takes every line's stock with a guarded
/// decrement (409 naming every short line, nothing changed); snapshots the
/// prices into the lines; empties the cart when the order came from it.
pub async fn place(
    state: &AppState,
    user_id: i32,
    request: OrderRequest,
    key: Option<IdempotencyKey>,
) -> AppResult<Placement> {
    durably(
        state,
        async |conn: &mut AsyncPgConnection, writes: &mut Vec<CacheWrite>| {
            place_in(conn, &state.cache, writes, user_id, &request, key.as_ref()).await
        },
    )
    .await
}

async fn place_in(
    conn: &mut AsyncPgConnection,
    cache: &Cache,
    writes: &mut Vec<CacheWrite>,
    user_id: i32,
    request: &OrderRequest,
    key: Option<&IdempotencyKey>,
) -> AppResult<Placement> {
    let source = &request.source;
    let digest = request.digest();
    if let Some(key) = key
        && let Some(body) = idempotency::replay_or_lock(conn, user_id, key, &digest).await?
    {
        return Ok(Placement::Replayed(body));
    }
    let field = source.field();
    let lines = match source {
        OrderSource::Items(items) => items.clone(),
        OrderSource::Cart => crate::cart::queries::lock_lines(conn, user_id).await?,
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
    check_sums_fit(&sums, field)?;
    let items: Vec<Item> = sums.keys().copied().collect();
    let wanted = |item: &Item| sums[item].0;
    // Retired before any product row is locked, so that the round trip to
    // Redis is not part of the time a hot product's buyers wait for each
    // other; the one thing only the locked rows tell (whether a product's
    // stock reaches zero, which `inStock` lists show) retires further below,
    // still before the commit.
    let mut product_ids: Vec<i32> = items.iter().map(|item| item.product_id).collect();
    product_ids.dedup();
    let mut retired =
        cache::order_changed(user_id).and(inventory::stock_changed(&product_ids, false));
    if *source == OrderSource::Cart {
        retired = retired.and(crate::cart::cache::cart_changed(user_id));
    }
    writes.push(cache.begin_write(retired).await?);
    let address = request
        .shipping_address
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let taken: Vec<(Item, i32)> = items
        .iter()
        .map(|item| (*item, wanted(item) as i32))
        .collect();
    // One round trip: the commit's mode, the reads of what the lines are
    // (names, prices: not locked, not their stock) and the locked part,
    // which takes the stock and writes the order in one statement
    // (`queries::place`). Whatever the answer, an error below rolls it back.
    let (deferred, available, placed) = tokio::join!(
        db::hot_write_settings(conn),
        inventory::resolve(conn, &items),
        queries::place(conn, user_id, address, &taken),
    );
    deferred?;
    let available = available.map_err(|error| {
        error.into_field_errors(|index| format!("{field}[{}]", sums[&items[index]].1))
    })?;
    let wanted = |purchasable: &Purchasable| wanted(&purchasable.item);
    let total = total_of(&available, wanted, field);
    let (order, unit_prices, emptied) = match placed {
        Ok(queries::Placed::Order {
            order,
            unit_prices,
            emptied,
        }) => (order, unit_prices, emptied),
        Ok(queries::Placed::Short(short)) => return Err(refuse_short_lines(&short)),
        Err(error) => {
            total?;
            return Err(error.into());
        }
    };
    total?;
    // Charged at the prices the locked part read (an edit may have landed
    // since this request's own read).
    let available: Vec<Purchasable> = available
        .into_iter()
        .zip(unit_prices)
        .map(|(purchasable, unit_price)| Purchasable {
            unit_price: Money::from_stored(unit_price),
            ..purchasable
        })
        .collect();
    if let Some(expected) = request.expected_total {
        let total = Money::from_stored(order.total);
        refuse_unexpected_total(&available, wanted, total, expected)?;
    }
    if emptied {
        writes.push(
            cache
                .begin_write(inventory::stock_changed(&[], true))
                .await?,
        );
    }
    let lines: Vec<OrderLine> = available
        .iter()
        .map(|purchasable| OrderLine {
            order_id: order.id,
            product_id: Some(purchasable.item.product_id),
            line: StoredLine {
                sku_id: purchasable.item.sku_id,
                product_name: purchasable.product_name.clone(),
                unit_price: purchasable.unit_price.amount(),
                quantity: wanted(purchasable) as i32,
                style_name: purchasable.style_name.clone(),
                size: purchasable.size.clone(),
            },
        })
        .collect();
    if *source == OrderSource::Cart {
        crate::cart::queries::clear(conn, user_id).await?;
    }
    let order_id = order.id;
    let view = OrderView::new(order, lines);
    let body = serde_json::to_string(&Envelope { data: view }).map_err(anyhow::Error::from)?;
    if let Some(key) = key {
        idempotency::remember(conn, user_id, key, &digest, order_id, &body).await?;
    }
    Ok(Placement::Placed(body))
}

/// The same item named on several lines must add up to a quantity.
fn check_sums_fit(
    sums: &std::collections::BTreeMap<Item, (i64, usize)>,
    field: &str,
) -> AppResult<()> {
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
fn refuse_unexpected_total(
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
            "the total is {} now, not the expected {}; nothing was ordered",
            total.shortest(),
            expected.shortest()
        ),
        extensions,
    })
}

/// 409 naming every line that asks for more than is left, as the cart
/// answers (API.md).
fn refuse_short_lines(short: &[inventory::Shortage]) -> AppError {
    metrics::counter!("orders_refused_total", "reason" => "stock").increment(1);
    inventory::refuse_shortages(
        short,
        "not enough stock for some lines; nothing was ordered",
    )
}

/// The order's total, or a 422 when it would not fit the money type.
fn total_of(
    available: &[Purchasable],
    wanted: impl Fn(&Purchasable) -> i64,
    field: &str,
) -> AppResult<Money> {
    available
        .iter()
        .try_fold(Money::ZERO, |total, purchasable| {
            purchasable
                .unit_price
                .times(wanted(purchasable))
                .and_then(|line_total| total.plus(line_total))
                .ok_or_else(|| {
                    AppError::validation(field, "the order's total would exceed 99999999.99")
                })
        })
}

/// Moves order `id` to `next` on behalf of `actor`, putting the stock back
/// when it is cancelled. An order the actor may not see is a 404; a move
/// the status machine (or the actor) does not allow is a 409.
pub async fn change_status(
    state: &AppState,
    actor: Actor,
    id: i32,
    next: Status,
) -> AppResult<OrderView> {
    durably(
        state,
        async |conn: &mut AsyncPgConnection, writes: &mut Vec<CacheWrite>| {
            db::hot_write_settings(conn).await?;
            change_in(conn, &state.cache, writes, actor, id, next).await
        },
    )
    .await
}

async fn change_in(
    conn: &mut AsyncPgConnection,
    cache: &Cache,
    writes: &mut Vec<CacheWrite>,
    actor: Actor,
    id: i32,
    next: Status,
) -> AppResult<OrderView> {
    let order = queries::lock_order(conn, id)
        .await?
        .filter(|order| actor.may_see(order.user_id))
        .ok_or_else(|| AppError::not_found(format!("you have no order {id}")))?;
    actor.check_move(order.user_id, order.status, next)?;
    let lines = queries::lines_of(conn, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let mut retired = cache::order_changed(order.user_id);
    if next == Status::Cancelled {
        // The stock goes back, which may bring a product back into stock.
        let product_ids: Vec<i32> = lines.iter().filter_map(|line| line.product_id).collect();
        retired = retired.and(inventory::stock_changed(&product_ids, true));
    }
    writes.push(cache.begin_write(retired).await?);
    if next == Status::Cancelled {
        let moved: Vec<_> = lines
            .iter()
            .map(|line| (line.product_id, line.line.sku_id, line.line.quantity))
            .collect();
        inventory::restore(conn, &moved).await?;
    }
    let order = queries::set_status(conn, id, next).await?;
    let for_admin = actor == Actor::Admin;
    Ok(super::reading::views(conn, vec![order], for_admin)
        .await?
        .remove(0))
}

/// Runs `work` in a transaction on a pooled connection, commits and waits
/// for the disk in one round trip (`work` lets the commit itself skip the
/// wait: see [`db::hot_write_settings`]), and finishes every cache write `work`
/// began, after the commit or the rollback, whatever happened: the first
/// failure is the answer.
async fn durably<T: Send>(
    state: &AppState,
    work: impl for<'c> WriteWork<'c, T> + Send,
) -> AppResult<T> {
    let mut writes = Vec::new();
    let outcome = async {
        let mut conn = state.conn().await?;
        AnsiTransactionManager::begin_transaction(&mut *conn).await?;
        match work(&mut conn, &mut writes).await {
            Ok(value) => {
                db::commit_and_wait_for_disk(&mut conn).await?;
                AppResult::Ok(value)
            }
            // As diesel's own `transaction` does: a failed rollback leaves
            // the connection marked broken (the pool drops it), and its
            // error is the answer unless the manager was broken already.
            Err(error) => match AnsiTransactionManager::rollback_transaction(&mut *conn).await {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback) => Err(rollback.into()),
            },
        }
    }
    .await;
    let mut finished = Ok(());
    for write in writes {
        let result = write.finish().await;
        if finished.is_ok() {
            finished = result;
        }
    }
    let value = outcome?;
    finished?;
    Ok(value)
}

/// What [`durably`] runs: a transaction's work on `conn`, which pushes the
/// cache writes it begins onto `writes`. A trait so that its future can be
/// required to be `Send` (see [`crate::state::DbWork`]).
trait WriteWork<'c, T>:
    FnOnce(&'c mut AsyncPgConnection, &'c mut Vec<CacheWrite>) -> <Self as WriteWork<'c, T>>::Fut
{
    type Fut: Future<Output = AppResult<T>> + Send;
}

impl<'c, T, F, Fut> WriteWork<'c, T> for F
where
    F: FnOnce(&'c mut AsyncPgConnection, &'c mut Vec<CacheWrite>) -> Fut,
    Fut: Future<Output = AppResult<T>> + Send,
{
    type Fut = Fut;
}
