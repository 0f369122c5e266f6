//! The views the migrations define (`diesel print-schema` lists tables
//! only), declared for the query builder so that what reads them is
//! prepared once per connection instead of planned on every call. Their
//! columns come from `NOT NULL` columns of the tables below them.

use crate::schema::products;

diesel::table! {
    /// Every style with what a shopper pays for it (migration `variants_on_api`).
    style_offers (style_id) {
        style_id -> Int4,
        product_id -> Int4,
        name -> Text,
        original_price -> Numeric,
        sale_price -> Nullable<Numeric>,
        price -> Numeric,
        is_default -> Bool,
    }
}

diesel::table! {
    /// Every SKU with its price and what is left of it (migration
    /// `inventory_rules`).
    sku_offers (sku_id) {
        sku_id -> Int4,
        product_id -> Int4,
        style_id -> Int4,
        style_name -> Text,
        size -> Text,
        price -> Numeric,
        available -> Int4,
    }
}

// Checkout asks, of each product it reads, whether any SKU is offered for it.
diesel::allow_tables_to_appear_in_same_query!(products, sku_offers);
