//! Migrations and the seed.

use std::time::Duration;

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

/// Nodes started at once on a database not made yet (`scripts/cluster.sh`
/// starts them together): each makes sure of the database and migrates it,
/// and every migration is applied once, by one of them.
#[tokio::test]
async fn nodes_started_together_create_and_migrate_a_new_database_once() {
    let app = TestApp::spawn().await;
    let fresh = format!("{}_fresh", app.database_name);
    let url = database_url(&fresh);
    let start = async || {
        emporium::db::ensure_database(&url).await?;
        emporium::db::run_migrations(&url).await
    };
    let started = futures_util::future::join_all((0..4).map(|_| start())).await;
    let mut applied: Vec<String> = Vec::new();
    for node in started {
        applied.extend(node.expect("every node starts"));
    }
    let once = applied.len();
    applied.sort();
    applied.dedup();
    assert_eq!(applied.len(), once, "a migration applied twice");
    let recorded = TestApp::on_database(&url, |_| {})
        .await
        .count("__diesel_schema_migrations")
        .await;
    assert_eq!(recorded, i64::try_from(once).unwrap());
    app.sql(&format!("DROP DATABASE {fresh} WITH (FORCE)"))
        .await;
}

/// Compose starts the app with PostgreSQL: a server that refuses
/// connections for a moment yet (starting, or restarting) is waited for,
/// and the database is made once it takes them.
#[tokio::test]
async fn a_start_waits_for_a_postgresql_that_is_not_up_yet() {
    let postgres = std::sync::Arc::new(crate::harness::ThrowawayPostgres::start(&[]));
    postgres.stop();
    let url = postgres.url("emporium_late");
    let later = postgres.clone();
    let starting = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(2));
        later.start_again();
    });
    emporium::db::ensure_database(&url)
        .await
        .expect("the start gave up on a server about to take connections");
    starting.await.unwrap();
    emporium::db::run_migrations(&url).await.unwrap();
}

/// A migration that waits for a lock a long transaction holds (an idle one
/// in someone's psql) gives up, is tried again a few times, and then fails
/// the start with a message saying so; it never waits as long as that
/// transaction lives, with every write to the table queued behind it.
#[tokio::test]
async fn a_migration_blocked_by_a_long_transaction_gives_up_and_says_why() {
    let app = TestApp::spawn().await;
    let fresh = format!("{}_blocked", app.database_name);
    let url = database_url(&fresh);
    emporium::db::ensure_database(&url).await.unwrap();
    let mut holder =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url)
            .await
            .unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut holder,
        "BEGIN; CREATE TABLE categories (id int)",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let outcome =
        tokio::time::timeout(Duration::from_secs(60), emporium::db::run_migrations(&url)).await;
    let error = outcome
        .expect("the migration waited on and on")
        .expect_err("the migration went through a held lock");
    assert!(error.to_string().contains("lock"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(holder);
    app.sql(&format!("DROP DATABASE {fresh} WITH (FORCE)"))
        .await;
}

/// Deleting a row finds what refers to it through an index, never by
/// reading a whole table under the row's lock: every foreign key's columns
/// lead an index of their table.
#[tokio::test]
async fn every_foreign_key_is_found_by_an_index() {
    let app = TestApp::spawn().await;
    let foreign_keys = app
        .count("pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
        .await;
    assert!(foreign_keys >= 10, "{foreign_keys} foreign keys");
    let unindexed: Vec<String> = app
        .strings(
            "SELECT conname FROM pg_constraint c \
             WHERE contype = 'f' AND connamespace = 'public'::regnamespace \
             AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid \
                 AND array_to_string((i.indkey::int2[])[0:cardinality(c.conkey) - 1], ',') \
                     = array_to_string(c.conkey, ',')) \
             ORDER BY conname",
        )
        .await;
    assert!(unindexed.is_empty(), "without an index: {unindexed:?}");
}

/// A `BEFORE UPDATE` row trigger on `products` would make PostgreSQL compute
/// `search_document` (`to_tsvector` of the name, slogan and description)
/// again at every stock change of every order: `products` has none.
#[tokio::test]
async fn stock_writes_leave_the_search_document_alone() {
    let app = TestApp::spawn().await;
    // pg_trigger.tgtype bits: 1 row, 2 before, 16 update.
    let before_update_row_triggers = app
        .count(
            "pg_trigger WHERE tgrelid = 'products'::regclass AND NOT tgisinternal \
             AND tgtype & (1 | 2 | 16) = (1 | 2 | 16)",
        )
        .await;
    assert_eq!(before_update_row_triggers, 0);
}

/// Rows for the constraints below to be broken against: a style with a SKU,
/// a cart line, an order with a line and an idempotency key of the first user.
const ARRANGE: &str = "
    INSERT INTO styles (id, product_id, name, original_price) VALUES (1, 1, 'Plain', 10);
    INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'M', 5);
    INSERT INTO cart_items (user_id, product_id, quantity) SELECT min(id), 2, 1 FROM users;
    INSERT INTO orders (id, user_id, total) SELECT 1, min(id), 10 FROM users;
    INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity)
        VALUES (1, 2, 'Shirt', 10, 1);
    INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, response_body)
        SELECT min(id), 'k', 'h', 1, '{}' FROM users;
    SELECT setval('styles_id_seq', 1), setval('skus_id_seq', 1), setval('orders_id_seq', 1);
";

const USER: &str = "(SELECT min(id) FROM users)";

/// Each named constraint (and unique index) with a statement that breaks it.
fn violations() -> Vec<(&'static str, String)> {
    let cases: [(&str, &str); 44] = [
        (
            "categories_category_name_length",
            "INSERT INTO categories (category_name) VALUES ('')",
        ),
        (
            "categories_category_name_key",
            "INSERT INTO categories (category_name) VALUES ('SHIRTS')",
        ),
        (
            "tags_tag_name_length",
            "INSERT INTO tags (tag_name) VALUES ('')",
        ),
        (
            "tags_tag_name_key",
            "INSERT INTO tags (tag_name) VALUES ('WHITE')",
        ),
        (
            "products_category_id_fkey",
            "UPDATE products SET category_id = 999 WHERE id = 1",
        ),
        (
            "products_price_non_negative",
            "UPDATE products SET price = -1 WHERE id = 1",
        ),
        (
            "products_product_name_length",
            "UPDATE products SET product_name = '' WHERE id = 1",
        ),
        (
            "products_stock_non_negative",
            "UPDATE products SET stock = -1 WHERE id = 2",
        ),
        (
            "product_tags_product_id_fkey",
            "INSERT INTO product_tags (product_id, tag_id) VALUES (999, 1)",
        ),
        (
            "product_tags_product_id_tag_id_key",
            "INSERT INTO product_tags (product_id, tag_id) SELECT product_id, tag_id FROM product_tags LIMIT 1",
        ),
        (
            "product_tags_tag_id_fkey",
            "INSERT INTO product_tags (product_id, tag_id) VALUES (1, 999)",
        ),
        (
            "features_product_id_fkey",
            "INSERT INTO features (product_id, feature) VALUES (999, 'Fabric')",
        ),
        (
            "users_email_length",
            "UPDATE users SET email = 'a' WHERE id = {USER}",
        ),
        (
            "users_email_key",
            "INSERT INTO users (email, password_hash, name, role) SELECT upper(email), password_hash, name, role FROM users WHERE id = {USER}",
        ),
        (
            "users_name_length",
            "UPDATE users SET name = '' WHERE id = {USER}",
        ),
        (
            "users_password_hash_argon2id",
            "UPDATE users SET password_hash = 'plain' WHERE id = {USER}",
        ),
        (
            "users_role_known",
            "UPDATE users SET role = 'root' WHERE id = {USER}",
        ),
        (
            "styles_original_price_non_negative",
            "UPDATE styles SET original_price = -1 WHERE id = 1",
        ),
        (
            "styles_product_id_fkey",
            "INSERT INTO styles (product_id, name, original_price) VALUES (999, 'x', 1)",
        ),
        (
            "styles_sale_price_non_negative",
            "UPDATE styles SET sale_price = -1 WHERE id = 1",
        ),
        (
            "photos_style_id_fkey",
            "INSERT INTO photos (style_id, url) VALUES (999, 'x')",
        ),
        (
            "skus_quantity_non_negative",
            "UPDATE skus SET quantity = -1 WHERE id = 1",
        ),
        (
            "skus_style_id_fkey",
            "INSERT INTO skus (style_id, size) VALUES (999, 'M')",
        ),
        (
            "related_products_product_id_fkey",
            "INSERT INTO related_products (product_id, related_product_id) VALUES (999, 1)",
        ),
        (
            "related_products_related_product_id_fkey",
            "INSERT INTO related_products (product_id, related_product_id) VALUES (1, 999)",
        ),
        (
            "cart_items_line_key",
            "INSERT INTO cart_items (user_id, product_id, quantity) SELECT user_id, product_id, 1 FROM cart_items",
        ),
        (
            "cart_items_product_id_fkey",
            "INSERT INTO cart_items (user_id, product_id, quantity) SELECT {USER}, 999, 1",
        ),
        (
            "cart_items_quantity_positive",
            "UPDATE cart_items SET quantity = 0",
        ),
        (
            "cart_items_sku_id_fkey",
            "INSERT INTO cart_items (user_id, product_id, sku_id, quantity) SELECT {USER}, 1, 999, 1",
        ),
        (
            "cart_items_user_id_fkey",
            "INSERT INTO cart_items (user_id, product_id, quantity) VALUES (-1, 1, 1)",
        ),
        ("orders_status_known", "UPDATE orders SET status = 'lost'"),
        ("orders_total_non_negative", "UPDATE orders SET total = -1"),
        (
            "orders_shipping_address_object",
            "UPDATE orders SET shipping_address = '\"Baker Street\"'",
        ),
        ("orders_history_array", "UPDATE orders SET history = '{}'"),
        (
            "search_words_not_blank",
            "INSERT INTO search_words VALUES ('')",
        ),
        (
            "orders_user_id_fkey",
            "INSERT INTO orders (user_id, total) VALUES (-1, 1)",
        ),
        (
            "order_lines_order_id_fkey",
            "INSERT INTO order_lines (order_id, product_name, unit_price, quantity) VALUES (999, 'x', 1, 1)",
        ),
        (
            "order_lines_product_id_fkey",
            "UPDATE order_lines SET product_id = 999",
        ),
        (
            "order_lines_quantity_positive",
            "UPDATE order_lines SET quantity = 0",
        ),
        (
            "order_lines_sku_id_fkey",
            "UPDATE order_lines SET sku_id = 999",
        ),
        (
            "order_lines_unit_price_non_negative",
            "UPDATE order_lines SET unit_price = -1",
        ),
        (
            "idempotency_keys_key_length",
            "UPDATE idempotency_keys SET key = ''",
        ),
        (
            "idempotency_keys_order_id_fkey",
            "UPDATE idempotency_keys SET order_id = 999",
        ),
        (
            "idempotency_keys_user_id_fkey",
            "UPDATE idempotency_keys SET user_id = -1",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, sql)| (name, sql.replace("{USER}", USER)))
        .collect()
}

#[derive(diesel::QueryableByName)]
struct ConstraintName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[tokio::test]
async fn every_named_constraint_refuses_what_breaks_it_by_its_name() {
    use diesel::result::Error;
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

    let app = TestApp::seeded().await;
    let mut conn = app.db().await;
    conn.batch_execute(ARRANGE).await.unwrap();
    let cases = violations();
    for (name, sql) in &cases {
        match diesel::sql_query(sql.as_str()).execute(&mut conn).await {
            Err(Error::DatabaseError(_, info)) => {
                assert_eq!(
                    info.constraint_name(),
                    Some(*name),
                    "{sql}: {}",
                    info.message()
                );
            }
            other => panic!("{sql} should break {name}, got {other:?}"),
        }
    }
    // Every constraint and unique index of the schema has its case above.
    let named: Vec<ConstraintName> = diesel::sql_query(
        "SELECT conname::text AS name FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'u', 'f', 'x') \
         UNION SELECT indexrelid::regclass::text FROM pg_index i \
         WHERE indisunique AND NOT indisprimary \
           AND indrelid::regclass::text NOT LIKE '\\_\\_%' \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let tested: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    for constraint in &named {
        assert!(
            tested.contains(&constraint.name.as_str()),
            "{} has no case",
            constraint.name
        );
    }
    assert_eq!(named.len(), cases.len());
}

#[tokio::test]
async fn money_beyond_its_column_is_refused() {
    let app = TestApp::seeded().await;
    let mut conn = app.db().await;
    let sql = "UPDATE products SET price = 100000000 WHERE id = 1";
    let result = diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).await;
    let Err(diesel::result::Error::DatabaseError(_, info)) = result else {
        panic!("{sql} should be refused by the database: {result:?}");
    };
    assert!(
        info.message().contains("numeric field overflow"),
        "{}",
        info.message()
    );
}

#[tokio::test]
async fn seeding_twice_leaves_exactly_one_copy() {
    let app = TestApp::spawn().await;
    let first = app.seed().await;
    assert_eq!((first.categories, first.tags, first.products), (5, 8, 5));
    let before = app.anon().get("/api/products?limit=100").await.json()["data"].clone();
    let second = app.seed().await;
    assert_eq!((second.categories, second.tags, second.products), (0, 0, 0));
    let after = app.anon().get("/api/products?limit=100").await.json()["data"].clone();
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
    let hat = app.anon().get("/api/products?q=hat").await.json();
    assert_eq!(
        hat["data"][0]["tags"].as_array().unwrap().len(),
        4,
        "{}",
        json!(hat)
    );
}

#[tokio::test]
async fn a_sku_sold_writes_its_product_once() {
    use diesel::sql_types::BigInt;
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct Updates {
        #[diesel(sql_type = BigInt)]
        n_tup_upd: i64,
    }
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let mut conn = app.db().await;
    conn.batch_execute("BEGIN; UPDATE skus SET quantity = quantity - 1 WHERE id = 1")
        .await
        .unwrap();
    // The transaction's own counts: the SKU's row, and its product's once.
    let products: Updates = diesel::sql_query(
        "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'products'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    conn.batch_execute("COMMIT").await.unwrap();
    assert_eq!(products.n_tup_upd, 1);
    assert_eq!(app.count("products WHERE id = 1 AND stock = 13").await, 1);
}
