//! Checkout's SQL routines, called: `place_order_with_lines` inside an
//! order's transaction, `place_plain_order` for a plain order on its own
//! (migrations `checkout_in_one_statement`, `place_order_at_once` and
//! `checkout_answers_its_lines`), and what their answers mean.

use chrono::{DateTime, Utc};
use diesel::expression::functions::declare_sql_function;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Jsonb, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::inventory::{Item, Shortage, StoredLine};
use crate::orders::domain::Status;
use crate::orders::models::{Order, OrderLine};

#[declare_sql_function]
extern "SQL" {
    /// Checkout's locked part in one statement (migrations
    /// `checkout_in_one_statement` and `checkout_answers_its_lines`).
    fn place_order_with_lines(
        buyer: Int4,
        address: Nullable<Jsonb>,
        line_products: Array<Int4>,
        line_skus: Array<Nullable<Int4>>,
        line_quantities: Array<Int4>,
    ) -> Record<(
        Array<Int4>,
        Array<Int4>,
        Nullable<Int4>,
        Nullable<Timestamptz>,
        Nullable<Numeric>,
        Nullable<Array<Numeric>>,
        Nullable<Bool>,
        Nullable<Array<Nullable<Text>>>,
        Nullable<Array<Nullable<Text>>>,
        Nullable<Array<Nullable<Text>>>,
    )>;
}

/// What [`place`] did.
pub enum Placed {
    /// Nothing: these lines ask for more than is left.
    Short(Vec<Shortage>),
    /// The order, as stored, each line's unit price as charged, its lines
    /// as written under the locks (`None` unless the answer held them whole),
    /// and whether some product's stock reached zero.
    Order {
        order: Order,
        unit_prices: Vec<Decimal>,
        lines: Option<Vec<OrderLine>>,
        emptied: bool,
    },
}

/// Row shape of `place_order_with_lines`'s answer.
type PlaceOrderAnswer = (
    Vec<i32>,
    Vec<i32>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<Decimal>,
    Option<Vec<Decimal>>,
    Option<bool>,
    LineNames,
    LineNames,
    LineNames,
);

/// What `place_order_with_lines` and `place_plain_order` answer of each line: its
/// product's name, its style's, its size (one column each).
type LineNames = Option<Vec<Option<String>>>;

/// Queues for the lines' products, locks them, and either takes every
/// line's stock and writes the order (at today's prices) or, when some
/// lines are short, nothing; one statement. `lines` name distinct items.
/// It borrows the connection shared, so that the caller can send its reads
/// in the same round trip.
pub async fn place(
    mut conn: &AsyncPgConnection,
    user_id: i32,
    shipping_address: Option<serde_json::Value>,
    lines: &[(Item, i32)],
) -> QueryResult<Placed> {
    let (products, skus, quantities) = line_columns(lines);
    let row: PlaceOrderAnswer = diesel::select(place_order_with_lines(
        user_id,
        shipping_address.clone(),
        products,
        skus,
        quantities,
    ))
    .get_result(&mut conn)
    .await?;
    let (short_lines, short_available, id, placed_at, total, unit_prices, emptied, p, s, z) = row;
    let short = (short_lines, short_available);
    let answer = Answer::of(short, id, placed_at, total, unit_prices, [p, s, z]);
    Ok(match answer.read(user_id, shipping_address, lines)? {
        Err(short) => Placed::Short(short),
        Ok((order, unit_prices, lines)) => Placed::Order {
            order,
            unit_prices,
            lines,
            emptied: emptied.unwrap_or(false),
        },
    })
}

/// What [`place_at_once`] did.
pub enum PlacedAtOnce {
    /// The order, committed and on disk, and its lines as stored (each at
    /// the unit price charged); `None` when the answer did not hold them
    /// whole (never seen: they are then read back).
    Placed {
        order: Order,
        lines: Option<Vec<OrderLine>>,
    },
    /// Nothing: these lines ask for more than is left.
    Short(Vec<Shortage>),
    /// Nothing: a line names nothing buyable (the inventory's read says
    /// which and why).
    Unbuyable,
    /// Nothing, and the order needs a transaction of its own: it would
    /// leave a product with no stock.
    WouldEmpty,
}

/// `CALL place_plain_order(...)`, as a query of its own type so that it
/// is prepared once per connection (`diesel::sql_query` is prepared again
/// at every call: one round trip more).
#[derive(diesel::query_builder::QueryId)]
struct CallPlacePlainOrder {
    buyer: i32,
    address: Option<serde_json::Value>,
    products: Vec<i32>,
    skus: Vec<Option<i32>>,
    quantities: Vec<i32>,
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for CallPlacePlainOrder {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("CALL place_plain_order(");
        out.push_bind_param::<Int4, _>(&self.buyer)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Jsonb>, _>(&self.address)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Int4>, _>(&self.products)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Int4>>, _>(&self.skus)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Int4>, _>(&self.quantities)?;
        // The OUT parameters.
        out.push_sql(", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
        Ok(())
    }
}

impl diesel::query_builder::Query for CallPlacePlainOrder {
    type SqlType = (
        Nullable<Array<Int4>>,
        Nullable<Array<Int4>>,
        Nullable<Int4>,
        Nullable<diesel::sql_types::Timestamptz>,
        Nullable<diesel::sql_types::Numeric>,
        Nullable<Array<diesel::sql_types::Numeric>>,
        Nullable<diesel::sql_types::Bool>,
        Nullable<diesel::sql_types::Bool>,
        Nullable<Array<Nullable<diesel::sql_types::Text>>>,
        Nullable<Array<Nullable<diesel::sql_types::Text>>>,
        Nullable<Array<Nullable<diesel::sql_types::Text>>>,
    );
}

/// Row shape of `place_plain_order`'s answer.
type AtOnceAnswer = (
    Option<Vec<i32>>,
    Option<Vec<i32>>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<Decimal>,
    Option<Vec<Decimal>>,
    Option<bool>,
    Option<bool>,
    LineNames,
    LineNames,
    LineNames,
);

/// A plain order (see [`place`] for `lines`) placed, committed and flushed
/// in one call (the procedure `place_plain_order`), outside any
/// transaction of the connection's: it commits only a whole order that
/// takes no product's last unit, and rolls back anything else. Its answer
/// holds the order's lines as written, so a placed order needs no other
/// statement.
pub async fn place_at_once(
    mut conn: &AsyncPgConnection,
    user_id: i32,
    shipping_address: Option<serde_json::Value>,
    lines: &[(Item, i32)],
) -> QueryResult<PlacedAtOnce> {
    let (products, skus, quantities) = line_columns(lines);
    let call = CallPlacePlainOrder {
        buyer: user_id,
        address: shipping_address.clone(),
        products,
        skus,
        quantities,
    };
    let row: AtOnceAnswer = call.get_result(&mut conn).await?;
    let (short_lines, short_available, id, placed_at, total, unit_prices) =
        (row.0, row.1, row.2, row.3, row.4, row.5);
    let (unbuyable, would_empty, names) = (row.6, row.7, [row.8, row.9, row.10]);
    if unbuyable.unwrap_or(false) {
        return Ok(PlacedAtOnce::Unbuyable);
    }
    if would_empty.unwrap_or(false) {
        return Ok(PlacedAtOnce::WouldEmpty);
    }
    let short = (
        short_lines.unwrap_or_default(),
        short_available.unwrap_or_default(),
    );
    let answer = Answer::of(short, id, placed_at, total, unit_prices, names);
    Ok(match answer.read(user_id, shipping_address, lines)? {
        Err(short) => PlacedAtOnce::Short(short),
        Ok((order, _, lines)) => PlacedAtOnce::Placed { order, lines },
    })
}

/// What both checkout routines answer of an order: the short lines (1-based)
/// with what is left of each; else the order's id, time, total and unit
/// prices; and each line's product name, style name and size.
struct Answer {
    short_lines: Vec<i32>,
    short_available: Vec<i32>,
    order: Written,
    names: [LineNames; 3],
}

/// The order's columns of an answer (all of them, unless lines were short).
struct Written {
    id: Option<i32>,
    placed_at: Option<DateTime<Utc>>,
    total: Option<Decimal>,
    unit_prices: Option<Vec<Decimal>>,
}

/// An order as written (see [`stored_lines`] for its lines), or the lines
/// short of stock.
type Outcome = Result<(Order, Vec<Decimal>, Option<Vec<OrderLine>>), Vec<Shortage>>;

impl Answer {
    fn of(
        (short_lines, short_available): (Vec<i32>, Vec<i32>),
        id: Option<i32>,
        placed_at: Option<DateTime<Utc>>,
        total: Option<Decimal>,
        unit_prices: Option<Vec<Decimal>>,
        names: [LineNames; 3],
    ) -> Self {
        let order = Written {
            id,
            placed_at,
            total,
            unit_prices,
        };
        Self {
            short_lines,
            short_available,
            order,
            names,
        }
    }

    /// What the answer says of an order of `lines` by `user_id`.
    fn read(
        self,
        user_id: i32,
        shipping_address: Option<serde_json::Value>,
        lines: &[(Item, i32)],
    ) -> QueryResult<Outcome> {
        if !self.short_lines.is_empty() {
            return Ok(Err(shortages(
                lines,
                self.short_lines,
                self.short_available,
            )));
        }
        let (order, unit_prices) = placed_order(user_id, shipping_address, self.order)?;
        let names = self.names.map(Option::unwrap_or_default);
        let stored = stored_lines(order.id, lines, unit_prices.clone(), names);
        Ok(Ok((order, unit_prices, stored)))
    }
}

/// The lines an order was written with (`lines` as given to the call), from
/// the columns it answered: each line's unit price, product name, style
/// name and size; `None` unless it answered each of them for every line.
fn stored_lines(
    order_id: i32,
    lines: &[(Item, i32)],
    unit_prices: Vec<Decimal>,
    [product_names, style_names, sizes]: [Vec<Option<String>>; 3],
) -> Option<Vec<OrderLine>> {
    let answered = [
        unit_prices.len(),
        product_names.len(),
        style_names.len(),
        sizes.len(),
    ];
    if answered.iter().any(|count| *count != lines.len()) {
        return None;
    }
    let columns = unit_prices
        .into_iter()
        .zip(product_names)
        .zip(style_names.into_iter().zip(sizes));
    lines
        .iter()
        .zip(columns)
        .map(
            |((item, quantity), ((unit_price, product_name), (style_name, size)))| {
                Some(OrderLine {
                    order_id,
                    product_id: Some(item.product_id),
                    line: StoredLine {
                        sku_id: item.sku_id,
                        product_name: product_name?,
                        style_name,
                        size,
                        unit_price,
                        quantity: *quantity,
                    },
                })
            },
        )
        .collect()
}

/// The lines as the SQL functions take them: products, SKUs, quantities.
fn line_columns(lines: &[(Item, i32)]) -> (Vec<i32>, Vec<Option<i32>>, Vec<i32>) {
    let products = lines.iter().map(|(item, _)| item.product_id).collect();
    let skus = lines.iter().map(|(item, _)| item.sku_id).collect();
    let quantities = lines.iter().map(|(_, quantity)| *quantity).collect();
    (products, skus, quantities)
}

/// The short lines checkout's routine answers (1-based indexes into `lines`,
/// with what is left of each).
fn shortages(lines: &[(Item, i32)], short_lines: Vec<i32>, available: Vec<i32>) -> Vec<Shortage> {
    short_lines
        .into_iter()
        .zip(available)
        .filter_map(|(line, available)| {
            let (item, requested) = lines.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
            Some(Shortage {
                item: *item,
                requested: i64::from(*requested),
                available,
            })
        })
        .collect()
}

/// The order checkout's routine wrote, from its answer's columns.
fn placed_order(
    user_id: i32,
    shipping_address: Option<serde_json::Value>,
    written: Written,
) -> QueryResult<(Order, Vec<Decimal>)> {
    let Written {
        id: Some(id),
        placed_at: Some(placed_at),
        total: Some(total),
        unit_prices: Some(unit_prices),
    } = written
    else {
        return Err(diesel::result::Error::DeserializationError(
            "checkout answered neither short lines nor an order".into(),
        ));
    };
    let order = Order {
        id,
        user_id,
        status: Status::Placed,
        total,
        created_at: placed_at,
        updated_at: placed_at,
        shipping_address,
        history: serde_json::json!([{"status": Status::Placed.as_str(), "at": placed_at}]),
    };
    Ok((order, unit_prices))
}
