// @generated automatically by Diesel CLI.

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

diesel::joinable!(features -> products (product_id));
diesel::joinable!(product_tags -> products (product_id));
diesel::joinable!(product_tags -> tags (tag_id));
diesel::joinable!(products -> categories (category_id));

diesel::allow_tables_to_appear_in_same_query!(
    categories,
    features,
    product_tags,
    products,
    tags,
    users,
);
