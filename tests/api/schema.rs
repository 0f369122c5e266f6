//! Migrations and the seed.

use serde_json::json;

use crate::helpers::{TestApp, database_url};

const TABLES: [&str; 5] = ["categories", "products", "tags", "product_tags", "features"];

async fn table_count(app: &TestApp) -> i64 {
    app.count(&format!(
        "information_schema.tables WHERE table_schema = 'public' AND table_name IN ({})",
        TABLES.map(|t| format!("'{t}'")).join(",")
    ))
    .await
}

#[tokio::test]
async fn migrations_revert_cleanly_and_apply_again() {
    let app = TestApp::spawn().await;
    let url = database_url(&app.database_name);
    assert_eq!(table_count(&app).await, 5);
    let reverted = emporium::db::revert_all_migrations(&url).await.unwrap();
    assert!(!reverted.is_empty());
    assert_eq!(table_count(&app).await, 0);
    let applied = emporium::db::run_migrations(&url).await.unwrap();
    assert_eq!(applied.len(), reverted.len());
    assert_eq!(table_count(&app).await, 5);
    assert!(emporium::db::run_migrations(&url).await.unwrap().is_empty());
}

#[tokio::test]
async fn constraints_hold_in_the_database_itself() {
    let app = TestApp::seeded().await;
    let mut conn = app.db().await;
    for sql in [
        "UPDATE products SET price = -1 WHERE id = 1",
        "UPDATE products SET stock = -1 WHERE id = 1",
        "UPDATE products SET product_name = '' WHERE id = 1",
        "INSERT INTO categories (category_name) VALUES ('SHIRTS')",
        "INSERT INTO product_tags (product_id, tag_id) VALUES (1, 6)",
        "INSERT INTO product_tags (product_id, tag_id) VALUES (1, 999)",
        "UPDATE products SET price = 100000000 WHERE id = 1",
    ] {
        let result = diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).await;
        assert!(result.is_err(), "{sql} should be refused");
    }
}

#[tokio::test]
async fn seeding_twice_leaves_exactly_one_copy() {
    let app = TestApp::spawn().await;
    let first = app.seed().await;
    assert_eq!((first.categories, first.tags, first.products), (5, 8, 5));
    let before = app.get("/api/products?limit=100").await.json()["data"].clone();
    let second = app.seed().await;
    assert_eq!((second.categories, second.tags, second.products), (0, 0, 0));
    let after = app.get("/api/products?limit=100").await.json()["data"].clone();
    assert_eq!(before, after);
    for (table, rows) in [
        ("categories", 5),
        ("tags", 8),
        ("products", 5),
        ("product_tags", 12),
    ] {
        assert_eq!(app.count(table).await, rows, "{table}");
    }
}

#[tokio::test]
async fn concurrent_seeds_still_leave_one_copy() {
    let app = TestApp::spawn().await;
    let (a, b) = tokio::join!(app.seed(), app.seed());
    assert_eq!(a.products + b.products, 5);
    assert_eq!(app.count("products").await, 5);
    let hat = app.get("/api/products?q=hat").await.json();
    assert_eq!(
        hat["data"][0]["tags"].as_array().unwrap().len(),
        4,
        "{}",
        json!(hat)
    );
}
