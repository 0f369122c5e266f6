//! The cart: lines at today's prices, stock limits, other users' lines, SKUs,
//! and its cache.

use axum::http::{Method, StatusCode};
use diesel_async::SimpleAsyncConnection;
use emporium::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};

async fn cart_of(app: &TestApp, token: &str) -> TestResponse {
    app.client(Some(token))
        .request(Method::GET, "/api/cart")
        .await
}

async fn add(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.client(Some(token))
        .send_json(Method::POST, "/api/cart/items", body)
        .await
}

/// Gives product 1 (Plain T-Shirt) two styles with SKUs, as a Catwalk product has.
pub async fn make_sku_product(app: &TestApp) {
    let mut conn = app.db().await;
    conn.batch_execute(
        "INSERT INTO styles (id, product_id, name, sale_price, original_price, is_default) VALUES \
           (1, 1, 'Black', NULL, 20.00, true), (2, 1, 'Red', 12.50, 20.00, false); \
         INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'M', 4), (2, 2, 'L', 10); \
         UPDATE products SET stock = 14 WHERE id = 1;",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_cart_whose_total_would_not_fit_the_money_type_is_refused() {
    let app = TestApp::with_admin().await;
    let (_, token) = app.quick_account("max@example.com", Role::Customer).await;
    let priced =
        |name: &str, price: &str| json!({"product_name": name, "price": price, "stock": 3});
    let throne = app
        .create_product(priced("Gold Throne", "60000000.00"))
        .await;
    let crown = app
        .create_product(priced("Silver Crown", "30000000.00"))
        .await;
    let added = add(&app, &token, json!({"product_id": throne, "quantity": 1})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    // Each line fits the money type; the cart's total would not.
    add(&app, &token, json!({"product_id": crown, "quantity": 2}))
        .await
        .field_error("quantity");
    let added = add(&app, &token, json!({"product_id": crown, "quantity": 1})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let line = added.json()["data"]["items"][1]["id"].as_i64().unwrap();
    app.user(&token)
        .put(&format!("/api/cart/items/{line}"), json!({"quantity": 2}))
        .await
        .field_error("quantity");
    // Nothing of the refused changes was kept.
    let cart = app.user(&token).get("/api/cart").await.json();
    let quantities: Vec<&Value> = cart["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| &line["quantity"])
        .collect();
    assert_eq!(quantities, [1, 1]);
    assert_eq!(cart["data"]["total"], "90000000.00");
    // A price raised afterwards takes the total past it: fewer of a line is
    // still taken, more is not.
    let price_of_the_throne = async |price: &str| {
        let path = format!("/api/products/{throne}");
        let changed = app.admin().put(&path, json!({ "price": price })).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    };
    let quantity_of_crowns = async |quantity: i64| {
        let path = format!("/api/cart/items/{line}");
        app.user(&token)
            .put(&path, json!({ "quantity": quantity }))
            .await
    };
    price_of_the_throne("10000000.00").await;
    assert_eq!(quantity_of_crowns(2).await.status, StatusCode::OK);
    price_of_the_throne("90000000.00").await;
    let fewer = quantity_of_crowns(1).await;
    assert_eq!(fewer.status, StatusCode::OK, "{}", fewer.text());
    assert_eq!(fewer.json()["data"]["total"], "120000000.00");
    quantity_of_crowns(2).await.field_error("quantity");
}

#[tokio::test]
async fn a_line_added_while_its_product_is_deleted_is_refused_by_name() {
    let app = std::sync::Arc::new(TestApp::seeded().await);
    let (_, token) = app.quick_account("dot@example.com", Role::Customer).await;
    // An admin's deletion of product 4, not committed yet.
    let mut deleting = app.db().await;
    deleting
        .batch_execute("BEGIN; DELETE FROM products WHERE id = 4")
        .await
        .unwrap();
    // The line reads the product as it still is, then waits to write.
    let adding = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(
            async move { add(&app, &token, json!({"product_id": 4, "quantity": 1})).await },
        )
    };
    crate::orders::until_one_waits_for_a_lock(&app).await;
    deleting.batch_execute("COMMIT").await.unwrap();
    adding.await.unwrap().field_error("product_id");
    assert_eq!(app.count("cart_items").await, 0);
}

#[tokio::test]
async fn add_update_remove_and_clear() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("cat@example.com", Role::Customer).await;
    let empty = cart_of(&app, &token).await;
    assert_eq!(empty.json()["data"], json!({"items": [], "total": "0.00"}));

    let added = add(&app, &token, json!({"product_id": 2, "quantity": 2})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let merged = add(&app, &token, json!({"product_id": 2, "quantity": 1})).await;
    let line = &merged.json()["data"]["items"][0];
    assert_eq!(line["quantity"], 3);
    assert_eq!(line["unit_price"], "90.00");
    assert_eq!(line["line_total"], "270.00");
    assert_eq!(line["product_name"], "Running Sneakers");
    assert!(line["sku_id"].is_null());
    let line_id = line["id"].as_i64().unwrap();

    add(&app, &token, json!({"product_id": 5, "quantity": 1})).await;
    let cart = cart_of(&app, &token).await.json();
    assert_eq!(cart["data"]["total"], "299.99");
    assert_eq!(cart["data"]["items"].as_array().unwrap().len(), 2);

    let updated = app
        .client(Some(&token))
        .send_json(
            Method::PUT,
            &format!("/api/cart/items/{line_id}"),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(updated.json()["data"]["total"], "119.99");
    let removed = app
        .client(Some(&token))
        .request(Method::DELETE, &format!("/api/cart/items/{line_id}"))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(cart_of(&app, &token).await.json()["data"]["total"], "29.99");
    let cleared = app
        .client(Some(&token))
        .request(Method::DELETE, "/api/cart")
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        cart_of(&app, &token).await.json()["data"]["items"],
        json!([])
    );
    assert_eq!(app.count("cart_items").await, 0);
}

#[tokio::test]
async fn a_line_changed_to_a_huge_quantity_is_a_422_before_it_is_short() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("dan@example.com", Role::Customer).await;
    let added = add(&app, &token, json!({"product_id": 1, "quantity": 1})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let line = added.json()["data"]["items"][0]["id"].as_i64().unwrap();
    app.client(Some(&token))
        .send_json(
            Method::PUT,
            &format!("/api/cart/items/{line}"),
            json!({"quantity": 1_000_000_000}),
        )
        .await
        .field_error("quantity");
    let cart = app.client(Some(&token)).get("/api/cart").await.json();
    assert_eq!(cart["data"]["items"][0]["quantity"], 1, "{cart}");
}

#[tokio::test]
async fn a_cart_holds_as_many_lines_as_one_order_takes_and_no_more() {
    let app = TestApp::seeded().await;
    let (user_id, token) = app.quick_account("dia@example.com", Role::Customer).await;
    app.sql(
        "INSERT INTO products (id, product_name, price, stock) \
         SELECT 1000 + n, 'Line ' || n, 1, 5 FROM generate_series(1, 101) AS n",
    )
    .await;
    for n in 1..=100 {
        let added = add(&app, &token, json!({"product_id": 1000 + n, "quantity": 1})).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    }
    // More of a line already there is not a new line.
    let more = add(&app, &token, json!({"product_id": 1001, "quantity": 1})).await;
    assert_eq!(more.status, StatusCode::CREATED, "{}", more.text());
    add(&app, &token, json!({"product_id": 1101, "quantity": 1}))
        .await
        .problem(409);
    assert_eq!(app.count("cart_items").await, 100);
    assert_eq!(app.count("cart_items WHERE product_id = 1101").await, 0);
    // A cart past the bound (made before it) still takes more of a line it
    // holds.
    app.sql(&format!(
        "INSERT INTO cart_items (user_id, product_id, quantity) VALUES ({user_id}, 1101, 1)"
    ))
    .await;
    let more = add(&app, &token, json!({"product_id": 1002, "quantity": 1})).await;
    assert_eq!(more.status, StatusCode::CREATED, "{}", more.text());
    app.sql("DELETE FROM cart_items WHERE product_id = 1101")
        .await;
    // And the cart is ordered whole.
    let placed = app
        .client(Some(&token))
        .send_json(Method::POST, "/api/orders", json!({}))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(
        placed.json()["data"]["items"].as_array().unwrap().len(),
        100
    );
}

/// Sends every line's add at once; checks that `added` of them were added
/// (201) and answers the others.
async fn added_at_once(
    app: &TestApp,
    token: &str,
    lines: impl Iterator<Item = Value>,
    added: usize,
) -> Vec<TestResponse> {
    let answers = futures_util::future::join_all(lines.map(|line| add(app, token, line))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|answer| answer.status).collect();
    let (created, refused): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|answer| answer.status == StatusCode::CREATED);
    assert_eq!(created.len(), added, "{statuses:?}");
    refused
}

#[tokio::test]
async fn adds_at_once_never_take_a_cart_past_its_bound_on_lines() {
    let app = TestApp::seeded().await;
    let (user_id, token) = app.quick_account("eve@example.com", Role::Customer).await;
    app.sql(&format!(
        "INSERT INTO products (id, product_name, price, stock) \
         SELECT 1000 + n, 'Line ' || n, 1, 5 FROM generate_series(1, 110) AS n; \
         INSERT INTO cart_items (user_id, product_id, quantity) \
         SELECT {user_id}, 1000 + n, 1 FROM generate_series(1, 98) AS n"
    ))
    .await;
    // Twelve new lines at once, for the two places left.
    let lines = (99..=110).map(|n| json!({"product_id": 1000 + n, "quantity": 1}));
    for refused in added_at_once(&app, &token, lines, 2).await {
        refused.problem(409);
    }
    assert_eq!(app.count("cart_items").await, 100);
}

#[tokio::test]
async fn adds_at_once_never_take_a_carts_total_past_the_money_type() {
    let app = TestApp::with_admin().await;
    let (_, token) = app.quick_account("fay@example.com", Role::Customer).await;
    let mut thrones = Vec::new();
    for n in 0..6 {
        let product =
            json!({"product_name": format!("Throne {n}"), "price": "30000000.00", "stock": 3});
        thrones.push(app.create_product(product).await);
    }
    // Each line fits alone; any four of them do not.
    let lines = thrones
        .iter()
        .map(|throne| json!({"product_id": throne, "quantity": 1}));
    for refused in added_at_once(&app, &token, lines, 3).await {
        refused.field_error("quantity");
    }
    let cart = app.user(&token).get("/api/cart").await.json();
    assert_eq!(cart["data"]["total"], "90000000.00", "{cart}");
}

#[tokio::test]
async fn emptying_the_cart_locks_its_lines_in_the_order_a_checkout_does() {
    let app = std::sync::Arc::new(TestApp::seeded().await);
    let (user_id, token) = app.quick_account("dex@example.com", Role::Customer).await;
    // Two lines stored (and indexed, by product) newest first; a checkout
    // locks the lines by id, the older one first.
    let (older, newer) = (100, 200);
    app.sql(&format!(
        "INSERT INTO cart_items (id, user_id, product_id, quantity) VALUES \
           ({newer}, {user_id}, 1, 1); \
         INSERT INTO cart_items (id, user_id, product_id, quantity) VALUES \
           ({older}, {user_id}, 5, 1);"
    ))
    .await;
    let hold = format!("SELECT 1 FROM cart_items WHERE id = {older} FOR UPDATE");
    let mut checkout = crate::orders::holding(&app, &hold).await;
    let emptying = tokio::spawn({
        let (app, token) = (app.clone(), token.clone());
        async move {
            app.client(Some(&token))
                .request(Method::DELETE, "/api/cart")
                .await
        }
    });
    crate::orders::until_one_waits_for_a_lock(&app).await;
    // Waiting for the older line, the emptying holds no newer one that the
    // checkout would wait for next (a cycle, one of them a 503).
    let newer_is_free = app.row_is_free("cart_items", newer).await;
    assert!(newer_is_free.is_ok(), "{newer_is_free:?}");
    checkout.batch_execute("COMMIT").await.unwrap();
    let emptied = emptying.await.unwrap();
    assert_eq!(emptied.status, StatusCode::NO_CONTENT, "{}", emptied.text());
    assert_eq!(app.count("cart_items").await, 0);
}

#[tokio::test]
async fn a_bad_line_names_its_unknown_product_and_its_bad_quantity_at_once() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("dot@example.com", Role::Customer).await;
    let refused = add(&app, &token, json!({"product_id": 999, "quantity": 0})).await;
    let errors = refused.problem(422)["errors"].clone();
    for field in ["product_id", "quantity"] {
        assert!(errors.get(field).is_some(), "{field} not named: {errors}");
    }
    assert_eq!(app.count("cart_items").await, 0);
}

#[tokio::test]
async fn bad_quantities_and_unknown_products_are_refused_without_a_write() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("dog@example.com", Role::Customer).await;
    for (body, field) in [
        (json!({"product_id": 1, "quantity": 0}), "quantity"),
        (json!({"product_id": 1, "quantity": -3}), "quantity"),
        (
            json!({"product_id": 1, "quantity": 2147483648_i64}),
            "quantity",
        ),
        // A huge quantity times a price (API.md): a 422 before the 409 of
        // a line short of stock.
        (
            json!({"product_id": 1, "quantity": 1_000_000_000}),
            "quantity",
        ),
        (json!({"product_id": 1, "quantity": 1.5}), "quantity"),
        (json!({"product_id": 1, "quantity": "2"}), "quantity"),
        (json!({"product_id": 1}), "quantity"),
        (json!({"product_id": 999, "quantity": 1}), "product_id"),
        (json!({"product_id": 0, "quantity": 1}), "product_id"),
        (json!({"product_id": -1, "quantity": 1}), "product_id"),
        (
            json!({"product_id": 1, "quantity": 1, "sku_id": 5}),
            "sku_id",
        ),
        (
            json!({"product_id": 1, "quantity": 1, "price": "0.01"}),
            "price",
        ),
        (
            json!({"product_id": "1; DROP TABLE products", "quantity": 1}),
            "product_id",
        ),
    ] {
        add(&app, &token, body).await.field_error(field);
    }
    let malformed = app
        .anon()
        .send(
            Method::POST,
            "/api/cart/items",
            Some(axum::body::Body::from("{\"product_id\": 1,")),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
            ],
        )
        .await;
    malformed.problem(400);
    let anonymous = app
        .client(None)
        .send_json(
            Method::POST,
            "/api/cart/items",
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;
    anonymous.problem(401);
    app.client(None)
        .request(Method::GET, "/api/cart")
        .await
        .problem(401);
    assert_eq!(app.count("cart_items").await, 0);
    assert_eq!(app.count("products").await, 5);
}

#[tokio::test]
async fn more_than_the_stock_is_a_409_naming_the_line_as_checkout_does() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("eel@example.com", Role::Customer).await;
    // Branded Baseball Hat: 12 in stock.
    let too_many = add(&app, &token, json!({"product_id": 3, "quantity": 13})).await;
    assert_eq!(
        too_many.problem(409)["lines"],
        json!([{"product_id": 3, "sku_id": null, "requested": 13, "available": 12}])
    );
    assert_eq!(
        add(&app, &token, json!({"product_id": 3, "quantity": 10}))
            .await
            .status,
        StatusCode::CREATED
    );
    let merged = add(&app, &token, json!({"product_id": 3, "quantity": 3})).await;
    // The merged line asks for 13 in all.
    assert_eq!(
        merged.problem(409)["lines"],
        json!([{"product_id": 3, "sku_id": null, "requested": 13, "available": 12}])
    );
    let line = cart_of(&app, &token).await.json()["data"]["items"][0].clone();
    assert_eq!(line["quantity"], 10);
    let id = line["id"].as_i64().unwrap();
    app.client(Some(&token))
        .send_json(
            Method::PUT,
            &format!("/api/cart/items/{id}"),
            json!({"quantity": 50}),
        )
        .await
        .problem(409);
    app.client(Some(&token))
        .send_json(
            Method::PUT,
            &format!("/api/cart/items/{id}"),
            json!({"quantity": 0}),
        )
        .await
        .field_error("quantity");
    assert_eq!(
        cart_of(&app, &token).await.json()["data"]["items"][0]["quantity"],
        10
    );
}

#[tokio::test]
async fn a_merged_line_past_the_largest_stock_is_refused_naming_what_it_asks_not_capped() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("max@example.com", Role::Customer).await;
    // A free sample with the largest stock there can be.
    app.sql("UPDATE products SET price = 0, stock = 2147483647 WHERE id = 3")
        .await;
    let first = add(&app, &token, json!({"product_id": 3, "quantity": 1})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let merged = add(
        &app,
        &token,
        json!({"product_id": 3, "quantity": 2147483647}),
    )
    .await;
    assert_eq!(
        merged.problem(409)["lines"],
        json!([{"product_id": 3, "sku_id": null, "requested": 2147483648_i64, "available": 2147483647}])
    );
    assert_eq!(
        cart_of(&app, &token).await.json()["data"]["items"][0]["quantity"],
        1
    );
}

#[tokio::test]
async fn another_users_line_is_a_404_and_stays_untouched() {
    let app = TestApp::seeded().await;
    let (_, owner) = app.quick_account("fox@example.com", Role::Customer).await;
    let (_, other) = app.quick_account("gnu@example.com", Role::Customer).await;
    let (_, admin) = app.quick_account("hen@example.com", Role::Admin).await;
    let cart = add(&app, &owner, json!({"product_id": 1, "quantity": 2}))
        .await
        .json();
    let id = cart["data"]["items"][0]["id"].as_i64().unwrap();
    for token in [&other, &admin] {
        app.client(Some(token))
            .send_json(
                Method::PUT,
                &format!("/api/cart/items/{id}"),
                json!({"quantity": 1}),
            )
            .await
            .problem(404);
        app.client(Some(token))
            .request(Method::DELETE, &format!("/api/cart/items/{id}"))
            .await
            .problem(404);
        assert_eq!(
            cart_of(&app, token).await.json()["data"]["items"],
            json!([])
        );
    }
    for path in [
        "/api/cart/items/abc",
        "/api/cart/items/0",
        "/api/cart/items/99999999999",
    ] {
        app.client(Some(&owner))
            .request(Method::DELETE, path)
            .await
            .problem(400);
    }
    assert_eq!(
        cart_of(&app, &owner).await.json()["data"]["items"][0]["quantity"],
        2
    );
}

#[tokio::test]
async fn the_cart_shows_todays_price_and_loses_deleted_products() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("ibis@example.com", Role::Customer).await;
    let (_, admin) = app.quick_account("jay@example.com", Role::Admin).await;
    add(&app, &token, json!({"product_id": 1, "quantity": 2})).await;
    add(&app, &token, json!({"product_id": 4, "quantity": 1})).await;
    assert_eq!(
        cart_of(&app, &token).await.header("x-data-source"),
        Some("postgres")
    );
    let cached = cart_of(&app, &token).await;
    assert_eq!(cached.header("x-data-source"), Some("redis"));
    assert_eq!(cached.json()["data"]["total"], "42.97");

    app.client(Some(&admin))
        .send_json(Method::PUT, "/api/products/1", json!({"price": "10.00"}))
        .await;
    let repriced = cart_of(&app, &token).await;
    assert_eq!(repriced.header("x-data-source"), Some("postgres"));
    assert_eq!(repriced.json()["data"]["total"], "32.99");

    app.client(Some(&admin))
        .request(Method::DELETE, "/api/products/4")
        .await;
    let after_delete = cart_of(&app, &token).await.json();
    assert_eq!(after_delete["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(after_delete["data"]["total"], "20.00");
}

#[tokio::test]
async fn a_product_with_skus_is_bought_by_sku_at_its_style_price() {
    let app = TestApp::seeded().await;
    make_sku_product(&app).await;
    let (_, token) = app.quick_account("kea@example.com", Role::Customer).await;
    add(&app, &token, json!({"product_id": 1, "quantity": 1}))
        .await
        .field_error("sku_id");
    add(
        &app,
        &token,
        json!({"product_id": 2, "sku_id": 1, "quantity": 1}),
    )
    .await
    .field_error("sku_id");
    add(
        &app,
        &token,
        json!({"product_id": 1, "sku_id": 99, "quantity": 1}),
    )
    .await
    .field_error("sku_id");
    let over = add(
        &app,
        &token,
        json!({"product_id": 1, "sku_id": 1, "quantity": 5}),
    )
    .await;
    assert_eq!(over.problem(409)["lines"][0]["available"], 4);
    add(
        &app,
        &token,
        json!({"product_id": 1, "sku_id": 1, "quantity": 2}),
    )
    .await;
    let cart = add(
        &app,
        &token,
        json!({"product_id": 1, "sku_id": 2, "quantity": 1}),
    )
    .await
    .json();
    let items = cart["data"]["items"].as_array().unwrap();
    assert_eq!(
        (items[0]["sku_id"].clone(), items[0]["unit_price"].clone()),
        (json!(1), json!("20.00"))
    );
    assert_eq!(
        (items[1]["sku_id"].clone(), items[1]["unit_price"].clone()),
        (json!(2), json!("12.50"))
    );
    assert_eq!(cart["data"]["total"], "52.50");
}

/// API.md: carts show today's prices and stock. Each line says how many can
/// be bought now (a SKU line, its SKU's quantity); someone else's order
/// retires the cached cart, and the next read shows what is left.
#[tokio::test]
async fn the_cart_shows_how_many_of_each_line_can_be_bought_today() {
    let app = TestApp::seeded().await;
    make_sku_product(&app).await;
    let (_, token) = app.quick_account("lark@example.com", Role::Customer).await;
    add(&app, &token, json!({"product_id": 2, "quantity": 1})).await;
    add(
        &app,
        &token,
        json!({"product_id": 1, "sku_id": 1, "quantity": 1}),
    )
    .await;
    let available = |cart: &TestResponse| {
        let items = cart.json()["data"]["items"].clone();
        (items[0]["available"].clone(), items[1]["available"].clone())
    };
    cart_of(&app, &token).await;
    let cached = cart_of(&app, &token).await;
    assert_eq!(cached.header("x-data-source"), Some("redis"));
    assert_eq!(available(&cached), (json!(25), json!(4)));

    let (_, other) = app.quick_account("loon@example.com", Role::Customer).await;
    let placed = app
        .client(Some(&other))
        .send_json(
            Method::POST,
            "/api/orders",
            json!({"items": [{"product_id": 2, "quantity": 3}, {"product_id": 1, "sku_id": 1, "quantity": 1}]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let after = cart_of(&app, &token).await;
    assert_eq!(after.header("x-data-source"), Some("postgres"));
    assert_eq!(available(&after), (json!(22), json!(3)));
}
