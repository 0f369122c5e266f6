//! The importer builds new tables beside the live catalog and swaps them in
//! at the end: the tables it swaps in are built exactly as the migrations
//! build them, readers keep the live catalog until the swap, one import
//! runs at a time, and what a failed or killed import leaves is cleaned up.

use axum::http::StatusCode;
use diesel_async::RunQueryDsl;
use emporium::catwalk::import::import;

use crate::catwalk::{TempDir, imported_fixture, write_fixture};
use crate::helpers::TestApp;

/// The database's schema as text, one line per column, index, constraint,
/// trigger, view, sequence owner, relation (its kind, options, owner and
/// grants) and schema, sorted.
async fn schema(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let mut conn = app.db().await;
    diesel::sql_query(
        "SELECT string_agg(line, E'\\n' ORDER BY line) AS text FROM ( \
           SELECT format('column %s.%s %s %s %s %s %s', table_name, ordinal_position, column_name, \
                         data_type, is_nullable, column_default, generation_expression) \
           FROM information_schema.columns WHERE table_schema = 'public' \
           UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
           UNION ALL SELECT format('constraint %s %s %s %s', conrelid::regclass, conname, \
                                   pg_get_constraintdef(oid), convalidated) \
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
           UNION ALL SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
           UNION ALL SELECT format('view %s %s', viewname, definition) FROM pg_views \
           WHERE schemaname = 'public' \
           UNION ALL SELECT format('sequence %s of %s.%s', s.oid::regclass, t.relname, d.refobjsubid) \
           FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' \
                JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' \
           UNION ALL SELECT format('relation %s %s %s %s %s', relname, relkind, reloptions, \
                                   pg_get_userbyid(relowner), relacl) \
           FROM pg_class WHERE relnamespace = 'public'::regnamespace \
           UNION ALL SELECT 'schema ' || nspname FROM pg_namespace \
           WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' \
         ) lines (line)",
    )
    .get_result::<Text>(&mut conn)
    .await
    .unwrap()
    .text
}

/// Asserts two schemas are the same, naming only the lines that differ.
fn assert_same_schema(found: &str, expected: &str) {
    let found: std::collections::BTreeSet<&str> = found.split('\n').collect();
    let expected: std::collections::BTreeSet<&str> = expected.split('\n').collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:#?}\nextra: {extra:#?}"
    );
}

#[tokio::test]
async fn the_tables_an_import_swaps_in_are_built_as_the_migrations_build_them() {
    let app = TestApp::spawn().await;
    let migrated = schema(&app).await;
    assert!(migrated.contains("trigger CREATE TRIGGER skus_stock_on_insert"));
    assert!(migrated.contains("view sku_stock"));
    let dir = TempDir::new();
    write_fixture(&dir.0);
    import(&app.state, &dir.0, false).await.unwrap();
    assert_same_schema(&schema(&app).await, &migrated);
    import(&app.state, &dir.0, true).await.unwrap();
    assert_same_schema(&schema(&app).await, &migrated);
    // The swapped-in tables keep the database's rules: a new SKU adds to
    // its product's stock (a trigger), ids go on after the loaded ones (the
    // sequences), and deleting a product deletes its styles (the keys).
    app.sql("INSERT INTO skus (style_id, size, quantity) VALUES (1, 'XXL', 5)")
        .await;
    let product = app.anon().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(product["stock"], 29);
    app.sql("INSERT INTO categories (category_name) VALUES ('Hats')")
        .await;
    assert_eq!(app.count("categories WHERE id = 3").await, 1);
    app.sql("DELETE FROM products WHERE id = 1").await;
    assert_eq!(app.count("styles WHERE product_id = 1").await, 0);
}

/// Holds a lock on the carts, the first table the import's swap locks, so
/// that the import stops right before its swap; released on `COMMIT`.
async fn hold_the_swap(app: &TestApp) -> diesel_async::AsyncPgConnection {
    use diesel_async::SimpleAsyncConnection;
    let mut holder = app.db().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE cart_items IN ACCESS SHARE MODE")
        .await
        .unwrap();
    holder
}

/// Waits until the import's swap waits for the carts' lock: the files are
/// loaded and the new tables built.
async fn wait_for_the_swap(app: &TestApp) {
    // Of this test's database: a table's oid is the same in every database
    // made from one template, and other tests run beside it.
    let waiting = "pg_locks WHERE relation = 'cart_items'::regclass AND NOT granted \
                   AND mode = 'AccessExclusiveLock' \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    for _ in 0..3_000 {
        if app.count(waiting).await > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the import never reached its swap");
}

/// Starts an import of `dir` with `--replace` and returns once it waits
/// for its swap (everything loaded and built), with the connection whose
/// lock holds it there (`COMMIT` lets it go on) and the import's task.
async fn import_paused_before_its_swap(
    app: &TestApp,
    dir: &std::path::Path,
) -> (
    diesel_async::AsyncPgConnection,
    tokio::task::JoinHandle<anyhow::Result<emporium::catwalk::import::ImportReport>>,
) {
    let holder = hold_the_swap(app).await;
    let state = app.state.clone();
    let path = dir.to_owned();
    let importing = tokio::spawn(async move { import(&state, &path, true).await });
    wait_for_the_swap(app).await;
    (holder, importing)
}

#[tokio::test]
async fn readers_keep_the_live_catalog_until_the_new_one_is_swapped_in() {
    use diesel_async::SimpleAsyncConnection;
    let (app, _fixture) = imported_fixture().await;
    let dir = TempDir::new();
    emporium::catwalk::generate::generate(&dir.0, 2_000, 42).unwrap();
    let (mut holder, importing) = import_paused_before_its_swap(&app, &dir.0).await;
    // Every file is loaded and every index built: the live catalog still
    // answers, at once (no lock to wait for), as it was.
    app.sql("SET lock_timeout = '100ms'; SELECT * FROM products, skus, styles LIMIT 1")
        .await;
    let product = app.anon().get("/api/products/1").await;
    assert_eq!(product.status, StatusCode::OK);
    assert_eq!(product.json()["data"]["product_name"], "Camo Onesie");
    assert_eq!(app.count("products").await, 3);

    // Reads go on while the swap runs (begun before it is let go, so that
    // one at least overlaps it, and on until it is over): every one is
    // answered, from the old catalog or the new one.
    let reads = async {
        let mut names = std::collections::BTreeSet::new();
        loop {
            let product = app.anon().get("/catwalk/products/1").await;
            assert_eq!(product.status, StatusCode::OK, "{}", product.text());
            names.insert(product.json()["name"].as_str().unwrap().to_owned());
            if importing.is_finished() {
                return names;
            }
        }
    };
    let (mut names, _) = tokio::join!(reads, async {
        holder.batch_execute("COMMIT").await.unwrap();
    });
    importing.await.unwrap().unwrap();
    assert_eq!(app.count("products").await, 2_000);
    let product = app.anon().get("/api/products/1").await;
    let new_name = product.json()["data"]["product_name"].clone();
    assert_ne!(new_name, "Camo Onesie");
    names.remove("Camo Onesie");
    names.remove(new_name.as_str().unwrap());
    assert!(
        names.is_empty(),
        "neither the old nor the new name: {names:?}"
    );
}

#[tokio::test]
async fn a_catalog_changed_while_the_files_load_is_not_overwritten() {
    use diesel_async::SimpleAsyncConnection;
    let (app, dir) = imported_fixture().await;
    let (mut holder, importing) = import_paused_before_its_swap(&app, &dir.0).await;
    // A deploy migrates the catalog meanwhile.
    app.sql("ALTER TABLE products ADD COLUMN brand TEXT").await;
    holder.batch_execute("COMMIT").await.unwrap();
    let refused = importing.await.unwrap().unwrap_err();
    assert!(refused.to_string().contains("changed while"), "{refused}");
    assert_eq!(app.count("products WHERE brand IS NULL").await, 3);
    assert_eq!(
        app.count("pg_namespace WHERE nspname = 'import_stage'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_new_names_are_searchable_with_typos_after_an_import() {
    let (app, _fixture) = imported_fixture().await;
    for query in ["onesie", "onesei", "sunglases"] {
        let found = app.anon().get(&format!("/api/products?q={query}")).await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(found.json()["data"].as_array().unwrap().len(), 1, "{query}");
    }
}

#[tokio::test]
async fn one_import_runs_at_a_time() {
    let (app, _fixture) = imported_fixture().await;
    let dir = TempDir::new();
    emporium::catwalk::generate::generate(&dir.0, 2_000, 7).unwrap();
    let (first, second) = tokio::join!(
        import(&app.state, &dir.0, true),
        import(&app.state, &dir.0, true)
    );
    let refused = match (first, second) {
        (Ok(_), Err(refused)) | (Err(refused), Ok(_)) => refused,
        (first, second) => panic!("expected one import and one refusal: {first:?} {second:?}"),
    };
    assert!(
        refused.to_string().contains("another import is running"),
        "{refused}"
    );
    assert_eq!(app.count("products").await, 2_000);
}

#[tokio::test]
async fn what_a_failed_or_killed_import_left_behind_is_dropped() {
    let (app, dir) = imported_fixture().await;
    let migrated = schema(&app).await;
    // A killed import's new tables.
    app.sql("CREATE SCHEMA import_stage; CREATE TABLE import_stage.products (id int)")
        .await;
    // An index of the new tables fails once they are loaded (an event
    // trigger refuses it).
    app.sql(
        "CREATE FUNCTION refuse_indexes() RETURNS event_trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'no index today'; END $$; \
         CREATE EVENT TRIGGER refuse_indexes ON ddl_command_end \
           WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION refuse_indexes();",
    )
    .await;
    let failed = import(&app.state, &dir.0, true).await.unwrap_err();
    assert!(
        format!("{failed:?}").contains("no index today"),
        "{failed:?}"
    );
    app.sql("DROP EVENT TRIGGER refuse_indexes; DROP FUNCTION refuse_indexes();")
        .await;
    assert_same_schema(&schema(&app).await, &migrated);
    assert_eq!(app.count("features").await, 3);
    std::fs::write(dir.0.join("product.csv"), "id,name\n").unwrap();
    let failed = import(&app.state, &dir.0, true).await.unwrap_err();
    assert!(failed.to_string().contains("header"), "{failed}");
    // Lines that end in CR alone (2 MiB without a line feed): refused by a
    // line's worth, not read whole and quoted whole.
    let cr_only = "id,name,slogan,description,category,default_price\r1,Tee,s,d,Shirts,10\r";
    std::fs::write(dir.0.join("product.csv"), cr_only.repeat(40_000)).unwrap();
    let failed = import(&app.state, &dir.0, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        failed.contains("header"),
        "{}",
        &failed[..200.min(failed.len())]
    );
    assert!(failed.len() < 1_000, "an error of {} bytes", failed.len());
    assert_same_schema(&schema(&app).await, &migrated);
    assert_eq!(app.count("products").await, 3);
}

#[tokio::test]
async fn an_import_without_replace_needs_every_loaded_table_empty() {
    let app = TestApp::spawn().await;
    app.sql("INSERT INTO categories (category_name) VALUES ('Hats')")
        .await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    let refused = import(&app.state, &dir.0, false).await.unwrap_err();
    assert!(
        refused.to_string().contains("categories") && refused.to_string().contains("--replace"),
        "{refused}"
    );
    assert_eq!(app.count("categories").await, 1);
}

#[tokio::test]
async fn an_import_refuses_a_catalog_whose_grants_it_would_lose() {
    let (app, dir) = imported_fixture().await;
    app.sql("GRANT SELECT ON skus TO PUBLIC").await;
    let refused = import(&app.state, &dir.0, true).await.unwrap_err();
    assert!(refused.to_string().contains("has grants"), "{refused}");
    assert_eq!(app.count("skus").await, 3);
    app.sql("REVOKE SELECT ON skus FROM PUBLIC").await;
    import(&app.state, &dir.0, true).await.unwrap();
}

#[tokio::test]
async fn the_swap_outwaits_a_long_transaction_without_blocking_readers_for_long() {
    use diesel_async::SimpleAsyncConnection;
    let (app, dir) = imported_fixture().await;
    let (mut holder, importing) = import_paused_before_its_swap(&app, &dir.0).await;
    // Longer than the swap waits for a lock: it steps back (readers go on)
    // and tries again.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    app.sql("SET lock_timeout = '100ms'; SELECT * FROM products LIMIT 1")
        .await;
    assert!(!importing.is_finished());
    holder.batch_execute("COMMIT").await.unwrap();
    importing.await.unwrap().unwrap();
    assert_eq!(app.count("products").await, 3);
}

#[tokio::test]
async fn without_the_caches_redis_an_import_stops_before_loading_anything() {
    let mut redis = crate::harness::ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| {
        config.cache_redis_url = Some(redis.url().into());
        config.redis_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let dir = TempDir::new();
    emporium::catwalk::generate::generate(&dir.0, 2_000, 3).unwrap();
    redis.kill();
    let refused = import(&app.state, &dir.0, false).await.unwrap_err();
    assert!(refused.to_string().contains("cache's Redis"), "{refused}");
    // Before the load: the files' dirty lines were never read (their list
    // is written as the files load).
    let rejects = dir.0.join(emporium::catwalk::import::REJECTS_FILE);
    assert!(!rejects.exists());
    assert_eq!(app.count("products").await, 0);
    assert_eq!(
        app.count("pg_namespace WHERE nspname = 'import_stage'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_keys_into_the_catalog_are_checked_after_the_swap_even_after_an_import_that_stopped_between()
 {
    let (app, dir) = imported_fixture().await;
    let migrated = schema(&app).await;
    let line = serde_json::json!([{"product_id": 1, "sku_id": 1, "quantity": 1}]);
    app.customer_with_an_order("buyer@example.com", line).await;
    // What an import that stopped between its swap and its checks leaves
    // behind: a key into the catalog added back unchecked.
    app.sql(
        "DO $$ DECLARE definition text; BEGIN \
           SELECT pg_get_constraintdef(oid) INTO definition FROM pg_constraint \
            WHERE conname = 'order_lines_product_id_fkey'; \
           ALTER TABLE order_lines DROP CONSTRAINT order_lines_product_id_fkey; \
           EXECUTE 'ALTER TABLE order_lines ADD CONSTRAINT order_lines_product_id_fkey ' \
                   || definition || ' NOT VALID'; \
         END $$",
    )
    .await;
    assert_eq!(
        app.count(
            "pg_constraint WHERE conname = 'order_lines_product_id_fkey' AND NOT convalidated"
        )
        .await,
        1
    );
    import(&app.state, &dir.0, true).await.unwrap();
    // Every key checked again, the same schema as the migrations', and the
    // past order kept, no longer linked to the replaced catalog.
    assert_same_schema(&schema(&app).await, &migrated);
    assert_eq!(
        app.count("order_lines WHERE product_id IS NULL AND sku_id IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn with_replace_past_orders_are_unlinked_while_readers_and_buyers_go_on() {
    use diesel_async::SimpleAsyncConnection;
    let (app, dir) = imported_fixture().await;
    let line = serde_json::json!([{"product_id": 1, "sku_id": 1, "quantity": 1}]);
    let token = app
        .customer_with_an_order("buyer@example.com", line.clone())
        .await;
    // A lock on the past order's line holds the import where it cuts the
    // past orders' links, before it locks any table.
    let mut holder = app.db().await;
    holder
        .batch_execute("BEGIN; SELECT 1 FROM order_lines FOR UPDATE")
        .await
        .unwrap();
    let state = app.state.clone();
    let path = dir.0.clone();
    let importing = tokio::spawn(async move { import(&state, &path, true).await });
    let unlinking = "pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND datname = current_database() \
                     AND query LIKE 'UPDATE order_lines SET product_id = NULL%'";
    for _ in 0..3_000 {
        if app.count(unlinking).await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.count(unlinking).await,
        1,
        "the import never cut the links"
    );
    // Meanwhile the catalog is read and bought from as before.
    app.sql("SET lock_timeout = '100ms'; SELECT * FROM products, skus, cart_items LIMIT 1")
        .await;
    let product = app.anon().get("/api/products/1").await;
    assert_eq!(product.status, StatusCode::OK);
    let order = serde_json::json!({ "items": line });
    let placed = app.user(&token).post("/api/orders", order).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    holder.batch_execute("COMMIT").await.unwrap();
    importing.await.unwrap().unwrap();
    // Both orders kept, neither linked to the replaced catalog: the one
    // placed while the import ran was cut under the swap's locks.
    assert_eq!(app.count("order_lines").await, 2);
    assert_eq!(
        app.count("order_lines WHERE product_id IS NOT NULL OR sku_id IS NOT NULL")
            .await,
        0
    );
}
