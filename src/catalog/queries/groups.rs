//! Every query on `categories` and `tags`, and on the products they embed.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::EMBEDDED_PRODUCTS;
use crate::catalog::models::{Category, GroupRecord, Product, ProductOfGroup, Tag};
use crate::db::lower_text;
use crate::domain::{Name, Pagination};
use crate::schema::{categories, product_tags, products, tags};

// ---- categories ----------------------------------------------------------

pub async fn list_categories(
    conn: &mut AsyncPgConnection,
    page: Pagination,
) -> QueryResult<(Vec<GroupRecord<Category>>, i64)> {
    let rows = categories::table
        .order(categories::id)
        .limit(page.limit)
        .offset(page.offset())
        .select(Category::as_select())
        .load(conn)
        .await?;
    let total = categories::table.count().get_result(conn).await?;
    Ok((with_category_products(conn, rows).await?, total))
}

pub async fn find_category(
    conn: &mut AsyncPgConnection,
    id: i32,
) -> QueryResult<Option<GroupRecord<Category>>> {
    let Some(category) = categories::table
        .find(id)
        .select(Category::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    Ok(with_category_products(conn, vec![category]).await?.pop())
}

/// The category with this name, compared case-insensitively.
pub async fn find_category_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<Category>> {
    categories::table
        .filter(lower_text(categories::category_name).eq(lower_text(name)))
        .select(Category::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn category_exists(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(categories::table.find(id)))
        .get_result(conn)
        .await
}

pub async fn insert_category(conn: &mut AsyncPgConnection, name: &Name) -> QueryResult<Category> {
    diesel::insert_into(categories::table)
        .values(categories::category_name.eq(name.as_str()))
        .returning(Category::as_returning())
        .get_result(conn)
        .await
}

pub async fn rename_category(
    conn: &mut AsyncPgConnection,
    id: i32,
    name: &Name,
) -> QueryResult<Option<Category>> {
    diesel::update(categories::table.find(id))
        .set(categories::category_name.eq(name.as_str()))
        .returning(Category::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a category; its products stay, with no category. True if it existed.
pub async fn delete_category(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    let deleted = diesel::delete(categories::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

async fn with_category_products(
    conn: &mut AsyncPgConnection,
    rows: Vec<Category>,
) -> QueryResult<Vec<GroupRecord<Category>>> {
    let ids: Vec<i32> = rows.iter().map(|category| category.id).collect();
    // One statement for all the categories' first products: LATERAL walks the
    // (category_id, id) index once per category and stops after the limit.
    let products = diesel::sql_query(
        "SELECT c.id AS group_id, p.* FROM unnest($1) AS c(id) \
         CROSS JOIN LATERAL (SELECT * FROM products WHERE products.category_id = c.id \
                             ORDER BY products.id LIMIT $2) AS p \
         ORDER BY c.id, p.id",
    )
    .bind::<Array<Int4>, _>(&ids)
    .bind::<diesel::sql_types::BigInt, _>(EMBEDDED_PRODUCTS)
    .load::<ProductOfGroup>(conn)
    .await?;
    let totals: HashMap<Option<i32>, i64> = products::table
        .filter(products::category_id.eq_any(&ids))
        .group_by(products::category_id)
        .select((products::category_id, count_star()))
        .load::<(Option<i32>, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(group_products(rows, products, |category| {
        let total = totals.get(&Some(category.id)).copied().unwrap_or(0);
        (category.id, total)
    }))
}

// ---- tags ----------------------------------------------------------------

pub async fn list_tags(
    conn: &mut AsyncPgConnection,
    page: Pagination,
) -> QueryResult<(Vec<GroupRecord<Tag>>, i64)> {
    let rows = tags::table
        .order(tags::id)
        .limit(page.limit)
        .offset(page.offset())
        .select(Tag::as_select())
        .load(conn)
        .await?;
    let total = tags::table.count().get_result(conn).await?;
    Ok((with_tag_products(conn, rows).await?, total))
}

pub async fn find_tag(
    conn: &mut AsyncPgConnection,
    id: i32,
) -> QueryResult<Option<GroupRecord<Tag>>> {
    let Some(tag) = tags::table
        .find(id)
        .select(Tag::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    Ok(with_tag_products(conn, vec![tag]).await?.pop())
}

pub async fn insert_tag(conn: &mut AsyncPgConnection, name: &Name) -> QueryResult<Tag> {
    diesel::insert_into(tags::table)
        .values(tags::tag_name.eq(name.as_str()))
        .returning(Tag::as_returning())
        .get_result(conn)
        .await
}

pub async fn rename_tag(
    conn: &mut AsyncPgConnection,
    id: i32,
    name: &Name,
) -> QueryResult<Option<Tag>> {
    diesel::update(tags::table.find(id))
        .set(tags::tag_name.eq(name.as_str()))
        .returning(Tag::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a tag and its ProductTag rows. True if it existed.
pub async fn delete_tag(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    let deleted = diesel::delete(tags::table.find(id)).execute(conn).await?;
    Ok(deleted > 0)
}

/// Which of `ids` name existing tags.
pub async fn existing_tag_ids(conn: &mut AsyncPgConnection, ids: &[i32]) -> QueryResult<Vec<i32>> {
    tags::table
        .filter(tags::id.eq_any(ids))
        .select(tags::id)
        .load(conn)
        .await
}

async fn with_tag_products(
    conn: &mut AsyncPgConnection,
    rows: Vec<Tag>,
) -> QueryResult<Vec<GroupRecord<Tag>>> {
    let ids: Vec<i32> = rows.iter().map(|tag| tag.id).collect();
    let products = diesel::sql_query(
        "SELECT t.id AS group_id, p.* FROM unnest($1) AS t(id) \
         CROSS JOIN LATERAL (SELECT products.* FROM product_tags \
                             JOIN products ON products.id = product_tags.product_id \
                             WHERE product_tags.tag_id = t.id \
                             ORDER BY product_tags.product_id LIMIT $2) AS p \
         ORDER BY t.id, p.id",
    )
    .bind::<Array<Int4>, _>(&ids)
    .bind::<diesel::sql_types::BigInt, _>(EMBEDDED_PRODUCTS)
    .load::<ProductOfGroup>(conn)
    .await?;
    let totals: HashMap<i32, i64> = product_tags::table
        .filter(product_tags::tag_id.eq_any(&ids))
        .group_by(product_tags::tag_id)
        .select((product_tags::tag_id, count_star()))
        .load::<(i32, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(group_products(rows, products, |tag| {
        (tag.id, totals.get(&tag.id).copied().unwrap_or(0))
    }))
}

/// Hands each group the products found through it, in the groups' order.
fn group_products<G>(
    groups: Vec<G>,
    products: Vec<ProductOfGroup>,
    id_and_total: impl Fn(&G) -> (i32, i64),
) -> Vec<GroupRecord<G>> {
    let mut by_group: HashMap<i32, Vec<Product>> = HashMap::new();
    for row in products {
        by_group.entry(row.group_id).or_default().push(row.product);
    }
    groups
        .into_iter()
        .map(|group| {
            let (id, products_total) = id_and_total(&group);
            GroupRecord {
                products: by_group.remove(&id).unwrap_or_default(),
                products_total,
                group,
            }
        })
        .collect()
}

pub async fn find_tag_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<Tag>> {
    tags::table
        .filter(lower_text(tags::tag_name).eq(lower_text(name)))
        .select(Tag::as_select())
        .first(conn)
        .await
        .optional()
}
