//! The cart's use cases, each one transaction that retires the cart's
//! document: add an item (or more of one), set a line's quantity, remove a
//! line, empty the cart. A line never asks for more than is available, and
//! its total always fits the money type; a change that takes the cart's
//! total past it is refused.

use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::cache;
use super::dto::CartView;
use super::queries;
use crate::domain::Quantity;
use crate::domain::money::MAX_MONEY;
use crate::error::{AppError, AppResult};
use crate::inventory::{self, Item, Purchasable};
use crate::state::{AppState, DbWork};

/// The cart as it is now, at today's prices.
pub async fn view(conn: &mut AsyncPgConnection, user_id: i32) -> AppResult<CartView> {
    Ok(CartView::new(queries::cart_lines(conn, user_id).await?))
}

/// Adds `quantity` of `item` (a new line, or more of the line there).
pub async fn add(
    state: &AppState,
    user_id: i32,
    item: Item,
    quantity: Quantity,
) -> AppResult<CartView> {
    in_transaction(state, user_id, async |conn: &mut AsyncPgConnection| {
        let purchasable = purchasable(conn, item).await?;
        let merged = queries::add_to_line(conn, user_id, item, quantity.get()).await?;
        check_line(&purchasable, merged)?;
        // A new line is one whose quantity is the one just added.
        let new_line = merged == i64::from(quantity.get());
        let cart = view(conn, user_id).await?;
        if new_line {
            lines_fit_an_order(&cart)?;
        }
        total_fits(cart)
    })
    .await
}

/// The most lines a cart holds: what one order takes.
pub const MAX_CART_LINES: usize = inventory::MAX_LINES;

/// Refuses a new line past [`MAX_CART_LINES`]; a 409, rolled back. (Adds
/// at once wait for each other on the cart's lock, so each counts what the
/// one before it added.)
fn lines_fit_an_order(cart: &CartView) -> AppResult<()> {
    if cart.items.len() > MAX_CART_LINES {
        return Err(AppError::conflict(format!(
            "the cart holds {MAX_CART_LINES} lines, the most one order takes; \
             order it or remove a line first"
        )));
    }
    Ok(())
}

/// Sets the quantity of the user's line `line_id` (another user's is a 404).
pub async fn set_quantity(
    state: &AppState,
    user_id: i32,
    line_id: i32,
    quantity: Quantity,
) -> AppResult<CartView> {
    in_transaction(state, user_id, async |conn: &mut AsyncPgConnection| {
        let (item, before) = queries::find_line(conn, user_id, line_id)
            .await?
            .ok_or_else(|| no_line(line_id))?;
        let purchasable = purchasable(conn, item).await?;
        let quantity = check_line(&purchasable, i64::from(quantity.get()))?;
        queries::set_quantity(conn, line_id, quantity).await?;
        let cart = view(conn, user_id).await?;
        // Fewer of a line is always taken (prices may have risen since).
        if quantity <= before {
            Ok(cart)
        } else {
            total_fits(cart)
        }
    })
    .await
}

/// Removes the user's line `line_id`.
pub async fn remove(state: &AppState, user_id: i32, line_id: i32) -> AppResult<()> {
    in_transaction(state, user_id, async |conn: &mut AsyncPgConnection| {
        if queries::delete_line(conn, user_id, line_id).await? {
            Ok(())
        } else {
            Err(no_line(line_id))
        }
    })
    .await
}

/// Empties the user's cart.
pub async fn clear(state: &AppState, user_id: i32) -> AppResult<()> {
    in_transaction(state, user_id, async |conn: &mut AsyncPgConnection| {
        queries::clear(conn, user_id).await?;
        Ok(())
    })
    .await
}

/// Refuses a change that leaves the cart's total past what the money type
/// holds (each line's fits: [`check_line`]); a 422, rolled back. (Changes
/// at once wait for each other on the cart's lock; a cart past it since a
/// price rose is ordered as a 422, as a total too large always is.)
fn total_fits(cart: CartView) -> AppResult<CartView> {
    if cart.total.amount() > MAX_MONEY {
        return Err(AppError::validation(
            "quantity",
            "the cart's total would exceed 99999999.99",
        ));
    }
    Ok(cart)
}

fn no_line(line_id: i32) -> AppError {
    AppError::not_found(format!("your cart has no line {line_id}"))
}

/// Runs `work` in a transaction, with the cart's document retired around
/// it, once the transaction holds the cart's lock ([`queries::lock_cart`]):
/// changes of one cart run one after another.
async fn in_transaction<T: Send>(
    state: &AppState,
    user_id: i32,
    work: impl for<'c> DbWork<'c, T> + Send,
) -> AppResult<T> {
    // diesel-async's `transaction` takes a closure called once, which may
    // hold `work` ([`AppState::transaction`] needs one it may call again).
    let locked = async move {
        let mut conn = state.conn().await?;
        conn.transaction::<_, AppError, _>(async move |conn| {
            queries::lock_cart(conn, user_id).await?;
            work(conn).await
        })
        .await
    };
    state
        .cache
        .write(cache::cart_changed(user_id), locked)
        .await
}

/// The item as it can be bought now; an item that is not buyable is a 422.
async fn purchasable(conn: &mut AsyncPgConnection, item: Item) -> AppResult<Purchasable> {
    inventory::resolve(conn, &[item])
        .await
        .map(|mut resolved| resolved.remove(0))
        .map_err(|error| error.into_field_errors(|_| String::new()))
}

/// Refuses a line whose total would not fit the money type (422: what
/// the request itself asks is refused before what the stock allows, as
/// API.md's "a huge quantity times a price" is a 422), or that asks for
/// more than is available (409 naming the short line, as checkout does).
fn check_line(purchasable: &Purchasable, quantity: i64) -> AppResult<i32> {
    if purchasable.unit_price.times(quantity).is_none() {
        return Err(AppError::validation(
            "quantity",
            "the line's total would exceed 99999999.99",
        ));
    }
    inventory::refuse_short(
        std::slice::from_ref(purchasable),
        |_| quantity,
        &format!("only {} of this item are available", purchasable.available),
    )?;
    i32::try_from(quantity).map_err(|_| AppError::validation("quantity", "too large"))
}
