//! Every catalog query, in one place. Each takes `&mut AsyncPgConnection` so
//! it runs the same on a pooled connection or inside a transaction.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::domain::{ProductFilter, SortBy, SortOrder};
use super::models::{Category, Feature, NewProduct, Product, ProductChanges, ProductOfGroup, Tag};
use crate::db::lower_text;
use crate::domain::{Name, Pagination};
use crate::schema::{categories, features, product_tags, products, tags};

/// At most this many products are embedded in a category or a tag.
pub const EMBEDDED_PRODUCTS: i64 = 100;
/// Product lists stop counting matches here (`total_capped`).
pub const TOTAL_CAP: i64 = 10_000;

/// A product with what it embeds.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub product: Product,
    pub category: Option<Category>,
    pub tags: Vec<Tag>,
}

/// A category or a tag with its first products and how many it has in all.
#[derive(Debug, Clone)]
pub struct GroupRecord<G> {
    pub group: G,
    pub products: Vec<Product>,
    pub products_total: i64,
}

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

// ---- products ------------------------------------------------------------

/// The filtered rows of `products`, before ordering and paging.
fn filtered(filter: &ProductFilter, category_id: Option<i32>) -> products::BoxedQuery<'_, Pg> {
    let mut query = products::table.into_boxed();
    if let Some(category_id) = category_id {
        query = query.filter(products::category_id.eq(category_id));
    }
    if let Some(min_price) = filter.min_price {
        query = query.filter(products::price.ge(min_price.amount()));
    }
    if let Some(max_price) = filter.max_price {
        query = query.filter(products::price.le(max_price.amount()));
    }
    match filter.in_stock {
        Some(true) => query = query.filter(products::stock.gt(0)),
        Some(false) => query = query.filter(products::stock.eq(0)),
        None => {}
    }
    if let Some(search) = &filter.search {
        query = query.filter(products::product_name.ilike(like_pattern(search.as_str())));
    }
    query
}

/// `%text%` with the text's own `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// A page of products matching `filter`, and how many match (capped at [`TOTAL_CAP`]).
pub async fn list_products(
    conn: &mut AsyncPgConnection,
    filter: &ProductFilter,
    category_id: Option<i32>,
) -> QueryResult<(Vec<ProductRecord>, i64, bool)> {
    let query = filtered(filter, category_id);
    // Equal sort values are ordered by id, in the same direction, so pages
    // never overlap and a (column, id) index serves either direction.
    let query = match (filter.sort_by, filter.order) {
        (SortBy::CreatedAt, SortOrder::Asc) => {
            query.order_by((products::created_at.asc(), products::id.asc()))
        }
        (SortBy::CreatedAt, SortOrder::Desc) => {
            query.order_by((products::created_at.desc(), products::id.desc()))
        }
        (SortBy::Price, SortOrder::Asc) => {
            query.order_by((products::price.asc(), products::id.asc()))
        }
        (SortBy::Price, SortOrder::Desc) => {
            query.order_by((products::price.desc(), products::id.desc()))
        }
        (SortBy::Name, SortOrder::Asc) => {
            query.order_by((products::product_name.asc(), products::id.asc()))
        }
        (SortBy::Name, SortOrder::Desc) => {
            query.order_by((products::product_name.desc(), products::id.desc()))
        }
    };
    let rows = query
        .limit(filter.page.limit)
        .offset(filter.page.offset())
        .select(Product::as_select())
        .load(conn)
        .await?;
    // Counting stops one past the cap, so no request counts a million rows.
    let matched = filtered(filter, category_id)
        .select(products::id)
        .limit(TOTAL_CAP + 1)
        .load::<i32>(conn)
        .await?
        .len() as i64;
    let capped = matched > TOTAL_CAP;
    let records = with_category_and_tags(conn, rows).await?;
    Ok((records, matched.min(TOTAL_CAP), capped))
}

pub async fn find_product(
    conn: &mut AsyncPgConnection,
    id: i32,
) -> QueryResult<Option<ProductRecord>> {
    let Some(product) = products::table
        .find(id)
        .select(Product::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    Ok(with_category_and_tags(conn, vec![product]).await?.pop())
}

pub async fn features_of_product(
    conn: &mut AsyncPgConnection,
    product_id: i32,
) -> QueryResult<Vec<Feature>> {
    features::table
        .filter(features::product_id.eq(product_id))
        .order(features::id)
        .select(Feature::as_select())
        .load(conn)
        .await
}

async fn with_category_and_tags(
    conn: &mut AsyncPgConnection,
    rows: Vec<Product>,
) -> QueryResult<Vec<ProductRecord>> {
    let product_ids: Vec<i32> = rows.iter().map(|product| product.id).collect();
    let category_ids: Vec<i32> = rows
        .iter()
        .filter_map(|product| product.category_id)
        .collect();
    let categories: HashMap<i32, Category> = categories::table
        .filter(categories::id.eq_any(&category_ids))
        .select(Category::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(|category| (category.id, category))
        .collect();
    let mut tags_by_product: HashMap<i32, Vec<Tag>> = HashMap::new();
    let tag_rows = product_tags::table
        .inner_join(tags::table)
        .filter(product_tags::product_id.eq_any(&product_ids))
        .order((product_tags::product_id, tags::id))
        .select((product_tags::product_id, Tag::as_select()))
        .load::<(i32, Tag)>(conn)
        .await?;
    for (product_id, tag) in tag_rows {
        tags_by_product.entry(product_id).or_default().push(tag);
    }
    Ok(rows
        .into_iter()
        .map(|product| ProductRecord {
            category: product
                .category_id
                .and_then(|id| categories.get(&id).cloned()),
            tags: tags_by_product.remove(&product.id).unwrap_or_default(),
            product,
        })
        .collect())
}

pub async fn insert_product(
    conn: &mut AsyncPgConnection,
    new_product: &NewProduct,
) -> QueryResult<Product> {
    diesel::insert_into(products::table)
        .values(new_product)
        .returning(Product::as_returning())
        .get_result(conn)
        .await
}

/// Applies `changes`; `None` if there is no such product.
pub async fn update_product(
    conn: &mut AsyncPgConnection,
    id: i32,
    changes: &ProductChanges,
) -> QueryResult<Option<Product>> {
    if changes.is_empty() {
        // diesel refuses an empty SET; only the existence question remains.
        return products::table
            .find(id)
            .select(Product::as_select())
            .first(conn)
            .await
            .optional();
    }
    diesel::update(products::table.find(id))
        .set(changes)
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Marks a product as changed when only its tags changed.
pub async fn touch_product(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<()> {
    diesel::update(products::table.find(id))
        .set(products::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Makes `tag_ids` the product's exact tag set.
pub async fn replace_product_tags(
    conn: &mut AsyncPgConnection,
    product_id: i32,
    tag_ids: &[i32],
) -> QueryResult<()> {
    diesel::delete(
        product_tags::table
            .filter(product_tags::product_id.eq(product_id))
            .filter(product_tags::tag_id.ne_all(tag_ids)),
    )
    .execute(conn)
    .await?;
    if tag_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tag_ids
        .iter()
        .map(|tag_id| {
            (
                product_tags::product_id.eq(product_id),
                product_tags::tag_id.eq(*tag_id),
            )
        })
        .collect();
    diesel::insert_into(product_tags::table)
        .values(&rows)
        .on_conflict((product_tags::product_id, product_tags::tag_id))
        .do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes a product (its ProductTag rows and features go with it). True if it existed.
pub async fn delete_product(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    let deleted = diesel::delete(products::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

// ---- lookups by name (the seed) -------------------------------------------

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

/// The lowest-id product with exactly this name.
pub async fn find_product_id_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<i32>> {
    products::table
        .filter(products::product_name.eq(name))
        .order(products::id)
        .select(products::id)
        .first(conn)
        .await
        .optional()
}
