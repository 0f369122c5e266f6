//! Catalog rows as diesel reads and writes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use crate::schema::{categories, features, products, tags};

/// A group's row: categories and tags differ only in their table and the
/// name of their name column.
macro_rules! group_row {
    ($row:ident in $table:ident($name:ident)) => {
        #[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
        #[diesel(table_name = $table, check_for_backend(diesel::pg::Pg))]
        pub struct $row {
            pub id: i32,
            pub $name: String,
            pub created_at: DateTime<Utc>,
            pub updated_at: DateTime<Utc>,
        }
    };
}

group_row!(Category in categories(category_name));
group_row!(Tag in tags(tag_name));

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    pub id: i32,
    pub product_name: String,
    pub slogan: Option<String>,
    pub description: Option<String>,
    pub price: Decimal,
    pub stock: i32,
    pub category_id: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product row and the tag or category it was found through.
#[derive(Debug, Clone, QueryableByName)]
pub struct ProductOfGroup {
    #[diesel(sql_type = diesel::sql_types::Int4)]
    pub group_id: i32,
    #[diesel(embed)]
    pub product: Product,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = products)]
pub struct NewProduct {
    pub product_name: String,
    pub slogan: Option<String>,
    pub description: Option<String>,
    pub price: Decimal,
    pub stock: i32,
    pub category_id: Option<i32>,
}

/// A partial update: `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    pub product_name: Option<String>,
    pub slogan: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub price: Option<Decimal>,
    pub stock: Option<i32>,
    pub category_id: Option<Option<i32>>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        self.product_name.is_none()
            && self.slogan.is_none()
            && self.description.is_none()
            && self.price.is_none()
            && self.stock.is_none()
            && self.category_id.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = features, check_for_backend(diesel::pg::Pg))]
pub struct Feature {
    pub feature: String,
    pub value: Option<String>,
}

/// A product with what it embeds.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub product: Product,
    pub category: Option<Category>,
    pub tags: Vec<Tag>,
    /// For a product sold by SKU: the lowest and highest price of its SKUs.
    pub sku_prices: Option<(Decimal, Decimal)>,
}

/// One style of a product, as a shopper picks it.
#[derive(Debug, Clone)]
pub struct Variant {
    pub style_id: i32,
    pub name: String,
    pub original_price: Decimal,
    pub sale_price: Option<Decimal>,
    /// What a shopper pays for its SKUs.
    pub price: Decimal,
    pub is_default: bool,
    pub photos: Vec<VariantPhoto>,
    pub skus: Vec<VariantSku>,
}

#[derive(Debug, Clone)]
pub struct VariantPhoto {
    pub thumbnail_url: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VariantSku {
    pub sku_id: i32,
    pub size: String,
    pub stock: i32,
}

/// A category or a tag with its first products and how many it has in all.
#[derive(Debug, Clone)]
pub struct GroupRecord<G> {
    /// The group's id (its row's).
    pub id: i32,
    pub group: G,
    /// Its first products; `None` when they were not asked for.
    pub products: Option<Vec<PricedProduct>>,
    pub products_total: i64,
}

/// A product as a list shows it: with the range of what a shopper pays.
#[derive(Debug, Clone)]
pub struct PricedProduct {
    pub product: Product,
    /// For a product sold by SKU: the lowest and highest price of its SKUs.
    pub sku_prices: Option<(Decimal, Decimal)>,
}
