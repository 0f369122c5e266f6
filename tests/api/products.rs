//! `/api/products`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, product_names as names};

#[tokio::test]
async fn lists_the_seeded_products_with_category_and_tags() {
    let app = TestApp::seeded_with_admin().await;
    let response = app.admin().get("/api/products").await;
    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["total"], 5);
    assert!(body.get("total_capped").is_none());
    let hat = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|product| product["product_name"] == "Branded Baseball Hat")
        .unwrap();
    assert_eq!(hat["price"], "22.99");
    assert_eq!(hat["stock"], 12);
    assert_eq!(
        hat["category"],
        json!({"id": hat["category_id"], "category_name": "Hats"})
    );
    let tags: Vec<&str> = hat["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["tag_name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["rock music", "blue", "red", "green"]);
    for field in [
        "id",
        "product_name",
        "slogan",
        "description",
        "price",
        "stock",
        "category_id",
        "created_at",
        "updated_at",
    ] {
        assert!(hat.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn a_listed_product_whose_category_was_deleted_meanwhile_shows_it_as_the_deletion_left_it() {
    let app = TestApp::seeded().await;
    // What a list reads when a category's deletion commits between its
    // rows' statement and its categories' one: a product row that still
    // names the category, and no such category (made here by leaving the
    // row dangling, with the foreign key's trigger off for the session).
    app.sql(
        "SET session_replication_role = replica; \
         UPDATE products SET category_id = 999999 WHERE product_name = 'Branded Baseball Hat'; \
         SET session_replication_role = DEFAULT",
    )
    .await;
    let body = app.client(None).get("/api/products").await.json();
    let hat = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|product| product["product_name"] == "Branded Baseball Hat")
        .unwrap();
    assert_eq!(hat["category_id"], serde_json::Value::Null, "{hat}");
    assert_eq!(hat["category"], serde_json::Value::Null, "{hat}");
}

#[tokio::test]
async fn money_is_a_string_with_two_places() {
    let app = TestApp::seeded_with_admin().await;
    let body = app.admin().get("/api/products?q=sneakers").await.json();
    assert_eq!(body["data"][0]["price"], "90.00");
}

#[tokio::test]
async fn filters_by_category_price_stock_and_name() {
    let app = TestApp::seeded_with_admin().await;
    let sold_out = app
        .create_product(
            json!({"product_name": "Sold Out Tee", "price": 30, "stock": 0, "category_id": 1}),
        )
        .await;
    assert_eq!(
        names(
            &app.admin()
                .get("/api/products?category=shirts&sortBy=name&order=asc")
                .await
                .json()
        ),
        ["Plain T-Shirt", "Sold Out Tee"]
    );
    assert_eq!(
        names(
            &app.admin()
                .get("/api/products?minPrice=20&maxPrice=30&sortBy=price&order=ASC")
                .await
                .json()
        ),
        ["Branded Baseball Hat", "Cargo Shorts", "Sold Out Tee"]
    );
    let in_stock = app.admin().get("/api/products?inStock=true").await.json();
    assert_eq!(in_stock["total"], 5);
    let out = app.admin().get("/api/products?inStock=false").await.json();
    assert_eq!(out["data"][0]["id"], sold_out);
    assert_eq!(out["total"], 1);
    assert_eq!(
        names(&app.admin().get("/api/products?q=VINYL").await.json()),
        ["Top 40 Music Compilation Vinyl Record"]
    );
}

#[tokio::test]
async fn a_search_takes_wildcards_and_sql_as_plain_text() {
    let app = TestApp::seeded_with_admin().await;
    app.create_product(json!({"product_name": "100% Cotton", "price": 1}))
        .await;
    // `%` and `_` are no wildcards (they match no word), and quotes are text.
    for query in ["%25", "_", "%27%20OR%201%3D1%20--", "%22%22", "-"] {
        let answer = app.admin().get(&format!("/api/products?q={query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.text());
        assert_eq!(answer.json()["total"], 0, "{query}");
    }
    assert_eq!(
        names(&app.admin().get("/api/products?q=cotton").await.json()),
        ["100% Cotton"]
    );
}

#[tokio::test]
async fn sorts_with_ties_broken_by_id_so_pages_never_overlap() {
    let app = TestApp::with_admin().await;
    for n in 0..7 {
        app.create_product(json!({"product_name": format!("Same {n}"), "price": "5.00"}))
            .await;
    }
    let mut seen = Vec::new();
    for page in 1..=4 {
        let body = app
            .admin()
            .get(&format!(
                "/api/products?sortBy=price&order=desc&limit=2&page={page}"
            ))
            .await
            .json();
        for product in body["data"].as_array().unwrap() {
            seen.push(product["id"].as_i64().unwrap());
        }
    }
    assert_eq!(seen.len(), 7);
    let mut expected = seen.clone();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        seen, expected,
        "equal prices are ordered by id in the same direction"
    );
    let by_name = names(
        &app.admin()
            .get("/api/products?sortBy=name&order=asc&limit=3")
            .await
            .json(),
    );
    assert_eq!(by_name, ["Same 0", "Same 1", "Same 2"]);
    let newest = app.admin().get("/api/products?limit=1").await.json();
    assert_eq!(newest["data"][0]["product_name"], "Same 6");
}

#[tokio::test]
async fn refuses_malformed_and_out_of_range_filters() {
    let app = TestApp::seeded_with_admin().await;
    for bad in [
        "minPrice=abc",
        "inStock=maybe",
        "page=x",
        "limit=1.5",
        "colour=red",
    ] {
        app.admin()
            .get(&format!("/api/products?{bad}"))
            .await
            .problem(400);
    }
    for (bad, field) in [
        ("minPrice=-1", "minPrice"),
        ("maxPrice=1.234", "maxPrice"),
        ("minPrice=50&maxPrice=10", "maxPrice"),
        ("sortBy=drop", "sortBy"),
        ("order=sideways", "order"),
        ("limit=101", "limit"),
        ("page=0", "page"),
        ("category=Nowhere", "category"),
        ("category=", "category"),
        // A control character in a name, the one repeated values are joined with too.
        ("category=Shirts%1FHats", "category"),
        ("tag=Red%1FWhite&tag=Blue", "tag"),
    ] {
        app.admin()
            .get(&format!("/api/products?{bad}"))
            .await
            .field_error(field);
    }
    // Messages quote what was sent, never a Rust type.
    let unknown = app.admin().get("/api/products?category=Nowhere").await;
    assert_eq!(
        unknown.field_error("category")["errors"]["category"],
        json!(["no category is named \"Nowhere\""])
    );
    // Named with the query's other bad parameters, all at once.
    let errors = app
        .admin()
        .get("/api/products?category=Nowhere&tag=Nothing&limit=500&sortBy=drop")
        .await
        .problem(422)["errors"]
        .clone();
    for parameter in ["category", "tag", "limit", "sortBy"] {
        assert!(errors.get(parameter).is_some(), "{parameter}: {errors}");
    }
}

#[tokio::test]
async fn gets_one_product_with_category_tags_and_features() {
    let app = TestApp::seeded_with_admin().await;
    let mut conn = app.db().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("INSERT INTO features (product_id, feature, value) VALUES (1, 'Fabric', 'Cotton'), (1, 'Cut', NULL)"),
        &mut conn,
    )
    .await
    .unwrap();
    let response = app.admin().get("/api/products/1").await;
    assert_eq!(response.status, StatusCode::OK);
    let data = &response.json()["data"];
    assert_eq!(data["product_name"], "Plain T-Shirt");
    assert_eq!(data["category"]["category_name"], "Shirts");
    assert_eq!(data["tags"].as_array().unwrap().len(), 3);
    assert_eq!(
        data["features"],
        json!([{"feature": "Fabric", "value": "Cotton"}, {"feature": "Cut", "value": null}])
    );
    let plain = app.admin().get("/api/products/2").await.json();
    assert_eq!(plain["data"]["features"], json!([]));
}

#[tokio::test]
async fn an_unknown_product_is_a_404_and_a_bad_id_a_400() {
    let app = TestApp::seeded_with_admin().await;
    app.admin().get("/api/products/12345").await.problem(404);
    app.admin()
        .get("/api/products/2147483647")
        .await
        .problem(404);
    for bad in [
        "abc",
        "0",
        "-5",
        "2147483648",
        "1;DROP",
        "+1",
        "%2B1",
        "0001",
        "1%20",
    ] {
        app.admin()
            .get(&format!("/api/products/{bad}"))
            .await
            .problem(400);
    }
    // A change of a product that is not there is a 404, whatever it names.
    app.admin()
        .put(
            "/api/products/12345",
            json!({"category_id": 999999, "tagIds": [999999]}),
        )
        .await
        .problem(404);
}

#[tokio::test]
async fn creates_a_product_with_its_tags() {
    let app = TestApp::seeded_with_admin().await;
    let response = app
        .admin().post(
            "/api/products",
            json!({"product_name": "Gold Record", "price": "19.5", "stock": 3, "category_id": 3, "tagIds": [7, 2, 7]}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let data = &response.json()["data"];
    assert_eq!(data["price"], "19.50");
    assert_eq!(data["category"]["category_name"], "Music");
    let tags: Vec<i64> = data["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["id"].as_i64().unwrap())
        .collect();
    assert_eq!(tags, [2, 7]);
    let tag = app.admin().get("/api/tags/7").await.json();
    assert_eq!(tag["data"]["products_total"], 2);
}

#[tokio::test]
async fn an_unknown_category_or_tag_is_a_422_and_writes_nothing() {
    let app = TestApp::seeded_with_admin().await;
    app.admin()
        .post(
            "/api/products",
            json!({"product_name": "X", "price": 1, "category_id": 99}),
        )
        .await
        .field_error("category_id");
    let body = app
        .admin()
        .post(
            "/api/products",
            json!({"product_name": "X", "price": 1, "tagIds": [1, 98, 99]}),
        )
        .await
        .field_error("tagIds");
    assert_eq!(body["errors"]["tagIds"].as_array().unwrap().len(), 2);
    assert_eq!(app.count("products").await, 5);
    assert_eq!(app.count("product_tags").await, 12);
}

#[tokio::test]
async fn a_bad_product_names_its_unknown_category_and_tags_with_its_other_bad_fields() {
    let app = TestApp::seeded_with_admin().await;
    let bad = json!({"product_name": "", "price": -1, "category_id": 99, "tagIds": [1, 98]});
    let created = app.admin().post("/api/products", bad.clone()).await;
    let changed = app.admin().put("/api/products/1", bad).await;
    for refused in [created, changed] {
        let errors = refused.problem(422)["errors"].clone();
        for field in ["product_name", "price", "category_id", "tagIds"] {
            assert!(errors.get(field).is_some(), "{field} not named: {errors}");
        }
        assert_eq!(errors["tagIds"].as_array().unwrap().len(), 1, "{errors}");
    }
    // A field named for its own fault is not named again for the store's.
    let errors = app
        .admin()
        .post("/api/products", json!({"price": 1, "tagIds": [0, 98]}))
        .await
        .problem(422)["errors"]
        .clone();
    assert_eq!(errors["tagIds"].as_array().unwrap().len(), 1, "{errors}");
    assert!(errors.get("product_name").is_some(), "{errors}");
    assert_eq!(app.count("products").await, 5);
    assert_eq!(
        app.admin().get("/api/products/1").await.json()["data"]["price"],
        "14.99"
    );
}

#[tokio::test]
async fn refuses_invalid_product_fields_naming_each() {
    let app = TestApp::seeded_with_admin().await;
    let cases = [
        (json!({"product_name": "X", "price": -1}), "price"),
        (json!({"product_name": "X", "price": 1.005}), "price"),
        (
            json!({"product_name": "X", "price": "14.999999999999999999"}),
            "price",
        ),
        (
            json!({"product_name": "X", "price": "14.999999999999999999999999999999"}),
            "price",
        ),
        (json!({"product_name": "X", "price": 100000000}), "price"),
        (json!({"product_name": "X", "price": "NaN"}), "price"),
        (json!({"product_name": "X", "price": true}), "price"),
        (
            json!({"product_name": "X", "price": 1, "stock": -1}),
            "stock",
        ),
        (
            json!({"product_name": "X", "price": 1, "stock": 2147483648_i64}),
            "stock",
        ),
        (
            json!({"product_name": "X", "price": 1, "stock": 1.5}),
            "stock",
        ),
        (json!({"product_name": "", "price": 1}), "product_name"),
        (
            json!({"product_name": "X", "price": 1, "category_id": 0}),
            "category_id",
        ),
        (
            json!({"product_name": "X", "price": 1, "tagIds": [-1]}),
            "tagIds",
        ),
        (
            json!({"product_name": "X", "price": 1, "tagIds": "1,2"}),
            "tagIds",
        ),
        (
            json!({"product_name": "X", "price": 1, "slogan": "a".repeat(1001)}),
            "slogan",
        ),
    ];
    for (body, field) in cases {
        app.admin()
            .post("/api/products", body)
            .await
            .field_error(field);
    }
    // A number too precise for a float is judged on its JSON text.
    let raw = br#"{"product_name": "X", "price": 14.999999999999999999}"#.to_vec();
    app.admin()
        .send_raw(Method::POST, "/api/products", raw, "application/json")
        .await
        .field_error("price");
    // A list of numbers with an element that is none: named once, as sent.
    let listed = app
        .admin()
        .post(
            "/api/products",
            json!({"product_name": "X", "price": 1, "tagIds": ["x", 2]}),
        )
        .await
        .field_error("tagIds[0]");
    assert_eq!(
        listed["errors"]["tagIds[0]"],
        json!(["expected an integer, found \"x\""])
    );
    // Past what a decimal keeps: refused, never rounded (to 15.00, to 2).
    for (raw, field) in [
        (
            r#"{"product_name": "X", "price": 14.999999999999999999999999999999}"#,
            "price",
        ),
        (r#"{"product_name": "X", "price": 1e-40}"#, "price"),
        (
            r#"{"product_name": "X", "price": 1, "stock": 1.9999999999999999999999999999999}"#,
            "stock",
        ),
    ] {
        app.admin()
            .send_raw(
                Method::POST,
                "/api/products",
                raw.as_bytes().to_vec(),
                "application/json",
            )
            .await
            .field_error(field);
    }
    let several = app
        .admin()
        .post(
            "/api/products",
            json!({"product_name": " ", "price": -3, "stock": -1}),
        )
        .await
        .problem(422);
    assert_eq!(several["errors"].as_object().unwrap().len(), 3, "{several}");
    app.admin()
        .post("/api/products", json!({"price": 1}))
        .await
        .problem(422);
    assert_eq!(app.count("products").await, 5);
}

#[tokio::test]
async fn hostile_text_is_stored_verbatim_not_executed() {
    let app = TestApp::with_admin().await;
    let name = "Robert'); DROP TABLE products;-- <script>alert(1)</script>";
    let id = app
        .create_product(json!({"product_name": name, "price": 1}))
        .await;
    let body = app.admin().get(&format!("/api/products/{id}")).await.json();
    assert_eq!(body["data"]["product_name"], name);
    assert_eq!(app.count("products").await, 1);
}

#[tokio::test]
async fn updates_only_the_fields_sent() {
    let app = TestApp::seeded_with_admin().await;
    let before = app.admin().get("/api/products/1").await.json()["data"].clone();
    let response = app
        .admin()
        .put("/api/products/1", json!({"price": 15.49}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let after = &response.json()["data"];
    assert_eq!(after["price"], "15.49");
    for field in ["product_name", "stock", "category_id", "tags", "created_at"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert!(after["updated_at"].as_str() > before["updated_at"].as_str());
}

#[tokio::test]
async fn tag_ids_replace_the_tag_set_and_null_clears_the_category() {
    let app = TestApp::seeded_with_admin().await;
    let response = app
        .admin()
        .put(
            "/api/products/3",
            json!({"tagIds": [8], "category_id": null}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let data = &response.json()["data"];
    assert_eq!(data["tags"], json!([{"id": 8, "tag_name": "pop culture"}]));
    assert_eq!(data["category"], json!(null));
    let cleared = app
        .admin()
        .put("/api/products/3", json!({"tagIds": []}))
        .await
        .json();
    assert_eq!(cleared["data"]["tags"], json!([]));
    assert_eq!(
        app.admin().get("/api/categories/4").await.json()["data"]["products_total"],
        0
    );
}

#[tokio::test]
async fn a_failed_update_changes_nothing() {
    let app = TestApp::seeded_with_admin().await;
    let before = app.admin().get("/api/products/1").await.json()["data"].clone();
    app.admin()
        .put("/api/products/1", json!({"price": 99, "tagIds": [1, 999]}))
        .await
        .field_error("tagIds");
    app.admin()
        .put("/api/products/1", json!({"price": 99, "category_id": 999}))
        .await
        .field_error("category_id");
    app.admin()
        .put("/api/products/1", json!({"price": 99, "stock": -4}))
        .await
        .field_error("stock");
    app.admin()
        .put("/api/products/1", json!({"id": 7}))
        .await
        .field_error("id");
    let after = app.admin().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(before, after);
    app.admin()
        .put("/api/products/999", json!({"price": 1}))
        .await
        .problem(404);
    app.admin()
        .put("/api/products/999", json!({}))
        .await
        .problem(404);
    app.admin()
        .put("/api/products/x", json!({}))
        .await
        .problem(400);
}

#[tokio::test]
async fn the_stock_of_a_product_sold_by_sku_follows_its_skus_only() {
    let app = TestApp::seeded_with_admin().await;
    crate::cart::make_sku_product(&app).await;
    let before = app.admin().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(before["stock"], 14);
    app.admin()
        .put("/api/products/1", json!({"stock": 1000, "price": 99}))
        .await
        .field_error("stock");
    let after = app.admin().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(before, after);
    // Its other fields change as for any product, its stock sent back as it
    // is included; another product's stock changes too.
    let sent_back = app
        .admin()
        .put("/api/products/1", json!({"stock": 14, "price": 21}))
        .await;
    assert_eq!(sent_back.status, StatusCode::OK, "{}", sent_back.text());
    let renamed = app
        .admin()
        .put("/api/products/1", json!({"product_name": "Plain Tee"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert_eq!(renamed.json()["data"]["stock"], 14);
    let restocked = app
        .admin()
        .put("/api/products/2", json!({"stock": 7}))
        .await;
    assert_eq!(restocked.json()["data"]["stock"], 7);
}

#[tokio::test]
async fn a_stock_set_by_hand_on_a_product_sold_by_sku_is_named_with_every_other_bad_field() {
    let app = TestApp::seeded_with_admin().await;
    crate::cart::make_sku_product(&app).await;
    let before = app.admin().get("/api/products/1").await.json()["data"].clone();
    for (body, other) in [
        // Another field bad as sent (the body's own checks).
        (json!({"stock": 1000, "price": -1}), "price"),
        // A category that names nothing (the store's checks).
        (json!({"stock": 1000, "category_id": 999999}), "category_id"),
    ] {
        let refused = app.admin().put("/api/products/1", body.clone()).await;
        let errors = refused.problem(422)["errors"].clone();
        assert!(errors.get("stock").is_some(), "{body}: {errors}");
        assert!(errors.get(other).is_some(), "{body}: {errors}");
    }
    let after = app.admin().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_tags_change_racing_the_products_deletion_is_a_404() {
    use diesel_async::SimpleAsyncConnection;
    let app = std::sync::Arc::new(TestApp::seeded_with_admin().await);
    // An admin's deletion of product 4, not committed yet.
    let mut deleting = app.db().await;
    deleting
        .batch_execute("BEGIN; DELETE FROM products WHERE id = 4")
        .await
        .unwrap();
    let changing = {
        let app = app.clone();
        tokio::spawn(async move {
            app.admin()
                .put("/api/products/4", json!({"tagIds": [1]}))
                .await
        })
    };
    crate::orders::until_one_waits_for_a_lock(&app).await;
    deleting.batch_execute("COMMIT").await.unwrap();
    changing.await.unwrap().problem(404);
    assert_eq!(app.count("product_tags WHERE product_id = 4").await, 0);
}

#[tokio::test]
async fn deleting_a_product_locks_its_related_rows_in_id_order() {
    use diesel_async::SimpleAsyncConnection;
    let app = std::sync::Arc::new(TestApp::seeded_with_admin().await);
    // Products 2 and 3 related both ways; the row naming 2 as related is
    // the older. The cascade of 2's deletion takes the rows of 2's own
    // list (the newer) first; the deletion of 3 would take them the other
    // way round.
    let (names_2, lists_2) = (900, 901);
    app.sql(&format!(
        "INSERT INTO related_products (id, product_id, related_product_id) VALUES \
           ({names_2}, 3, 2), ({lists_2}, 2, 3)"
    ))
    .await;
    let hold = format!("SELECT 1 FROM related_products WHERE id = {names_2} FOR UPDATE");
    let mut other = crate::orders::holding(&app, &hold).await;
    let deleting = {
        let app = app.clone();
        tokio::spawn(async move { app.admin().delete("/api/products/2").await })
    };
    crate::orders::until_one_waits_for_a_lock(&app).await;
    // Waiting for the older row, it holds no newer one.
    let newer_is_free = app.row_is_free("related_products", lists_2).await;
    assert!(newer_is_free.is_ok(), "{newer_is_free:?}");
    other.batch_execute("COMMIT").await.unwrap();
    assert_eq!(deleting.await.unwrap().status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("related_products").await, 0);
}

#[tokio::test]
async fn deleting_a_product_removes_its_tags_and_features() {
    let app = TestApp::seeded_with_admin().await;
    assert_eq!(
        app.admin().delete("/api/products/4").await.status,
        StatusCode::NO_CONTENT
    );
    app.admin().get("/api/products/4").await.problem(404);
    app.admin().delete("/api/products/4").await.problem(404);
    assert_eq!(app.count("product_tags").await, 9);
    assert_eq!(
        app.admin().get("/api/tags/2").await.json()["data"]["products_total"],
        0
    );
    assert_eq!(app.admin().get("/api/products").await.json()["total"], 4);
}

#[tokio::test]
async fn counting_stops_at_ten_thousand() {
    let app = TestApp::with_admin().await;
    let mut conn = app.db().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "INSERT INTO products (product_name, price, stock) \
             SELECT 'Bulk ' || n, n % 100, n % 3 FROM generate_series(1, 10050) AS n",
        ),
        &mut conn,
    )
    .await
    .unwrap();
    let capped = app.admin().get("/api/products?limit=1").await.json();
    assert_eq!(
        (capped["total"].clone(), capped["total_capped"].clone()),
        (json!(10000), json!(true))
    );
    let exact = app.admin().get("/api/products?minPrice=99").await.json();
    assert_eq!(exact["total"], 100);
    assert!(exact.get("total_capped").is_none());
}

#[tokio::test]
async fn seeded_products_are_listed_newest_first_in_the_order_of_the_seed_table() {
    let app = TestApp::seeded().await;
    let body = app.anon().get("/api/products").await.json();
    assert_eq!(
        names(&body),
        [
            "Plain T-Shirt",
            "Running Sneakers",
            "Branded Baseball Hat",
            "Top 40 Music Compilation Vinyl Record",
            "Cargo Shorts",
        ]
    );
    let stamps: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|product| product["created_at"].as_str().unwrap())
        .collect();
    let mut distinct = stamps.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "{stamps:?}");
    let oldest = app
        .anon()
        .get("/api/products?order=ASC&limit=1")
        .await
        .json();
    assert_eq!(names(&oldest), ["Cargo Shorts"]);
}
