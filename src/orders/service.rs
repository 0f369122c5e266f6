//! The order use cases, each one transaction that states what it retires:
//! placing an order (from the cart or from lines), and changing an order's
//! status (cancelling puts the stock back). Reading orders: [`super::reading`].

use std::time::Instant;

use diesel_async::AsyncPgConnection;

use super::cache;
use super::domain::{Actor, OrderRequest, OrderSource, Status};
use super::dto::OrderView;
use super::durable::durably;
use super::models::{Order, OrderLine};
pub use super::placement::Placement;
use super::placement::{Wanted, body_of, refuse_short, refuse_unexpected_total, shipping_address};
use super::queries::{self, PlacedAtOnce};
use crate::background;
use crate::cache::{Cache, CacheWrite};
use crate::config::Config;
use crate::db;
use crate::domain::Money;
use crate::error::{AppError, AppResult};
use crate::idempotency::{self, IdempotencyKey};
use crate::inventory::{self, Purchasable};
use crate::state::AppState;

/// Places an order for `user_id`, in one transaction: replays the first
/// answer of a known `key`; takes every line's stock with a guarded
/// decrement (409 naming every short line, nothing changed); snapshots the
/// prices into the lines; empties the cart when the order came from it.
/// A plain order (items, no key, no expected total) is placed in one call
/// that commits it ([`place_at_once`]) unless it needs a transaction of
/// its own.
pub async fn place(
    state: &AppState,
    user_id: i32,
    request: OrderRequest,
    key: Option<IdempotencyKey>,
    arrived: Instant,
) -> AppResult<Placement> {
    if key.is_none()
        && request.expected_total.is_none()
        && let OrderSource::Items(lines) = &request.source
    {
        let wanted = Wanted::of(lines.clone(), &request.source)?;
        // A task of its own: the call may commit after this request is
        // dropped (a client gone, the request timeout), and its cache write
        // must then finish after the commit, not at the drop, and its
        // connection go back idle.
        let placing = place_at_once(state.clone(), user_id, request.clone(), wanted, arrived);
        if let Some(placement) = background::to_the_end(placing).await? {
            return Ok(placement);
        }
    }
    let commit_before = commit_deadline(&state.config, arrived);
    durably(
        state,
        async |conn: &mut AsyncPgConnection, writes: &mut Vec<CacheWrite>| {
            let placement =
                place_in(conn, &state.cache, writes, user_id, &request, key.as_ref()).await?;
            // A replay changed nothing: it is answered whenever it comes.
            if matches!(placement, Placement::Placed(_)) && Instant::now() >= commit_before {
                return Err(AppError::unavailable(
                    "the order could not be placed in time; nothing was ordered: retry it",
                ));
            }
            Ok(placement)
        },
        Placement::count,
    )
    .await
}

/// When an order's transaction may still commit: a tenth of the request
/// timeout before it answers 503, so that a commit begun in time lands
/// before the client is told to retry, and one that would begin later
/// rolls back instead (a retry without an `Idempotency-Key` would be a
/// second order).
fn commit_deadline(config: &Config, arrived: Instant) -> Instant {
    arrived + config.request_timeout - config.request_timeout / 10
}

/// A plain order placed, committed and flushed in one round trip to
/// PostgreSQL, one statement (the procedure `place_plain_order`, which
/// answers the lines as it stored them): `None` when it needs a
/// transaction of its own (a line names nothing buyable, or a product would
/// run out: the `inStock` lists are retired before such a commit), and
/// nothing was changed.
async fn place_at_once(
    state: AppState,
    user_id: i32,
    request: OrderRequest,
    wanted: Wanted,
    arrived: Instant,
) -> AppResult<Option<Placement>> {
    let field = request.source.field();
    let address = shipping_address(&request)?;
    let mut conn = state.conn().await?;
    let write = state.cache.begin_write(wanted.retired(user_id)).await?;
    let outcome = if in_time_to_place(&state.config, arrived) {
        placed_at_once(&mut conn, user_id, address, &wanted, field).await
    } else {
        Err(AppError::unavailable(
            "the server is too busy to place this order in time; nothing was ordered: retry it",
        ))
    };
    drop(conn);
    let finished = write.finish_after_to_the_end(&outcome).await;
    let placement = outcome?;
    finished?;
    Ok(placement)
}

/// Whether the call may still start: it commits only before its deadline
/// (its start plus `Config::lock_timeout`; past it, it orders nothing:
/// migration `lock_waits_end_by_a_deadline`), and that deadline must fall
/// before the request's timeout answers 503, with a tenth of that timeout
/// to spare. A call that commits after the 503 would charge a client told
/// to retry: the call commits by itself, whatever becomes of the request.
fn in_time_to_place(config: &Config, arrived: Instant) -> bool {
    arrived.elapsed() + config.lock_timeout() + config.request_timeout / 10 < config.request_timeout
}

/// The call, and its answer: the order, `None` (a transaction of its own
/// decides), or the refusal.
async fn placed_at_once(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    address: Option<serde_json::Value>,
    wanted: &Wanted,
    field: &str,
) -> AppResult<Option<Placement>> {
    let placed = queries::place_at_once(conn, user_id, address, &wanted.taken).await;
    match placed {
        Ok(PlacedAtOnce::Placed { order, lines }) => {
            // Committed by the call itself.
            Placement::count_placed();
            placed_answer(conn, order, lines)
                .await
                .map(|body| Some(Placement::Placed(body)))
        }
        Ok(PlacedAtOnce::WouldEmpty) => Ok(None),
        // Nothing was changed. As a transaction answers: the refusal of
        // the read of what the lines are first, then the call's. (A line
        // the call found unbuyable and the read did not: the catalog
        // changed in between; the transaction decides.)
        Ok(PlacedAtOnce::Unbuyable) => read_lines(conn, wanted, field).await.map(|_| None),
        Ok(PlacedAtOnce::Short(short)) => {
            read_lines(conn, wanted, field).await.and_then(|available| {
                let total = wanted.total_of(&available, field);
                Err(refuse_short(total, &short))
            })
        }
        Err(error) => read_lines(conn, wanted, field).await.and_then(|available| {
            let refused = wanted.refuse_failed(error, field);
            wanted.total_of(&available, field).and(Err(refused))
        }),
    }
}

/// A placed order's answer: its lines as the call answered them, or else
/// as stored.
async fn placed_answer(
    conn: &mut AsyncPgConnection,
    order: Order,
    lines: Option<Vec<OrderLine>>,
) -> AppResult<String> {
    let lines = match lines {
        Some(lines) => lines,
        None => queries::lines_of(conn, &[order.id])
            .await?
            .remove(&order.id)
            .unwrap_or_default(),
    };
    body_of(OrderView::new(order, lines))
}

/// What the wanted lines are (names, prices, what is left), or the
/// inventory's refusal of them as field errors.
async fn read_lines(
    conn: &AsyncPgConnection,
    wanted: &Wanted,
    field: &str,
) -> AppResult<Vec<Purchasable>> {
    inventory::resolve(conn, &wanted.items)
        .await
        .map_err(|error| error.into_field_errors(|index| wanted.line_field(field, index)))
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
    let (lines, cart_lines) = match source {
        OrderSource::Items(items) => (items.clone(), Vec::new()),
        OrderSource::Cart => {
            let locked = crate::cart::queries::lock_lines(conn, user_id).await?;
            (locked.lines, locked.ids)
        }
    };
    let wanted = Wanted::of(lines, source)?;
    let mut retired = wanted.retired(user_id);
    if *source == OrderSource::Cart {
        retired = retired.and(crate::cart::cache::cart_changed(user_id));
    }
    writes.push(cache.begin_write(retired).await?);
    let address = shipping_address(request)?;
    // One round trip: the commit's mode, the reads of what the lines are
    // (names, prices: not locked, not their stock) and the locked part,
    // which takes the stock and writes the order in one statement
    // (`queries::place`). Whatever the answer, an error below rolls it back.
    let (deferred, available, placed) = tokio::join!(
        db::hot_write_settings(conn),
        inventory::resolve(conn, &wanted.items),
        queries::place(conn, user_id, address, &wanted.taken),
    );
    deferred?;
    let available = available
        .map_err(|error| error.into_field_errors(|index| wanted.line_field(field, index)))?;
    let quantity = |purchasable: &Purchasable| wanted.quantity(&purchasable.item);
    let total = wanted.total_of(&available, field);
    let (order, unit_prices, stored, emptied) = match placed {
        Ok(queries::Placed::Order {
            order,
            unit_prices,
            lines,
            emptied,
        }) => (order, unit_prices, lines, emptied),
        Ok(queries::Placed::Short(short)) => return Err(refuse_short(total, &short)),
        Err(error) => {
            total?;
            return Err(wanted.refuse_failed(error, field));
        }
    };
    total?;
    if let Some(expected) = request.expected_total {
        // Checked at the prices the locked part charged.
        let charged: Vec<Purchasable> = available
            .iter()
            .zip(&unit_prices)
            .map(|(purchasable, unit_price)| Purchasable {
                unit_price: Money::from_stored(*unit_price),
                ..purchasable.clone()
            })
            .collect();
        let total = Money::from_stored(order.total);
        refuse_unexpected_total(&charged, quantity, total, expected)?;
    }
    if emptied {
        writes.push(
            cache
                .begin_write(inventory::stock_changed(&[], true))
                .await?,
        );
    }
    if *source == OrderSource::Cart {
        // The lines it ordered, not a line added since they were locked.
        crate::cart::queries::remove_lines(conn, user_id, &cart_lines).await?;
    }
    let order_id = order.id;
    let body = wanted.answer(order, stored, available, unit_prices)?;
    if let Some(key) = key {
        idempotency::remember(conn, user_id, key, &digest, order_id, &body).await?;
    }
    Ok(Placement::Placed(body))
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
        |_| {},
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
