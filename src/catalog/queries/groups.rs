//! Every query on `categories` and `tags`, and on the products they embed.
//! The two tables are alike but for their names; [`GroupTable`] is their
//! queries, written once (in `group_table!`) for both.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::EMBEDDED_PRODUCTS;
use crate::catalog::models::{Category, GroupRecord, PricedProduct, ProductOfGroup, Tag};
use crate::db::lower_text;
use crate::domain::{Name, Pagination};
use crate::schema::{categories, tags};

/// The queries of one kind of group (categories or tags).
pub trait GroupTable: Send + Sync + 'static {
    type Row: Send;

    /// A page of groups with their first products, and how many there are.
    /// A page of groups, each with its first products when `embed` is set
    /// (and its products' total either way).
    /// (One past the limit, to tell whether more follow; from the group
    /// after `after`, by id, when given, instead of the page's OFFSET.)
    fn list(
        conn: &mut AsyncPgConnection,
        page: Pagination,
        after: Option<i32>,
        embed: bool,
    ) -> impl Future<Output = QueryResult<(Vec<GroupRecord<Self::Row>>, i64)>> + Send;
    fn find(
        conn: &mut AsyncPgConnection,
        id: i32,
    ) -> impl Future<Output = QueryResult<Option<GroupRecord<Self::Row>>>> + Send;
    /// The id of the group with this name, compared case-insensitively.
    fn id_by_name(
        conn: &mut AsyncPgConnection,
        name: &str,
    ) -> impl Future<Output = QueryResult<Option<i32>>> + Send;
    /// Inserts one; its id.
    fn insert(
        conn: &mut AsyncPgConnection,
        name: &Name,
    ) -> impl Future<Output = QueryResult<i32>> + Send;
    /// Renames one; false when there is none.
    fn rename(
        conn: &mut AsyncPgConnection,
        id: i32,
        name: &Name,
    ) -> impl Future<Output = QueryResult<bool>> + Send;
    /// Deletes one (a category's products stay with no category; a tag's
    /// ProductTag rows go); false when there was none.
    fn delete(
        conn: &mut AsyncPgConnection,
        id: i32,
    ) -> impl Future<Output = QueryResult<bool>> + Send;
}

/// How a kind of group reaches its products: the first [`EMBEDDED_PRODUCTS`]
/// of each group in `$1` (as `group_id` and the product's columns), and how
/// many each has (`group_id`, `total`).
struct Embedding {
    first_products: &'static str,
    totals: &'static str,
}

macro_rules! group_table {
    ($(#[$doc:meta])* $marker:ident: $row:ident in $table:ident($name:ident), $embedding:expr,
     before_delete: $before:expr) => {
        $(#[$doc])*
        pub struct $marker;

        impl GroupTable for $marker {
            type Row = $row;

            async fn list(
                conn: &mut AsyncPgConnection,
                page: Pagination,
                after: Option<i32>,
                embed: bool,
            ) -> QueryResult<(Vec<GroupRecord<$row>>, i64)> {
                let mut query = $table::table.order($table::id).limit(page.limit + 1).into_boxed();
                query = match after {
                    Some(after) => query.filter($table::id.gt(after)),
                    None => query.offset(page.offset()),
                };
                let rows = query.select($row::as_select()).load(conn).await?;
                let total = $table::table.count().get_result(conn).await?;
                let ids = rows.iter().map(|row| row.id).collect();
                Ok((with_products(conn, rows, ids, &$embedding, embed).await?, total))
            }

            async fn find(
                conn: &mut AsyncPgConnection,
                id: i32,
            ) -> QueryResult<Option<GroupRecord<$row>>> {
                let row = $table::table
                    .find(id)
                    .select($row::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Ok(None) };
                Ok(with_products(conn, vec![row], vec![id], &$embedding, true).await?.pop())
            }

            async fn id_by_name(
                conn: &mut AsyncPgConnection,
                name: &str,
            ) -> QueryResult<Option<i32>> {
                $table::table
                    .filter(lower_text($table::$name).eq(lower_text(name)))
                    .select($table::id)
                    .first(conn)
                    .await
                    .optional()
            }

            async fn insert(conn: &mut AsyncPgConnection, name: &Name) -> QueryResult<i32> {
                diesel::insert_into($table::table)
                    .values($table::$name.eq(name.as_str()))
                    .returning($table::id)
                    .get_result(conn)
                    .await
            }

            async fn rename(
                conn: &mut AsyncPgConnection,
                id: i32,
                name: &Name,
            ) -> QueryResult<bool> {
                let renamed = diesel::update($table::table.find(id))
                    .set($table::$name.eq(name.as_str()))
                    .execute(conn)
                    .await?;
                Ok(renamed > 0)
            }

            async fn delete(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
                let before: &[&str] = $before;
                for statement in before {
                    diesel::sql_query(*statement).bind::<Int4, _>(id).execute(conn).await?;
                }
                let deleted = diesel::delete($table::table.find(id)).execute(conn).await?;
                Ok(deleted > 0)
            }
        }
    };
}

/// An [`Embedding`] from `members`, the products of the group `g.id` in id
/// order (as a subquery), and `links(column)`, the table with a row per
/// product of a group, named in `column`. LATERAL walks the members' index
/// once per group and stops after the limit.
macro_rules! embedding {
    (members: $members:literal, links: $links:literal($column:literal)) => {
        Embedding {
            first_products: concat!(
                "SELECT g.id AS group_id, ",
                product_columns!(),
                " FROM unnest($1) AS g(id) CROSS JOIN LATERAL (",
                $members,
                " LIMIT $2) AS p ORDER BY g.id, p.id"
            ),
            totals: concat!(
                "SELECT ",
                $column,
                " AS group_id, count(*) AS total FROM ",
                $links,
                " WHERE ",
                $column,
                " = ANY($1) GROUP BY ",
                $column
            ),
        }
    };
}

group_table!(
    /// The `categories` table; a category's products name it in `category_id`.
    Categories: Category in categories(category_name),
    embedding!(
        members: "SELECT * FROM products WHERE products.category_id = g.id ORDER BY products.id",
        links: "products"("category_id")
    ),
    // Its products lose their category with it: their rows are locked
    // first, in id order as a checkout locks them (in the order the
    // deletion came across them, a checkout of two of them could deadlock
    // with it), and changed (`updated_at` too) before the row goes. The
    // category's own row is locked before them, in a statement of its own:
    // that waits out a product joining it (whose key check holds the row)
    // and keeps any other from joining, so the products' lock, with a
    // snapshot taken after, finds every member.
    before_delete: &[
        "SELECT 1 FROM categories WHERE id = $1 FOR UPDATE",
        "SELECT 1 FROM products WHERE category_id = $1 ORDER BY id FOR NO KEY UPDATE",
        "UPDATE products SET category_id = NULL, updated_at = now() WHERE category_id = $1",
    ]
);

group_table!(
    /// The `tags` table; a tag's products are linked through `product_tags`.
    Tags: Tag in tags(tag_name),
    embedding!(
        members: "SELECT products.* FROM product_tags \
            JOIN products ON products.id = product_tags.product_id \
            WHERE product_tags.tag_id = g.id ORDER BY product_tags.product_id",
        links: "product_tags"("tag_id")
    ),
    // Its links go with it (no checkout locks them); its products' rows
    // are locked in id order, as a checkout locks them, and their
    // `updated_at` moved, as a change of their tags moves it. The tag's own
    // row first, as a category's deletion does: a link being made to it
    // is waited out and no other is made, so both statements after it find
    // the same products.
    before_delete: &[
        "SELECT 1 FROM tags WHERE id = $1 FOR UPDATE",
        "SELECT 1 FROM products WHERE id IN (SELECT product_id FROM product_tags WHERE tag_id = $1) \
         ORDER BY id FOR NO KEY UPDATE",
        "UPDATE products SET updated_at = now() \
         WHERE id IN (SELECT product_id FROM product_tags WHERE tag_id = $1)",
    ]
);

pub async fn category_exists(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(categories::table.find(id)))
        .get_result(conn)
        .await
}

/// Which of `ids` name existing tags.
pub async fn existing_tag_ids(conn: &mut AsyncPgConnection, ids: &[i32]) -> QueryResult<Vec<i32>> {
    tags::table
        .filter(tags::id.eq_any(ids))
        .select(tags::id)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct GroupTotal {
    #[diesel(sql_type = Int4)]
    group_id: i32,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// Hands each group (`ids` in order) its first products and its total.
async fn with_products<G>(
    conn: &mut AsyncPgConnection,
    groups: Vec<G>,
    ids: Vec<i32>,
    embedding: &Embedding,
    embed: bool,
) -> QueryResult<Vec<GroupRecord<G>>> {
    let products = if embed {
        diesel::sql_query(embedding.first_products)
            .bind::<Array<Int4>, _>(&ids)
            .bind::<BigInt, _>(EMBEDDED_PRODUCTS)
            .load::<ProductOfGroup>(conn)
            .await?
    } else {
        Vec::new()
    };
    let totals: HashMap<i32, i64> = diesel::sql_query(embedding.totals)
        .bind::<Array<Int4>, _>(&ids)
        .load::<GroupTotal>(conn)
        .await?
        .into_iter()
        .map(|row| (row.group_id, row.total))
        .collect();
    let product_ids: Vec<i32> = products.iter().map(|row| row.product.id).collect();
    let sku_prices = if product_ids.is_empty() {
        HashMap::new()
    } else {
        super::price_ranges(conn, &product_ids).await?
    };
    let mut by_group: HashMap<i32, Vec<PricedProduct>> = HashMap::new();
    for row in products {
        by_group
            .entry(row.group_id)
            .or_default()
            .push(PricedProduct {
                sku_prices: sku_prices.get(&row.product.id).copied(),
                product: row.product,
            });
    }
    let records = groups.into_iter().zip(ids).map(|(group, id)| GroupRecord {
        id,
        products: embed.then(|| by_group.remove(&id).unwrap_or_default()),
        products_total: totals.get(&id).copied().unwrap_or(0),
        group,
    });
    Ok(records.collect())
}
