//! Every query on `cart_items`: the cart is their one owner (checkout locks
//! a cart's lines through [`lock_lines`] and removes the ones it ordered
//! through [`remove_lines`]). A change to a user's cart runs under that
//! cart's lock ([`lock_cart`]).

use diesel::prelude::*;
use diesel::sql_types::Int4;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::inventory::{Item, StoredLine};
use crate::schema::cart_items;

/// The class of the advisory locks that stand for a user's cart (class 1
/// is a product's queue of buyers, in `queue_within_deadline`, which
/// checkout's SQL routines call).
const CART_LOCK_CLASS: i32 = 2;

/// Takes the lock on the user's cart until the transaction ends, so that
/// the user's changes to it run one after another: each checks the bound on
/// lines and on the total against the cart the one before it left.
pub async fn lock_cart(conn: &mut AsyncPgConnection, user_id: i32) -> QueryResult<()> {
    crate::db::locks::lock_in_class_until_commit(conn, CART_LOCK_CLASS, user_id).await
}

/// A cart line with today's name, price and stock.
#[derive(Debug, Clone, QueryableByName)]
pub struct CartLineRow {
    #[diesel(sql_type = Int4)]
    pub id: i32,
    #[diesel(sql_type = Int4)]
    pub product_id: i32,
    /// The SKU's quantity, or the product's stock.
    #[diesel(sql_type = Int4)]
    pub available: i32,
    #[diesel(embed)]
    pub line: StoredLine,
}

pub async fn cart_lines(
    conn: &mut AsyncPgConnection,
    user_id: i32,
) -> QueryResult<Vec<CartLineRow>> {
    // A SKU's price and stock come from the inventory's one rule (`sku_offers`).
    diesel::sql_query(
        "SELECT c.id, c.product_id, c.sku_id, p.product_name, \
                COALESCE(o.price, p.price) AS unit_price, c.quantity, o.style_name, o.size, \
                COALESCE(o.available, p.stock) AS available \
         FROM cart_items c \
         JOIN products p ON p.id = c.product_id \
         LEFT JOIN sku_offers o ON o.sku_id = c.sku_id \
         WHERE c.user_id = $1 ORDER BY c.id",
    )
    .bind::<Int4, _>(user_id)
    .load(conn)
    .await
}

/// The cart lines a checkout locked: what it orders, and which rows it
/// removes once the order is placed (only those: a line added meanwhile
/// stays in the cart).
#[derive(Debug, Clone, Default)]
pub struct LockedLines {
    pub ids: Vec<i32>,
    pub lines: Vec<(Item, i32)>,
}

/// A user's cart lines, locked for the checkout that orders them, oldest first.
pub async fn lock_lines(conn: &mut AsyncPgConnection, user_id: i32) -> QueryResult<LockedLines> {
    let rows = cart_items::table
        .filter(cart_items::user_id.eq(user_id))
        .order(cart_items::id)
        .select((
            cart_items::id,
            cart_items::product_id,
            cart_items::sku_id,
            cart_items::quantity,
        ))
        .for_update()
        .load::<(i32, i32, Option<i32>, i32)>(conn)
        .await?;
    Ok(rows.into_iter().fold(
        LockedLines::default(),
        |mut locked, (id, product_id, sku_id, quantity)| {
            locked.ids.push(id);
            locked.lines.push((Item { product_id, sku_id }, quantity));
            locked
        },
    ))
}

/// Adds `quantity` of `item` to the user's cart: a new line, or more of the
/// line already there (one statement, so two concurrent adds of the same
/// item both count). Returns the line's quantity asked for, which the
/// caller checks against what is available (rolling back when it is too
/// much). A sum past `i32::MAX`, more than any stock, is not written: the
/// sum is answered all the same, for the caller's refusal to name.
pub async fn add_to_line(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    item: Item,
    quantity: i32,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Merged {
        #[diesel(sql_type = Int4)]
        quantity: i32,
    }
    let added = diesel::sql_query(
        "INSERT INTO cart_items (user_id, product_id, sku_id, quantity) VALUES ($1, $2, $3, $4) \
         ON CONFLICT ON CONSTRAINT cart_items_line_key DO UPDATE \
           SET quantity = cart_items.quantity + EXCLUDED.quantity \
           WHERE cart_items.quantity::bigint + EXCLUDED.quantity <= 2147483647 \
         RETURNING quantity",
    )
    .bind::<Int4, _>(user_id)
    .bind::<Int4, _>(item.product_id)
    .bind::<diesel::sql_types::Nullable<Int4>, _>(item.sku_id)
    .bind::<Int4, _>(quantity)
    .get_result::<Merged>(conn)
    .await
    .optional()?
    .map(|merged| merged.quantity);
    match added {
        Some(merged) => Ok(i64::from(merged)),
        None => {
            let there: i32 = cart_items::table
                .filter(cart_items::user_id.eq(user_id))
                .filter(cart_items::product_id.eq(item.product_id))
                .filter(cart_items::sku_id.is_not_distinct_from(item.sku_id))
                .select(cart_items::quantity)
                .first(conn)
                .await?;
            Ok(i64::from(there) + i64::from(quantity))
        }
    }
}

pub async fn set_quantity(conn: &mut AsyncPgConnection, id: i32, quantity: i32) -> QueryResult<()> {
    diesel::update(cart_items::table.find(id))
        .set(cart_items::quantity.eq(quantity))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The user's line `id` (never another user's), locked for update.
pub async fn find_line(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    id: i32,
) -> QueryResult<Option<(Item, i32)>> {
    cart_items::table
        .filter(cart_items::id.eq(id).and(cart_items::user_id.eq(user_id)))
        .select((
            cart_items::product_id,
            cart_items::sku_id,
            cart_items::quantity,
        ))
        .for_update()
        .first::<(i32, Option<i32>, i32)>(conn)
        .await
        .optional()
        .map(|found| {
            found.map(|(product_id, sku_id, quantity)| (Item { product_id, sku_id }, quantity))
        })
}

pub async fn delete_line(conn: &mut AsyncPgConnection, user_id: i32, id: i32) -> QueryResult<bool> {
    diesel::delete(
        cart_items::table.filter(cart_items::id.eq(id).and(cart_items::user_id.eq(user_id))),
    )
    .execute(conn)
    .await
    .map(|deleted| deleted > 0)
}

/// Empties the user's cart. Its lines are locked by id first, as a
/// checkout and a product's deletion lock them: a plain `DELETE` takes them
/// in the order of its scan (by product, or as stored), and could wait on
/// one of them while holding a line they wait for.
pub async fn clear(conn: &mut AsyncPgConnection, user_id: i32) -> QueryResult<usize> {
    let ids = lock_lines(conn, user_id).await?.ids;
    remove_lines(conn, user_id, &ids).await
}

/// Removes the user's lines `ids` (the ones a checkout locked and ordered).
pub async fn remove_lines(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    ids: &[i32],
) -> QueryResult<usize> {
    diesel::delete(
        cart_items::table.filter(
            cart_items::user_id
                .eq(user_id)
                .and(cart_items::id.eq_any(ids)),
        ),
    )
    .execute(conn)
    .await
}
