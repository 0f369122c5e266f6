// @generated automatically by Diesel CLI.

diesel::table! {
    cart_items (id) {
        id -> Int4,
        user_id -> Int4,
        product_id -> Int4,
        sku_id -> Nullable<Int4>,
        quantity -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Int4,
        key -> Text,
        request_hash -> Text,
        order_id -> Int4,
        response_body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Int4,
        order_id -> Int4,
        product_id -> Nullable<Int4>,
        sku_id -> Nullable<Int4>,
        product_name -> Text,
        unit_price -> Numeric,
        quantity -> Int4,
        style_name -> Nullable<Text>,
        size -> Nullable<Text>,
    }
}

diesel::table! {
    orders (id) {
        id -> Int4,
        user_id -> Int4,
        status -> Text,
        total -> Numeric,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        shipping_address -> Nullable<Jsonb>,
        history -> Jsonb,
    }
}

diesel::table! {
    photos (id) {
        id -> Int4,
        style_id -> Int4,
        url -> Nullable<Text>,
        thumbnail_url -> Nullable<Text>,
    }
}

diesel::table! {
    related_products (id) {
        id -> Int4,
        product_id -> Int4,
        related_product_id -> Int4,
    }
}

diesel::table! {
    skus (id) {
        id -> Int4,
        style_id -> Int4,
        size -> Text,
        quantity -> Int4,
    }
}

diesel::table! {
    styles (id) {
        id -> Int4,
        product_id -> Int4,
        name -> Text,
        sale_price -> Nullable<Numeric>,
        original_price -> Numeric,
        is_default -> Bool,
    }
}

diesel::table! {
    categories (id) {
        id -> Int4,
        category_name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    features (id) {
        id -> Int4,
        product_id -> Int4,
        feature -> Text,
        value -> Nullable<Text>,
    }
}

diesel::table! {
    product_tags (id) {
        id -> Int4,
        product_id -> Int4,
        tag_id -> Int4,
    }
}

diesel::table! {
    products (id) {
        id -> Int4,
        product_name -> Text,
        slogan -> Nullable<Text>,
        description -> Nullable<Text>,
        price -> Numeric,
        stock -> Int4,
        category_id -> Nullable<Int4>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tags (id) {
        id -> Int4,
        tag_name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int4,
        email -> Text,
        password_hash -> Text,
        name -> Text,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(cart_items -> products (product_id));
diesel::joinable!(cart_items -> skus (sku_id));
diesel::joinable!(cart_items -> users (user_id));
diesel::joinable!(features -> products (product_id));
diesel::joinable!(idempotency_keys -> orders (order_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> products (product_id));
diesel::joinable!(order_lines -> skus (sku_id));
diesel::joinable!(orders -> users (user_id));
diesel::joinable!(photos -> styles (style_id));
diesel::joinable!(skus -> styles (style_id));
diesel::joinable!(styles -> products (product_id));
diesel::joinable!(product_tags -> products (product_id));
diesel::joinable!(product_tags -> tags (tag_id));
diesel::joinable!(products -> categories (category_id));

diesel::allow_tables_to_appear_in_same_query!(
    cart_items,
    categories,
    features,
    idempotency_keys,
    order_lines,
    orders,
    photos,
    product_tags,
    products,
    related_products,
    skus,
    styles,
    tags,
    users,
);
