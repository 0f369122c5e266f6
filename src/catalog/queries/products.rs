//! Every query on `products`, their tags and features.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::catalog::models::{
    Category, Feature, NewProduct, Product, ProductChanges, ProductRecord, Tag,
};
use crate::schema::{categories, features, product_tags, products, tags};

// ---- products ------------------------------------------------------------

/// Product `id` with its category, its tags and, sold by SKU, its price
/// range; `None` if there is no such product. Its three queries travel
/// together (pipelined on `conn`: one round trip), and each asks about this
/// one product, with no array, so each keeps one plan per connection
/// instead of being planned again at every call.
pub async fn find_product(conn: &AsyncPgConnection, id: i32) -> QueryResult<Option<ProductRecord>> {
    // The category in the same statement as the row that names it, so
    // that the two always agree.
    let product = async {
        let mut conn = conn;
        products::table
            .left_join(categories::table)
            .filter(products::id.eq(id))
            .select((Product::as_select(), Option::<Category>::as_select()))
            .first::<(Product, Option<Category>)>(&mut conn)
            .await
            .optional()
    };
    let tags = async {
        let mut conn = conn;
        product_tags::table
            .inner_join(tags::table)
            .filter(product_tags::product_id.eq(id))
            .order(tags::id)
            .select(Tag::as_select())
            .load(&mut conn)
            .await
    };
    let (product, tags, sku_prices) =
        futures_util::try_join!(product, tags, super::price_range(conn, id))?;
    Ok(product.map(|(product, category)| ProductRecord {
        product,
        category,
        tags,
        sku_prices,
    }))
}

pub async fn features_of_product(
    conn: &AsyncPgConnection,
    product_id: i32,
) -> QueryResult<Vec<Feature>> {
    let mut conn = conn;
    features::table
        .filter(features::product_id.eq(product_id))
        .order(features::id)
        .select(Feature::as_select())
        .load(&mut conn)
        .await
}

pub(super) async fn with_category_and_tags(
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
    let sku_prices = super::price_ranges(conn, &product_ids).await?;
    Ok(rows
        .into_iter()
        .map(|mut product| {
            let category = product
                .category_id
                .and_then(|id| categories.get(&id).cloned());
            // A category missing here was deleted after the rows were read,
            // and its deletion cleared their `category_id`: shown cleared
            // too (their `updated_at` as read), never an id beside a null
            // category.
            if category.is_none() {
                product.category_id = None;
            }
            ProductRecord {
                sku_prices: sku_prices.get(&product.id).copied(),
                category,
                tags: tags_by_product.remove(&product.id).unwrap_or_default(),
                product,
            }
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
        // diesel refuses an empty SET; only the existence question remains,
        // asked with the row locked as an update would lock it, so that a
        // deletion is either seen (404) or waits for the tags' change (it
        // used to slip in between and fail the tags' insert: a 500).
        return products::table
            .find(id)
            .select(Product::as_select())
            .for_no_key_update()
            .first(conn)
            .await
            .optional();
    }
    // `products` has no `updated_at` trigger (migration
    // `products_updated_at_without_trigger`): its writers set it.
    diesel::update(products::table.find(id))
        .set((changes, products::updated_at.eq(diesel::dsl::now)))
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Product `id`'s id when it is there, locked as an update locks it (a
/// change of a product that is not there is a 404 before anything it names
/// is looked at).
pub async fn lock_product(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<Option<i32>> {
    products::table
        .find(id)
        .select(products::id)
        .for_no_key_update()
        .first(conn)
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
/// In a transaction: the cart lines of the product are locked first, so
/// that the deletion takes its locks in a checkout's order (a cart's lines,
/// then the products); the other way round, a checkout holding a line and
/// waiting for the product, and the deletion holding the product and
/// waiting for the line (to delete it with the product), deadlocked.
/// Its related-product rows, both ways, are locked by id too: the cascade
/// takes those naming it first, then those it is named in, so deleting two
/// products related to each other took the two rows in opposite orders.
pub async fn delete_product(conn: &mut AsyncPgConnection, id: i32) -> QueryResult<bool> {
    use crate::schema::related_products as related;
    crate::schema::cart_items::table
        .filter(crate::schema::cart_items::product_id.eq(id))
        .order(crate::schema::cart_items::id)
        .select(crate::schema::cart_items::id)
        .for_update()
        .load::<i32>(conn)
        .await?;
    related::table
        .filter(
            related::product_id
                .eq(id)
                .or(related::related_product_id.eq(id)),
        )
        .order(related::id)
        .select(related::id)
        .for_update()
        .load::<i32>(conn)
        .await?;
    let deleted = diesel::delete(products::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
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

/// Product `id`'s stock when it is sold by SKU (some style of it has one);
/// `None` when it is not, or there is no such product.
pub async fn stock_kept_by_skus(
    conn: &mut AsyncPgConnection,
    id: i32,
) -> diesel::QueryResult<Option<i32>> {
    use crate::views::sku_offers;
    products::table
        .filter(products::id.eq(id))
        .filter(diesel::dsl::exists(
            sku_offers::table
                .filter(sku_offers::product_id.eq(products::id))
                .select(sku_offers::sku_id),
        ))
        .select(products::stock)
        // Locked: no order moves it between this read and the caller's write.
        .for_update()
        .first(conn)
        .await
        .optional()
}
