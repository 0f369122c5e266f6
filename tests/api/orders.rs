//! Orders: checkout from the cart or from items, stock that never goes
//! negative, idempotency, cancellation, status changes, and the concurrent
//! cases: a race for the last units, a storm of retries, crossing carts.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use diesel_async::RunQueryDsl;
use emporium::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};

pub(crate) async fn order(
    app: &TestApp,
    token: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> TestResponse {
    let authorization = format!("Bearer {token}");
    let mut headers = vec![("authorization", authorization.as_str())];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let body = body.map(|body| {
        headers.push(("content-type", "application/json"));
        axum::body::Body::from(body.to_string())
    });
    app.anon()
        .send(Method::POST, "/api/orders", body, &headers)
        .await
}

pub(crate) async fn stock_of(app: &TestApp, product_id: i32) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Stock {
        #[diesel(sql_type = diesel::sql_types::Int4)]
        stock: i32,
    }
    let mut conn = app.db().await;
    diesel::sql_query("SELECT stock FROM products WHERE id = $1")
        .bind::<diesel::sql_types::Int4, _>(product_id)
        .get_result::<Stock>(&mut conn)
        .await
        .unwrap()
        .stock
        .into()
}

async fn set_stock(app: &TestApp, product_id: i32, stock: i32) {
    let mut conn = app.db().await;
    diesel::sql_query("UPDATE products SET stock = $2 WHERE id = $1")
        .bind::<diesel::sql_types::Int4, _>(product_id)
        .bind::<diesel::sql_types::Int4, _>(stock)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A connection in a transaction that holds `product_id`'s row, as a
/// slow writer would; `COMMIT` on it lets go.
async fn holding_the_row_of(app: &TestApp, product_id: i32) -> diesel_async::AsyncPgConnection {
    holding(
        app,
        &format!("SELECT 1 FROM products WHERE id = {product_id} FOR UPDATE"),
    )
    .await
}

async fn add_to_cart(app: &TestApp, token: &str, product_id: i32, quantity: i32) {
    let response = app
        .client(Some(token))
        .send_json(
            Method::POST,
            "/api/cart/items",
            json!({"product_id": product_id, "quantity": quantity}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
}

#[tokio::test]
async fn an_order_from_the_cart_takes_stock_and_empties_the_cart() {
    let app = TestApp::seeded().await;
    let (user_id, token) = app.quick_account("ann@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 1, 2).await;
    add_to_cart(&app, &token, 5, 1).await;
    let cart = app
        .client(Some(&token))
        .request(Method::GET, "/api/cart")
        .await;
    assert_eq!(cart.header("x-data-source"), Some("postgres"));
    let placed = order(&app, &token, None, None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let data = &placed.json()["data"];
    assert_eq!(data["user_id"], user_id);
    assert_eq!(data["status"], "placed");
    assert_eq!(data["total"], "59.97");
    assert_eq!(
        data["items"],
        json!([
            {"product_id": 1, "sku_id": null, "product_name": "Plain T-Shirt", "style_name": null, "size": null,
             "unit_price": "14.99", "quantity": 2, "line_total": "29.98"},
            {"product_id": 5, "sku_id": null, "product_name": "Cargo Shorts", "style_name": null, "size": null,
             "unit_price": "29.99", "quantity": 1, "line_total": "29.99"},
        ])
    );
    assert!(data["created_at"].is_string() && data["updated_at"].is_string());
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 5).await), (12, 21));
    let cart = app
        .client(Some(&token))
        .request(Method::GET, "/api/cart")
        .await;
    assert_eq!(cart.header("x-data-source"), Some("postgres"));
    assert_eq!(cart.json()["data"]["items"], json!([]));
    // The product documents show the new stock at once.
    assert_eq!(
        app.anon().get("/api/products/1").await.json()["data"]["stock"],
        12
    );

    let list = app
        .client(Some(&token))
        .request(Method::GET, "/api/orders")
        .await;
    assert_eq!(list.header("x-data-source"), Some("postgres"));
    assert_eq!(list.json()["total"], 1);
    let again = app
        .client(Some(&token))
        .request(Method::GET, "/api/orders")
        .await;
    assert_eq!(again.header("x-data-source"), Some("redis"));
    let id = data["id"].as_i64().unwrap();
    let one = app
        .client(Some(&token))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await;
    assert_eq!(one.json()["data"]["total"], "59.97");

    // An empty cart cannot be ordered.
    order(&app, &token, None, None).await.field_error("cart");
    order(&app, &token, Some(json!({})), None)
        .await
        .field_error("cart");
}

#[tokio::test]
async fn an_order_from_items_leaves_the_cart_alone_and_sums_repeated_products() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("bea@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 2, 1).await;
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [
            {"product_id": 4, "quantity": 2}, {"product_id": 4, "quantity": 3}
        ]})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(placed.json()["data"]["items"][0]["quantity"], 5);
    assert_eq!(stock_of(&app, 4).await, 45);
    let cart = app
        .client(Some(&token))
        .request(Method::GET, "/api/cart")
        .await
        .json();
    assert_eq!(cart["data"]["items"].as_array().unwrap().len(), 1);

    // 10 + 5 of a product with 14 in stock: counted once, summed, refused.
    let short = order(&app, &token, Some(json!({"items": [
        {"product_id": 1, "quantity": 10}, {"product_id": 3, "quantity": 13}, {"product_id": 1, "quantity": 5}
    ]})), None).await;
    let problem = short.problem(409);
    assert_eq!(
        problem["lines"],
        json!([
            {"product_id": 1, "sku_id": null, "requested": 15, "available": 14},
            {"product_id": 3, "sku_id": null, "requested": 13, "available": 12},
        ])
    );
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 3).await), (14, 12));
    assert_eq!(app.count("orders").await, 1);
}

#[tokio::test]
async fn items_sent_as_null_are_a_422_and_never_order_the_cart() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("nia@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 1, 2).await;
    order(&app, &token, Some(json!({"items": null})), None)
        .await
        .field_error("items");
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("cart_items").await, 1);
    assert_eq!(stock_of(&app, 1).await, 14);
}

#[tokio::test]
async fn a_line_that_is_no_object_hides_none_of_the_other_lines_errors() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("nell@example.com", Role::Customer).await;
    let body = json!({"items": [
        "x", {"product_id": 1, "quantity": 0}, 7, {"product_id": 999, "quantity": 1}
    ], "expected_total": "abc"});
    let problem = order(&app, &token, Some(body), None).await.problem(422);
    let mut named: Vec<&str> = problem["errors"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    named.sort_unstable();
    assert_eq!(
        named,
        [
            "expected_total",
            "items[0]",
            "items[1].quantity",
            "items[2]",
            "items[3].product_id"
        ],
        "{problem}"
    );
    assert_eq!(
        problem["errors"]["items[0]"],
        json!(["invalid type: string \"x\", expected an object"])
    );
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn hostile_and_malformed_order_bodies_change_nothing() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("cy@example.com", Role::Customer).await;
    for (body, field) in [
        (json!({"items": []}), "items"),
        (
            json!({"items": [{"product_id": 999, "quantity": 1}]}),
            "items[0].product_id",
        ),
        (
            json!({"items": [{"product_id": 1, "quantity": 0}]}),
            "items[0].quantity",
        ),
        (json!({"items": [{"product_id": 1}]}), "items[0].quantity"),
        (
            json!({"items": [{"product_id": 1, "quantity": 1, "unit_price": "0.01"}]}),
            "items[0].unit_price",
        ),
        (
            json!({"items": [{"product_id": 1, "quantity": 1}], "user_id": 1}),
            "user_id",
        ),
        (json!({"items": "everything"}), "items"),
        (
            json!({"items": [{"product_id": 1, "quantity": 2147483647}, {"product_id": 1, "quantity": 1}]}),
            "items[0].quantity",
        ),
    ] {
        order(&app, &token, Some(body), None)
            .await
            .field_error(field);
    }
    let raw = app
        .anon()
        .send(
            Method::POST,
            "/api/orders",
            Some(axum::body::Body::from("{\"items\": [")),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
        )
        .await;
    raw.problem(400);
    let text = app
        .anon()
        .send(
            Method::POST,
            "/api/orders",
            Some(axum::body::Body::from("items=1")),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "text/plain"),
            ],
        )
        .await;
    text.problem(415);
    for key in ["", &"k".repeat(256), "bad key"] {
        order(
            &app,
            &token,
            Some(json!({"items": [{"product_id": 1, "quantity": 1}]})),
            Some(key),
        )
        .await
        .problem(400);
    }
    app.client(None)
        .send_json(Method::POST, "/api/orders", json!({}))
        .await
        .problem(401);
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(stock_of(&app, 1).await, 14);

    // A total that would not fit the money type is a 422, not an overflow.
    let mut conn = app.db().await;
    diesel::sql_query("UPDATE products SET price = 99999999.99, stock = 2147483647 WHERE id = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 2, "quantity": 2}]})),
        None,
    )
    .await
    .field_error("items");
    assert_eq!(stock_of(&app, 2).await, 2147483647);
    // So is a huge quantity times a price (API.md), more than is in stock
    // or not: what the request asks is refused before what the stock
    // allows, whether the order is one call or a transaction (a key).
    for key in [None, Some("huge")] {
        order(
            &app,
            &token,
            Some(json!({"items": [{"product_id": 1, "quantity": 1_000_000_000}]})),
            key,
        )
        .await
        .field_error("items");
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn prices_are_snapshotted_and_deleted_products_leave_orders_intact() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("di@example.com", Role::Customer).await;
    let (_, admin) = app.quick_account("ed@example.com", Role::Admin).await;
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 1, "quantity": 1}]})),
        None,
    )
    .await;
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let changed = app
        .client(Some(&admin))
        .send_json(
            Method::PUT,
            "/api/products/1",
            json!({"price": 50, "product_name": "Renamed"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let seen = app
        .client(Some(&token))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await
        .json();
    assert_eq!(seen["data"]["items"][0]["unit_price"], "14.99");
    assert_eq!(seen["data"]["items"][0]["product_name"], "Plain T-Shirt");
    app.client(Some(&admin))
        .request(Method::DELETE, "/api/products/1")
        .await;
    let after = app
        .client(Some(&token))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await
        .json();
    assert!(after["data"]["items"][0]["product_id"].is_null());
    assert_eq!(after["data"]["total"], "14.99");
}

#[tokio::test]
async fn a_retry_that_cannot_wait_for_its_first_request_is_a_409() {
    use diesel_async::SimpleAsyncConnection;
    // Lock waits end at two thirds of the request timeout: here 1 s.
    let app = TestApp::with_config(|config| {
        config.request_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    app.seed().await;
    let (user_id, token) = app.quick_account("ida@example.com", Role::Customer).await;
    // The first request with the key, still being answered: it holds the
    // key's lock (as `idempotency::replay_or_lock` takes it).
    let lock = xxhash_rust::xxh3::xxh3_64(format!("{user_id}:first-try").as_bytes()) as i64;
    let mut first = app.db().await;
    first
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({lock})"))
        .await
        .unwrap();
    let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let retry = order(&app, &token, Some(body.clone()), Some("first-try")).await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.text());
    assert_eq!(app.count("orders").await, 0);
    first.batch_execute("COMMIT").await.unwrap();
    let again = order(&app, &token, Some(body), Some("first-try")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("flo@example.com", Role::Customer).await;
    let body = json!({"items": [{"product_id": 2, "quantity": 2}]});
    let first = order(&app, &token, Some(body.clone()), Some("order-1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.header("idempotent-replayed").is_none());
    let replay = order(&app, &token, Some(body.clone()), Some("order-1")).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body);
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(stock_of(&app, 2).await, 23);
    // The same key with another body is refused; another user's same key is theirs.
    order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 2, "quantity": 3}]})),
        Some("order-1"),
    )
    .await
    .field_error("Idempotency-Key");
    let (_, other) = app.quick_account("gil@example.com", Role::Customer).await;
    let theirs = order(&app, &other, Some(body.clone()), Some("order-1")).await;
    assert!(theirs.header("idempotent-replayed").is_none());
    assert_eq!(app.count("orders").await, 2);

    // Only a placed order is remembered: after a 409, the same key tries afresh.
    set_stock(&app, 3, 0).await;
    let short = json!({"items": [{"product_id": 3, "quantity": 1}]});
    order(&app, &token, Some(short.clone()), Some("order-2"))
        .await
        .problem(409);
    set_stock(&app, 3, 5).await;
    let retried = order(&app, &token, Some(short), Some("order-2")).await;
    assert_eq!(retried.status, StatusCode::CREATED);
    assert!(retried.header("idempotent-replayed").is_none());
}

/// Keys are kept 24 hours; the server's janitor forgets older ones, which
/// their users may never send again.
#[tokio::test]
async fn expired_idempotency_keys_are_forgotten_and_fresh_ones_kept() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("hal@example.com", Role::Customer).await;
    let body = json!({"items": [{"product_id": 2, "quantity": 1}]});
    for key in ["old", "fresh"] {
        let placed = order(&app, &token, Some(body.clone()), Some(key)).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    }
    app.sql(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .await;
    let forgotten = emporium::idempotency::forget_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(forgotten, 1);
    assert_eq!(
        app.strings("SELECT key FROM idempotency_keys").await,
        ["fresh"]
    );
    assert_eq!(app.count("orders").await, 2);
}

/// A key older than 24 hours is a new key when its user sends it again,
/// even before the janitor has been round: a new order, not the old answer
/// and not a refusal of the key's reuse; a key 23 hours old still replays.
#[tokio::test]
async fn a_key_sent_again_after_24_hours_places_a_new_order() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("ida@example.com", Role::Customer).await;
    let first = json!({"items": [{"product_id": 2, "quantity": 1}]});
    let placed = order(&app, &token, Some(first.clone()), Some("daily")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let first_id = placed.json()["data"]["id"].clone();
    app.sql("UPDATE idempotency_keys SET created_at = now() - interval '23 hours'")
        .await;
    let replayed = order(&app, &token, Some(first.clone()), Some("daily")).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.json()["data"]["id"], first_id);
    app.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .await;
    let other = json!({"items": [{"product_id": 2, "quantity": 2}]});
    let again = order(&app, &token, Some(other), Some("daily")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    assert!(again.header("idempotent-replayed").is_none());
    assert_ne!(again.json()["data"]["id"], first_id);
    assert_eq!(app.count("orders").await, 2);
    assert_eq!(app.count("idempotency_keys").await, 1);
}

/// The admins' list of every order counts as the product lists do: up to
/// 10,000, then says it stopped; a customer's own list is counted exactly.
#[tokio::test]
async fn counting_orders_stops_at_ten_thousand() {
    let app = TestApp::seeded_with_admin().await;
    let (ivy, token) = app.quick_account("ivy@example.com", Role::Customer).await;
    app.sql(&format!(
        "INSERT INTO orders (user_id, status, total) \
         SELECT {ivy}, 'placed', 1 FROM generate_series(1, 10005)"
    ))
    .await;
    let all = app.admin().get("/api/orders?limit=1").await.json();
    assert_eq!(
        (all["total"].clone(), all["total_capped"].clone()),
        (json!(10000), json!(true)),
        "{all}"
    );
    assert_eq!(all["has_next"], true);
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 2, "quantity": 1}]})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let (_, other) = app.quick_account("jo@example.com", Role::Customer).await;
    order(
        &app,
        &other,
        Some(json!({"items": [{"product_id": 2, "quantity": 1}]})),
        None,
    )
    .await;
    let mine = app.user(&other).get("/api/orders").await.json();
    assert_eq!(mine["total"], 1, "{mine}");
    assert!(mine.get("total_capped").is_none(), "{mine}");
}

#[tokio::test]
async fn a_cancellation_never_fails_on_a_stock_that_would_overflow() {
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("max@example.com", Role::Customer).await;
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 2, "quantity": 5}]})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    // Meanwhile an admin sets the stock as high as it goes.
    let restocked = app
        .admin()
        .put("/api/products/2", json!({"stock": i32::MAX}))
        .await;
    assert_eq!(restocked.status, StatusCode::OK, "{}", restocked.text());
    let cancelled = app
        .client(Some(&token))
        .request(Method::POST, &format!("/api/orders/{id}/cancel"))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(stock_of(&app, 2).await, i64::from(i32::MAX));
}

#[tokio::test]
async fn an_admin_demoted_is_never_served_the_order_an_admin_could_read() {
    let app = TestApp::seeded().await;
    let (_, customer) = app.quick_account("cy@example.com", Role::Customer).await;
    let (admin_id, admin) = app.quick_account("ada@example.com", Role::Admin).await;
    let placed = order(
        &app,
        &customer,
        Some(json!({"items": [{"product_id": 1, "quantity": 1}]})),
        None,
    )
    .await;
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let path = format!("/api/orders/{id}");
    // Read twice as an admin: the second answer comes from Redis.
    app.user(&admin).get(&path).await;
    let read = app.user(&admin).get(&path).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.header("x-data-source"), Some("redis"));
    // Demoted (by hand, in the database), the same user sees only their own.
    app.sql(&format!(
        "UPDATE users SET role = 'customer' WHERE id = {admin_id}"
    ))
    .await;
    app.user(&admin).get(&path).await.problem(404);
}

#[tokio::test]
async fn cancelling_puts_the_stock_back_exactly() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("hal@example.com", Role::Customer).await;
    let (_, other) = app.quick_account("ivy@example.com", Role::Customer).await;
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [
            {"product_id": 1, "quantity": 4}, {"product_id": 3, "quantity": 2}
        ]})),
        None,
    )
    .await;
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 3).await), (10, 10));
    // Another user's order: 404 on every route, and nothing changes.
    app.client(Some(&other))
        .request(Method::POST, &format!("/api/orders/{id}/cancel"))
        .await
        .problem(404);
    app.client(Some(&other))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await
        .problem(404);
    assert_eq!(
        app.client(Some(&other))
            .request(Method::GET, "/api/orders")
            .await
            .json()["total"],
        0
    );

    let cancelled = app
        .client(Some(&token))
        .request(Method::POST, &format!("/api/orders/{id}/cancel"))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(cancelled.json()["data"]["status"], "cancelled");
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 3).await), (14, 12));
    app.client(Some(&token))
        .request(Method::POST, &format!("/api/orders/{id}/cancel"))
        .await
        .problem(409);
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 3).await), (14, 12));
    app.client(Some(&token))
        .request(Method::POST, "/api/orders/999/cancel")
        .await
        .problem(404);
    app.client(Some(&token))
        .request(Method::POST, "/api/orders/x/cancel")
        .await
        .problem(400);
}

/// `products` keeps `updated_at` without a trigger (its writers set it):
/// taking stock and putting it back still move it.
#[tokio::test]
async fn taking_and_restoring_stock_moves_the_products_updated_at() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("joy@example.com", Role::Customer).await;
    let updated_at = async || {
        app.anon().get("/api/products/1").await.json()["data"]["updated_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = updated_at().await;
    let placed = order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 1, "quantity": 1}]})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let after_order = updated_at().await;
    assert!(after_order > before, "{after_order} > {before}");
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let cancelled = app
        .client(Some(&token))
        .request(Method::POST, &format!("/api/orders/{id}/cancel"))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    let after_cancel = updated_at().await;
    assert!(after_cancel > after_order, "{after_cancel} > {after_order}");
}

#[tokio::test]
async fn admins_move_orders_through_the_documented_transitions_only() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("joe@example.com", Role::Customer).await;
    let (_, admin) = app.quick_account("kai@example.com", Role::Admin).await;
    let place = || {
        order(
            &app,
            &token,
            Some(json!({"items": [{"product_id": 5, "quantity": 2}]})),
            None,
        )
    };
    let id = place().await.json()["data"]["id"].as_i64().unwrap();
    let path = format!("/api/orders/{id}");
    let patch = |token: String, status: &'static str| {
        let path = path.clone();
        let app = &app;
        async move {
            app.client(Some(&token))
                .send_json(Method::PATCH, &path, json!({"status": status}))
                .await
        }
    };
    patch(token.clone(), "paid").await.problem(403);
    patch(admin.clone(), "shipped").await.problem(409);
    patch(admin.clone(), "refunded").await.field_error("status");
    for status in ["paid", "shipped", "delivered"] {
        let moved = patch(admin.clone(), status).await;
        assert_eq!(moved.json()["data"]["status"], status);
    }
    patch(admin.clone(), "cancelled").await.problem(409);
    patch(admin.clone(), "paid").await.problem(409);
    // The owner may cancel only while placed.
    let second = place().await.json()["data"]["id"].as_i64().unwrap();
    // On the delivered one: still 409, nothing changes.
    patch(admin.clone(), "paid").await.problem(409);
    let paid = app
        .client(Some(&admin))
        .send_json(
            Method::PATCH,
            &format!("/api/orders/{second}"),
            json!({"status": "paid"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text());
    app.client(Some(&token))
        .request(Method::POST, &format!("/api/orders/{second}/cancel"))
        .await
        .problem(409);
    // An admin may cancel a paid order; its stock goes back.
    assert_eq!(stock_of(&app, 5).await, 18);
    let cancelled = app
        .client(Some(&admin))
        .send_json(
            Method::PATCH,
            &format!("/api/orders/{second}"),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(cancelled.json()["data"]["status"], "cancelled");
    assert_eq!(stock_of(&app, 5).await, 20);
    // Admins see everybody's orders; the customer only theirs.
    let all = app
        .client(Some(&admin))
        .request(Method::GET, "/api/orders")
        .await
        .json();
    assert_eq!(all["total"], 2);
    let (_, other) = app.quick_account("lea@example.com", Role::Customer).await;
    let theirs = app
        .client(Some(&other))
        .request(Method::GET, "/api/orders?page=1&limit=5")
        .await
        .json();
    assert_eq!(theirs["total"], 0);
    app.client(Some(&other))
        .request(Method::GET, "/api/orders?limit=500")
        .await
        .field_error("limit");
}

#[tokio::test]
async fn an_admin_may_cancel_any_order_that_can_still_be_cancelled() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("mia@example.com", Role::Customer).await;
    let (_, admin) = app.quick_account("ned@example.com", Role::Admin).await;
    let before = stock_of(&app, 5).await;
    let body = json!({"items": [{"product_id": 5, "quantity": 2}]});
    let placed = order(&app, &token, Some(body), None).await;
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    assert_eq!(stock_of(&app, 5).await, before - 2);
    let cancel = format!("/api/orders/{id}/cancel");
    let cancelled = app
        .client(Some(&admin))
        .request(Method::POST, &cancel)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(cancelled.json()["data"]["status"], "cancelled");
    assert_eq!(
        cancelled.json()["data"]["user_id"],
        placed.json()["data"]["user_id"]
    );
    assert_eq!(stock_of(&app, 5).await, before);
    // Cancelled once is cancelled: a second time is an illegal move.
    app.client(Some(&admin))
        .request(Method::POST, &cancel)
        .await
        .problem(409);
    // Another customer still cannot see it.
    let (_, other) = app.quick_account("ora@example.com", Role::Customer).await;
    app.client(Some(&other))
        .request(Method::POST, &cancel)
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_buyers_racing_for_ten_units_make_ten_orders() {
    let app = Arc::new(TestApp::seeded().await);
    set_stock(&app, 2, 10).await;
    let mut tokens = Vec::new();
    for n in 0..50 {
        tokens.push(
            app.quick_account(&format!("buyer{n}@example.com"), Role::Customer)
                .await
                .1,
        );
    }
    let mut buyers = Vec::new();
    for token in tokens {
        let app = app.clone();
        buyers.push(tokio::spawn(async move {
            order(
                &app,
                &token,
                Some(json!({"items": [{"product_id": 2, "quantity": 1}]})),
                None,
            )
            .await
            .status
        }));
    }
    let mut created = 0;
    for buyer in buyers {
        match buyer.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 10);
    assert_eq!(app.count("orders").await, 10);
    assert_eq!(stock_of(&app, 2).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retries_of_one_key_make_one_order() {
    let app = Arc::new(TestApp::seeded().await);
    let (_, token) = app.quick_account("max@example.com", Role::Customer).await;
    let mut retries = Vec::new();
    for _ in 0..20 {
        let (app, token) = (app.clone(), token.clone());
        retries.push(tokio::spawn(async move {
            let response = order(
                &app,
                &token,
                Some(json!({"items": [{"product_id": 4, "quantity": 3}]})),
                Some("once"),
            )
            .await;
            (
                response.status,
                response.header("idempotent-replayed").is_some(),
                response.json()["data"]["id"].clone(),
            )
        }));
    }
    let mut ids = Vec::new();
    let mut replays = 0;
    for retry in retries {
        let (status, replayed, id) = retry.await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
        replays += usize::from(replayed);
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(replays, 19);
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(stock_of(&app, 4).await, 47);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_checkouts_never_deadlock() {
    let app = Arc::new(TestApp::seeded().await);
    set_stock(&app, 1, 1000).await;
    set_stock(&app, 2, 1000).await;
    let (_, first) = app.quick_account("ned@example.com", Role::Customer).await;
    let (_, second) = app.quick_account("oz@example.com", Role::Customer).await;
    let mut checkouts = Vec::new();
    for round in 0..20 {
        for (token, items) in [
            (
                first.clone(),
                json!([{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 1}]),
            ),
            (
                second.clone(),
                json!([{"product_id": 2, "quantity": 1}, {"product_id": 1, "quantity": 1}]),
            ),
        ] {
            let app = app.clone();
            checkouts.push(tokio::spawn(async move {
                let response = order(&app, &token, Some(json!({"items": items})), None).await;
                (round, response.status, response.text())
            }));
        }
    }
    for checkout in checkouts {
        let (round, status, text) = checkout.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "round {round}: {text}");
    }
    assert_eq!(app.count("orders").await, 40);
    assert_eq!(
        (stock_of(&app, 1).await, stock_of(&app, 2).await),
        (960, 960)
    );
}

#[tokio::test]
async fn an_order_with_the_total_the_shopper_saw_is_placed_and_one_without_is_refused_whole() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("pia@example.com", Role::Customer).await;
    // Plain T-Shirt 14.99, Cargo Shorts 29.99: 2 x 14.99 + 29.99 = 59.97.
    let items = json!([{"product_id": 1, "quantity": 2}, {"product_id": 5, "quantity": 1}]);
    let before = (stock_of(&app, 1).await, stock_of(&app, 5).await);
    let refused = order(
        &app,
        &token,
        Some(json!({"items": items, "expected_total": "59.96"})),
        None,
    )
    .await;
    let problem = refused.problem(409);
    assert_eq!(problem["total"], "59.97");
    assert_eq!(
        problem["lines"],
        json!([
            {"product_id": 1, "sku_id": null, "unit_price": "14.99", "quantity": 2},
            {"product_id": 5, "sku_id": null, "unit_price": "29.99", "quantity": 1},
        ])
    );
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 5).await), before);
    assert_eq!(app.count("orders").await, 0);
    // Its detail writes amounts as every answer does, with two places.
    let round = order(
        &app,
        &token,
        Some(json!({"items": items, "expected_total": 60})),
        None,
    )
    .await;
    assert_eq!(
        round.problem(409)["detail"],
        "the total is 59.97 now, not the expected 60.00; nothing was ordered"
    );
    // The same total written another way is the same total.
    let placed = order(
        &app,
        &token,
        Some(json!({"items": items, "expected_total": 59.970})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(placed.json()["data"]["total"], "59.97");
    let bad = order(
        &app,
        &token,
        Some(json!({"items": items, "expected_total": "-1"})),
        None,
    )
    .await;
    bad.field_error("expected_total");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_price_change_racing_checkout_never_charges_a_total_the_shopper_did_not_see() {
    let app = Arc::new(TestApp::seeded_with_admin().await);
    set_stock(&app, 1, 100_000).await;
    let seen = "14.99";
    let mut shoppers = Vec::new();
    for n in 0..8 {
        let token = app
            .quick_account(&format!("racer{n}@example.com"), Role::Customer)
            .await
            .1;
        let app = app.clone();
        shoppers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..10 {
                let body =
                    json!({"items": [{"product_id": 1, "quantity": 1}], "expected_total": seen});
                let answer = order(&app, &token, Some(body), None).await;
                outcomes.push((answer.status, answer.json()));
            }
            outcomes
        }));
    }
    // Meanwhile the admin moves the price away and back, again and again,
    // until every shopper is done.
    let mut round = 0;
    while !shoppers.iter().all(|shopper| shopper.is_finished()) {
        let price = if round % 2 == 0 { "15.99" } else { seen };
        round += 1;
        let changed = app
            .admin()
            .put("/api/products/1", json!({"price": price}))
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
        tokio::task::yield_now().await;
    }
    let (mut placed, mut refused) = (0, 0);
    for shopper in shoppers {
        for (status, body) in shopper.await.unwrap() {
            match status {
                StatusCode::CREATED => {
                    placed += 1;
                    assert_eq!(body["data"]["total"], seen, "{body}");
                    assert_eq!(body["data"]["items"][0]["unit_price"], seen, "{body}");
                }
                StatusCode::CONFLICT => {
                    refused += 1;
                    assert_eq!(body["total"], "15.99", "{body}");
                }
                other => panic!("{other}: {body}"),
            }
        }
    }
    eprintln!("price race: {placed} placed at the price seen, {refused} refused");
    assert_eq!(placed + refused, 80);
    assert!(
        placed > 0 && refused > 0,
        "the price never changed under a checkout: no race happened"
    );
    // Every placed order took exactly its unit, at the price seen; no refused one took any.
    assert_eq!(stock_of(&app, 1).await, 100_000 - placed);
    assert_eq!(app.count("orders").await, placed);
}

#[tokio::test]
async fn an_order_keeps_its_address_and_number_and_tells_its_history() {
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("quin@example.com", Role::Customer).await;
    let address = json!({
        "name": "Ada Lovelace", "line1": "12 St James's Square", "line2": "Flat 2",
        "city": "London", "postal_code": "SW1Y 4JH", "country": "gb"
    });
    let body = json!({"items": [{"product_id": 2, "quantity": 1}], "shipping_address": address});
    let placed = order(&app, &token, Some(body), None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let data = placed.json()["data"].clone();
    let id = data["id"].as_i64().unwrap();
    assert_eq!(data["number"], format!("EM-{id:06}"));
    assert_eq!(data["shipping_address"]["country"], "GB");
    assert_eq!(data["shipping_address"]["line1"], "12 St James's Square");
    assert_eq!(data["history"].as_array().unwrap().len(), 1);
    assert_eq!(data["history"][0]["status"], "placed");
    assert!(
        data.get("customer").is_none(),
        "a customer's view names no customer"
    );
    for status in ["paid", "shipped"] {
        app.admin()
            .send_json(
                Method::PATCH,
                &format!("/api/orders/{id}"),
                json!({"status": status}),
            )
            .await;
    }
    let read = app
        .user(&token)
        .get(&format!("/api/orders/{id}"))
        .await
        .json();
    let steps: Vec<&str> = read["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["placed", "paid", "shipped"]);
    let times: Vec<&str> = read["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]) && times[0].ends_with('Z'),
        "{times:?}"
    );
    assert_eq!(
        read["data"]["shipping_address"],
        placed.json()["data"]["shipping_address"]
    );
    // An order without an address has none.
    let bare = order(
        &app,
        &token,
        Some(json!({"items": [{"product_id": 2, "quantity": 1}]})),
        None,
    )
    .await;
    assert_eq!(bare.json()["data"]["shipping_address"], Value::Null);
}

#[tokio::test]
async fn a_bad_address_names_every_bad_field_and_orders_nothing() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("ray@example.com", Role::Customer).await;
    let address = json!({"name": "", "line1": "1 Main St", "city": "Springfield\u{7}",
                         "country": "XX", "planet": "Earth"});
    // ... with a line whose product does not exist and one whose quantity
    // is bad: all named in one 422.
    let items = json!([{"product_id": 2, "quantity": 1}, {"product_id": 999, "quantity": 1},
                       {"product_id": 3, "quantity": 0}]);
    let body = json!({"items": items, "shipping_address": address});
    let refused = order(&app, &token, Some(body), None).await;
    let errors = refused.problem(422)["errors"].clone();
    for field in [
        "items[1].product_id",
        "items[2].quantity",
        "shipping_address.name",
        "shipping_address.city",
        "shipping_address.postal_code",
        "shipping_address.country",
        "shipping_address.planet",
    ] {
        assert!(errors.get(field).is_some(), "{field} not named: {errors}");
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn an_order_list_time_postgresql_cannot_store_is_a_422_naming_it() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("tim@example.com", Role::Customer).await;
    // chrono reads signed years of any width; PostgreSQL stores from 4713 BC.
    let far = app
        .user(&token)
        .get("/api/orders?from=-5000-01-01T00:00:00Z&to=%2B10000-01-01T00:00:00Z")
        .await
        .field_error("from");
    assert!(far["errors"].get("to").is_some(), "{far}");
    let edges = "/api/orders?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z";
    assert_eq!(app.user(&token).get(edges).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admins_list_every_order_by_status_customer_and_time_naming_the_customer() {
    let app = TestApp::seeded_with_admin().await;
    let (ann, ann_token) = app.quick_account("ann@example.com", Role::Customer).await;
    let (bo, bo_token) = app.quick_account("bo@example.com", Role::Customer).await;
    let one = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let mut ids = Vec::new();
    for token in [&ann_token, &ann_token, &bo_token] {
        let placed = order(&app, token, Some(one.clone()), None).await;
        ids.push(placed.json()["data"]["id"].as_i64().unwrap());
    }
    app.admin()
        .send_json(
            Method::PATCH,
            &format!("/api/orders/{}", ids[0]),
            json!({"status": "paid"}),
        )
        .await;
    let list = |query: &str| {
        let path = format!("/api/orders{query}");
        let app = &app;
        async move { app.admin().get(&path).await }
    };
    let ids_of = |body: &Value| -> Vec<i64> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| order["id"].as_i64().unwrap())
            .collect()
    };
    let all = list("").await.json();
    assert_eq!(ids_of(&all), [ids[2], ids[1], ids[0]]);
    assert_eq!(
        all["data"][0]["customer"],
        json!({"id": bo, "email": "bo@example.com", "name": "Quick Account"})
    );
    assert_eq!(
        ids_of(&list("?status=placed").await.json()),
        [ids[2], ids[1]]
    );
    assert_eq!(ids_of(&list("?status=paid").await.json()), [ids[0]]);
    assert_eq!(
        ids_of(&list(&format!("?user_id={ann}")).await.json()),
        [ids[1], ids[0]]
    );
    assert_eq!(
        ids_of(&list(&format!("?user_id={ann}&status=placed")).await.json()),
        [ids[1]]
    );
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let (from, to) = (
        (now - hour).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + hour).format("%Y-%m-%dT%H:%M:%SZ"),
    );
    assert_eq!(
        list(&format!("?from={from}&to={to}")).await.json()["total"],
        3
    );
    assert_eq!(list(&format!("?from={to}")).await.json()["total"], 0);
    // A range that ends before it starts is empty, not an error.
    assert_eq!(
        list(&format!("?from={to}&to={from}")).await.json()["total"],
        0
    );
    list("?user_id=0").await.field_error("user_id");
    // A status that is none of the listed ones is a 422 that lists them.
    let unknown = list("?status=lost&user_id=0").await;
    let errors = &unknown.field_error("status")["errors"];
    assert!(
        errors["status"].to_string().contains("placed, paid"),
        "{errors}"
    );
    assert!(errors.get("user_id").is_some(), "{errors}");
    // A customer sees their own, may filter them by status, and may not name another customer.
    let mine = app
        .user(&ann_token)
        .get("/api/orders?status=paid")
        .await
        .json();
    assert_eq!(ids_of(&mine), [ids[0]]);
    assert!(mine["data"][0].get("customer").is_none());
    app.user(&ann_token)
        .get(&format!("/api/orders?user_id={bo}"))
        .await
        .problem(403);
    // A customer's new name shows at once in the admins' (cached) list.
    assert_eq!(list("").await.json()["source"], "redis");
    app.user(&bo_token)
        .put("/api/auth/me", json!({"name": "Bo Renamed"}))
        .await;
    let after = list("").await.json();
    assert_eq!(after["source"], "postgres");
    assert_eq!(after["data"][0]["customer"]["name"], "Bo Renamed");
}

#[tokio::test]
async fn items_that_name_nothing_buyable_are_refused_whole_and_take_nothing() {
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (_, token) = app.quick_account("ivo@example.com", Role::Customer).await;
    let refused = |lines: Value| {
        let app = &app;
        let token = token.clone();
        async move { order(app, &token, Some(json!({ "items": lines })), None).await }
    };
    // Product 1 is sold by SKU (1 and 2); product 3 is not.
    refused(json!([{"product_id": 3, "quantity": 1}, {"product_id": 1, "quantity": 1}]))
        .await
        .field_error("items[1].sku_id");
    refused(json!([{"product_id": 2, "sku_id": 1, "quantity": 1}]))
        .await
        .field_error("items[0].sku_id");
    refused(json!([{"product_id": 1, "sku_id": 99, "quantity": 1}]))
        .await
        .field_error("items[0].sku_id");
    refused(json!([{"product_id": 3, "quantity": 1}, {"product_id": 999, "quantity": 1}]))
        .await
        .field_error("items[1].product_id");
    assert_eq!(
        (
            stock_of(&app, 1).await,
            stock_of(&app, 2).await,
            stock_of(&app, 3).await
        ),
        (14, 25, 12)
    );
    assert_eq!(app.count("orders").await, 0);
    // Its own SKU is bought, and the product's stock follows.
    let placed = refused(json!([{"product_id": 1, "sku_id": 2, "quantity": 3}])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(placed.json()["data"]["items"][0]["unit_price"], "12.50");
    assert_eq!(stock_of(&app, 1).await, 11);
}

#[tokio::test]
async fn a_line_naming_another_products_sku_waits_for_no_lock_of_that_product() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded().await);
    crate::cart::make_sku_product(&app).await;
    let (_, token) = app.quick_account("ines@example.com", Role::Customer).await;
    // A cancellation of an order of product 1's SKU 1 holds product 1 and
    // is about to lock the SKU (products first, then SKUs: `restore`).
    let mut cancelling = holding_the_row_of(&app, 1).await;
    // Product 2 with product 1's SKU, in a transaction (`expected_total`).
    let placing = ordering(
        &app,
        &token,
        Some(json!({
            "items": [{"product_id": 2, "sku_id": 1, "quantity": 1}],
            "expected_total": "20.00",
        })),
        None,
    );
    // It is refused without waiting for product 1 while holding the SKU
    // (a cycle with the cancellation, which one of them loses as a 503).
    let waiting = "pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";
    while !placing.is_finished() && app.count(waiting).await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(placing.is_finished(), "the order waits for product 1");
    cancelling
        .batch_execute("SELECT 1 FROM skus WHERE id = 1 FOR UPDATE; COMMIT")
        .await
        .unwrap();
    placing.await.unwrap().field_error("items[0].sku_id");
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 2).await), (14, 25));
    assert_eq!(app.count("orders").await, 0);
}

/// What `CALL place_plain_order` answered, and whether it committed.
#[derive(diesel::QueryableByName, Debug)]
struct AtOnce {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Int4>>)]
    short_lines: Option<Vec<i32>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int4>)]
    order_id: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    unbuyable: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    would_empty: Option<bool>,
}

#[tokio::test]
async fn the_order_placed_in_one_call_commits_only_a_whole_order_that_leaves_stock() {
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (buyer, _) = app.quick_account("ola@example.com", Role::Customer).await;
    set_stock(&app, 3, 2).await;
    let mut conn = app.db().await;
    let mut call = async |product: i32, sku: Option<i32>, quantity: i32| -> AtOnce {
        diesel::sql_query(
            "CALL place_plain_order($1, NULL, ARRAY[$2], ARRAY[$3], ARRAY[$4], \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        .bind::<diesel::sql_types::Int4, _>(buyer)
        .bind::<diesel::sql_types::Int4, _>(product)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Int4>, _>(sku)
        .bind::<diesel::sql_types::Int4, _>(quantity)
        .get_result(&mut conn)
        .await
        .unwrap()
    };
    // More than is left, the last units, and a line that names nothing
    // buyable: nothing is taken or written.
    let short = call(3, None, 3).await;
    assert_eq!((short.short_lines, short.order_id), (Some(vec![1]), None));
    let last = call(3, None, 2).await;
    assert_eq!((last.would_empty, last.order_id), (Some(true), None));
    let unbuyable = call(1, None, 1).await;
    assert_eq!(
        (unbuyable.unbuyable, unbuyable.order_id),
        (Some(true), None)
    );
    let not_its_sku = call(2, Some(1), 1).await;
    assert_eq!(not_its_sku.unbuyable, Some(true));
    assert_eq!((stock_of(&app, 3).await, stock_of(&app, 1).await), (2, 14));
    assert_eq!(app.count("orders").await, 0);
    // A whole order that leaves stock is committed: another connection sees
    // it while this one is still open, and this one is in no transaction.
    let placed = call(3, None, 1).await;
    assert!(placed.order_id.is_some(), "{placed:?}");
    let by_sku = call(1, Some(1), 3).await;
    assert!(by_sku.order_id.is_some(), "{by_sku:?}");
    assert_eq!((stock_of(&app, 3).await, stock_of(&app, 1).await), (1, 11));
    assert_eq!(app.count("orders").await, 2);
    diesel::sql_query("ROLLBACK")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.count("orders").await, 2);
}

/// All that `CALL place_plain_order` answers.
#[derive(diesel::QueryableByName, Debug)]
struct PlainAnswer {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Int4>>)]
    short_lines: Option<Vec<i32>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Int4>>)]
    short_available: Option<Vec<i32>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int4>)]
    order_id: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Numeric>>)]
    unit_prices: Option<Vec<rust_decimal::Decimal>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    unbuyable: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Text>>>)]
    product_names: Option<Vec<Option<String>>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Text>>>)]
    style_names: Option<Vec<Option<String>>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Text>>>)]
    sizes: Option<Vec<Option<String>>>,
}

#[tokio::test]
async fn an_order_of_products_in_one_call_decides_a_line_it_could_not_take_as_a_transaction_would()
{
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (buyer, _) = app.quick_account("oda@example.com", Role::Customer).await;
    set_stock(&app, 3, 10).await;
    set_stock(&app, 4, 10).await;
    let mut conn = app.db().await;
    let mut call = async |products: Vec<i32>, quantities: Vec<i32>| -> PlainAnswer {
        diesel::sql_query(
            "CALL place_plain_order($1, NULL, $2, array_fill(NULL::int, ARRAY[cardinality($2)]), $3, \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        .bind::<diesel::sql_types::Int4, _>(buyer)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Int4>, _>(products)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Int4>, _>(quantities)
        .get_result(&mut conn)
        .await
        .unwrap()
    };
    // The second line is short, names nothing, or names a product sold by
    // SKU; or a quantity has no line: the first line's stock is not taken,
    // and the answer names the line and what is left of it.
    let short = call(vec![3, 4], vec![1, 11]).await;
    assert_eq!(
        (short.short_lines, short.short_available, short.order_id),
        (Some(vec![2]), Some(vec![10]), None)
    );
    let unbuyable = call(vec![3, 1], vec![1, 1]).await;
    assert_eq!(
        (unbuyable.unbuyable, unbuyable.order_id),
        (Some(true), None)
    );
    let missing = call(vec![3, 2_147_483_647], vec![1, 1]).await;
    assert_eq!(
        (missing.short_lines, missing.order_id),
        (Some(vec![2]), None)
    );
    let no_line = call(vec![3], vec![1, 5]).await;
    assert_eq!(
        (no_line.short_lines, no_line.order_id),
        (Some(vec![2]), None)
    );
    assert_eq!((stock_of(&app, 3).await, stock_of(&app, 4).await), (10, 10));
    assert_eq!(app.count("orders").await, 0);
    // A product named twice is taken twice, two lines of one order.
    let twice = call(vec![3, 3], vec![2, 3]).await;
    assert!(twice.order_id.is_some(), "{twice:?}");
    assert_eq!(stock_of(&app, 3).await, 5);
    assert_eq!(app.count("order_lines").await, 2);
    // Two products: each line as sent, in its order, and no line short.
    let both = call(vec![4, 3], vec![1, 2]).await;
    assert_eq!(
        (both.short_lines, both.short_available),
        (Some(vec![]), Some(vec![]))
    );
    let names = |names: &[&str]| Some(names.iter().map(|name| Some(name.to_string())).collect());
    assert_eq!(
        both.product_names,
        names(&[
            "Top 40 Music Compilation Vinyl Record",
            "Branded Baseball Hat"
        ])
    );
    assert_eq!(
        both.unit_prices,
        Some(vec![
            rust_decimal::Decimal::new(1299, 2),
            rust_decimal::Decimal::new(2299, 2)
        ])
    );
    assert_eq!(
        (both.style_names, both.sizes),
        (Some(vec![None, None]), Some(vec![None, None]))
    );
    let stored = app
        .strings(&format!(
            "SELECT product_id || ' ' || quantity FROM order_lines WHERE order_id = {} ORDER BY id",
            both.order_id.expect("placed")
        ))
        .await;
    assert_eq!(stored, ["4 1", "3 2"]);
    assert_eq!((stock_of(&app, 3).await, stock_of(&app, 4).await), (3, 9));
    assert_eq!(app.count("orders").await, 2);
}

#[tokio::test]
async fn an_order_naming_a_product_sold_by_sku_without_its_sku_is_refused_without_waiting_for_the_product()
 {
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (buyer, _) = app.quick_account("ode@example.com", Role::Customer).await;
    // A cancellation of a SKU order holds product 1.
    let holder = holding_the_row_of(&app, 1).await;
    let mut conn = app.db().await;
    let call = diesel::sql_query(
        "CALL place_plain_order($1, NULL, ARRAY[1], ARRAY[NULL]::int[], ARRAY[1], \
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .bind::<diesel::sql_types::Int4, _>(buyer)
    .get_result::<AtOnce>(&mut conn);
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), call)
        .await
        .expect("the refusal waits for nobody")
        .unwrap();
    assert_eq!((answered.unbuyable, answered.order_id), (Some(true), None));
    drop(holder);
}

#[tokio::test]
async fn a_server_of_the_release_before_still_places_orders_during_a_deploy() {
    let app = TestApp::seeded().await;
    let (buyer, _) = app.quick_account("rui@example.com", Role::Customer).await;
    let mut conn = app.db().await;
    // The procedure as that release calls it (eight answers), and the
    // function its transactions call (seven).
    let placed: AtOnce = diesel::sql_query(
        "CALL place_order_at_once($1, NULL, ARRAY[3], ARRAY[NULL]::int[], ARRAY[2], \
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .bind::<diesel::sql_types::Int4, _>(buyer)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(placed.order_id.is_some(), "{placed:?}");
    #[derive(diesel::QueryableByName, Debug)]
    struct Placed {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int4>)]
        order_id: Option<i32>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Numeric>>)]
        unit_prices: Option<Vec<rust_decimal::Decimal>>,
    }
    let in_a_transaction: Placed = diesel::sql_query(
        "SELECT * FROM place_order($1, NULL, ARRAY[3], ARRAY[NULL]::int[], ARRAY[1])",
    )
    .bind::<diesel::sql_types::Int4, _>(buyer)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(in_a_transaction.order_id.is_some(), "{in_a_transaction:?}");
    assert_eq!(
        in_a_transaction.unit_prices,
        Some(vec![rust_decimal::Decimal::new(2299, 2)])
    );
    assert_eq!(stock_of(&app, 3).await, 9);
    assert_eq!(app.count("order_lines").await, 2);
}

/// Places `items` for `token`, checks that the order answered is the order
/// stored, and gives each of its lines as `[product_id, product_name,
/// sku_id, style_name, size, unit_price, quantity]`, and its total.
async fn placed_as_stored(app: &TestApp, token: &str, items: Value) -> (Vec<Value>, Value) {
    let placed = order(app, token, Some(json!({ "items": items })), None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let answered = placed.json()["data"].clone();
    let id = answered["id"].as_i64().unwrap();
    let stored = app
        .client(Some(token))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await
        .json()["data"]
        .clone();
    assert_eq!(answered, stored);
    let lines = answered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            json!([
                line["product_id"],
                line["product_name"],
                line["sku_id"],
                line["style_name"],
                line["size"],
                line["unit_price"],
                line["quantity"]
            ])
        })
        .collect();
    (lines, answered["total"].clone())
}

#[tokio::test]
async fn a_plain_order_answers_its_lines_as_they_are_stored() {
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (_, token) = app.quick_account("pia@example.com", Role::Customer).await;
    // Two lines that name one SKU are one line of the order; a product sold
    // without SKUs has no style or size.
    let items = json!([
        {"product_id": 3, "quantity": 2},
        {"product_id": 1, "sku_id": 2, "quantity": 1},
        {"product_id": 1, "sku_id": 2, "quantity": 2},
    ]);
    let (lines, _) = placed_as_stored(&app, &token, items).await;
    assert_eq!(
        lines,
        vec![
            json!([1, "Plain T-Shirt", 2, "Red", "L", "12.50", 3]),
            json!([3, "Branded Baseball Hat", null, null, null, "22.99", 2]),
        ]
    );
}

#[tokio::test]
async fn a_plain_order_of_products_answers_its_lines_as_they_are_stored() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("pim@example.com", Role::Customer).await;
    let items = json!([
        {"product_id": 4, "quantity": 1},
        {"product_id": 3, "quantity": 2},
    ]);
    let (lines, total) = placed_as_stored(&app, &token, items).await;
    assert_eq!(
        lines,
        vec![
            json!([3, "Branded Baseball Hat", null, null, null, "22.99", 2]),
            json!([
                4,
                "Top 40 Music Compilation Vinyl Record",
                null,
                null,
                null,
                "12.99",
                1
            ]),
        ]
    );
    assert_eq!(total, "58.97");
}

#[tokio::test]
async fn a_plain_order_given_up_while_it_waits_leaves_no_stale_document_behind() {
    use diesel_async::SimpleAsyncConnection;
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("una@example.com", Role::Customer).await;
    let detail = "/api/products/4";
    app.anon().get(detail).await;
    assert_eq!(app.anon().get(detail).await.json()["source"], "redis");
    // Another writer holds the product's row.
    let mut holder = holding_the_row_of(&app, 4).await;
    let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let placing = order(&app, &token, Some(body), None);
    // The buyer gives up while the order waits for the row...
    tokio::select! {
        answer = placing => panic!("the order did not wait for the row: {}", answer.text()),
        () = until_one_waits_for_a_lock(&app) => {}
    }
    // ... and a reader loads the product meanwhile, before any commit.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.anon().get(detail).await.json()["data"]["stock"], 50);
    holder.batch_execute("COMMIT").await.unwrap();
    // The order goes through once the row is free (its buyer will find it
    // in their orders), and no read shows the stock from before it.
    let mut waited = 0;
    while app.count("orders").await == 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(app.count("orders").await, 1);
    for _ in 0..2 {
        let read = app.anon().get(detail).await.json();
        assert_eq!(read["data"]["stock"], 49, "{read}");
    }
}

#[tokio::test]
async fn an_order_given_up_while_it_commits_leaves_no_stale_document_behind() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("ula@example.com", Role::Customer).await;
    let detail = "/api/products/4";
    app.anon().get(detail).await;
    assert_eq!(app.anon().get(detail).await.json()["source"], "redis");
    // Every commit of an order takes a second (a deferred trigger sleeps).
    app.slow_commits_on("orders", "INSERT").await;
    // An order in a transaction of its own (it has a key), given up by its
    // buyer while its COMMIT is on its way...
    let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let placing = order(&app, &token, Some(body), Some("slow-commit"));
    tokio::select! {
        answer = placing => panic!("the order did not wait for its commit: {}", answer.text()),
        () = app.until_a_commit_sleeps() => {}
    }
    // ... and a reader loads the product meanwhile, before the commit lands.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.anon().get(detail).await.json()["data"]["stock"], 50);
    // The order is placed, and no read shows the stock from before it.
    let mut waited = 0;
    while app.count("orders").await == 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(app.count("orders").await, 1);
    for _ in 0..2 {
        let read = app.anon().get(detail).await.json();
        assert_eq!(read["data"]["stock"], 49, "{read}");
    }
}

#[tokio::test]
async fn an_order_that_takes_a_products_last_units_is_placed_once_and_leaves_the_in_stock_lists() {
    let app = TestApp::seeded().await;
    crate::cart::make_sku_product(&app).await;
    let (_, token) = app.quick_account("vic@example.com", Role::Customer).await;
    let in_stock = "/api/products?inStock=true&limit=100";
    let listed = |response: TestResponse| -> Vec<i64> {
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|product| product["id"].as_i64().unwrap())
            .collect()
    };
    let before = listed(app.anon().get(in_stock).await);
    assert!(before.contains(&1) && before.contains(&5), "{before:?}");
    // A page after product 1 that shows none of the products ordered, cached.
    let second_page = "/api/products?inStock=true&limit=2&page=2";
    app.anon().get(second_page).await;
    let cached = app.anon().get(second_page).await;
    assert_eq!(cached.json()["source"], "redis");
    // Product 5's last units on the second line; product 1's through both
    // of its SKUs.
    for lines in [
        json!([{"product_id": 2, "quantity": 1}, {"product_id": 5, "quantity": 22}]),
        json!([{"product_id": 1, "sku_id": 1, "quantity": 4}, {"product_id": 1, "sku_id": 2, "quantity": 10}]),
    ] {
        let placed = order(&app, &token, Some(json!({ "items": lines })), None).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    }
    assert_eq!(app.count("orders").await, 2);
    assert_eq!(
        (
            stock_of(&app, 2).await,
            stock_of(&app, 5).await,
            stock_of(&app, 1).await
        ),
        (24, 0, 0)
    );
    let after = listed(app.anon().get(in_stock).await);
    assert!(!after.contains(&1) && !after.contains(&5), "{after:?}");
    assert!(after.contains(&3));
    // Its members moved up by one: the page is not served as it was.
    assert_eq!(listed(app.anon().get(second_page).await), after[2..]);
}

#[tokio::test]
async fn a_plain_order_that_waits_too_long_for_a_lock_is_a_503_and_orders_nothing() {
    use diesel_async::SimpleAsyncConnection;
    // Lock waits end at two thirds of the request timeout: here 1 s.
    let app = TestApp::with_config(|config| {
        config.request_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    app.seed().await;
    let (_, token) = app.quick_account("wes@example.com", Role::Customer).await;
    let mut holder = holding_the_row_of(&app, 4).await;
    let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let refused = order(&app, &token, Some(body), None).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    assert!(refused.header("retry-after").is_some());
    holder.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(stock_of(&app, 4).await, 50);
}

#[tokio::test]
async fn a_plain_order_waiting_for_one_lock_after_another_ends_before_its_timeout() {
    use diesel_async::SimpleAsyncConnection;
    // Lock waits end at two thirds of the request timeout, all together:
    // here 1 s from the call's start.
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.request_timeout = std::time::Duration::from_millis(1500);
        })
        .await,
    );
    app.seed().await;
    let (_, token) = app.quick_account("wyn@example.com", Role::Customer).await;
    // Two slow writers: one lets product 1 go at 0.7 s, the other product
    // 4 at 1.6 s. Each wait alone is shorter than a second; together they
    // end past the request's timeout (1.5 s), where the order would commit
    // after its client was answered 503.
    let mut first = holding_the_row_of(&app, 1).await;
    let mut second = holding_the_row_of(&app, 4).await;
    let body =
        json!({"items": [{"product_id": 1, "quantity": 1}, {"product_id": 4, "quantity": 1}]});
    let ordering = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { order(&app, &token, Some(body), None).await })
    };
    until_one_waits_for_a_lock(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    first.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(880)).await;
    second.batch_execute("COMMIT").await.unwrap();
    let refused = ordering.await.unwrap();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    // Told to retry, the client must find that nothing was ordered, even
    // once every lock is free.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.count("orders").await, 0);
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 4).await), (14, 50));
}

#[tokio::test]
async fn an_order_in_a_transaction_that_finishes_too_late_to_commit_in_time_is_not_placed() {
    use diesel_async::SimpleAsyncConnection;
    // Commits may begin until a tenth of the request timeout (5 s) is left.
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.request_timeout = std::time::Duration::from_secs(5);
        })
        .await,
    );
    app.seed().await;
    let (_, token) = app.quick_account("xia@example.com", Role::Customer).await;
    // Its commit takes a second (a deferred trigger), as a stalled disk's may.
    app.slow_commits_on("orders", "INSERT").await;
    // Two slow writers: product 1 free at 2.2 s, product 4 at 4.85 s; each
    // wait alone shorter than the lock timeout (3.3 s). The transaction's
    // work then ends at 4.85 s (at most: the request arrived after `started`):
    // a commit begun then would land after the 503 at 5 s.
    let mut first = holding_the_row_of(&app, 1).await;
    let mut second = holding_the_row_of(&app, 4).await;
    let body =
        json!({"items": [{"product_id": 1, "quantity": 1}, {"product_id": 4, "quantity": 1}]});
    let started = std::time::Instant::now();
    let ordering = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { order(&app, &token, Some(body), Some("late-1")).await })
    };
    until_one_waits_for_a_lock(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(2200).saturating_sub(started.elapsed()))
        .await;
    first.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(4850).saturating_sub(started.elapsed()))
        .await;
    second.batch_execute("COMMIT").await.unwrap();
    let refused = ordering.await.unwrap();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    // Told to retry, the client must find that nothing was ordered.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.count("orders").await, 0);
    assert_eq!((stock_of(&app, 1).await, stock_of(&app, 4).await), (14, 50));
}

#[tokio::test]
async fn a_plain_order_that_would_start_too_late_to_wait_for_its_locks_is_not_placed() {
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.request_timeout = std::time::Duration::from_secs(6);
            config.database_pool_size = 1;
        })
        .await,
    );
    app.seed().await;
    let (_, token) = app.quick_account("zed@example.com", Role::Customer).await;
    // A call may start until 1.4 s after the request came (its locks may
    // take 4 s, and 0.6 s is kept to spare). The pool's only connection is
    // busy for 2 s: the call could then start only too late.
    let state = app.state.clone();
    let busy = state.conn().await.unwrap();
    let ordering = {
        let (app, token) = (app.clone(), token.clone());
        let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
        tokio::spawn(async move { order(&app, &token, Some(body), None).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    drop(busy);
    let refused = ordering.await.unwrap();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    assert!(refused.header("retry-after").is_some());
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(stock_of(&app, 4).await, 50);
    // With the pool free again, the same order is placed.
    let body = json!({"items": [{"product_id": 4, "quantity": 1}]});
    let placed = order(&app, &token, Some(body), None).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
}

#[tokio::test]
async fn an_order_retires_the_pages_that_show_its_product_and_leaves_their_count() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("xan@example.com", Role::Customer).await;
    let all = "/api/products?limit=100";
    let in_stock = "/api/products?inStock=true&limit=100";
    let stock_listed = |page: &Value, id: i64| -> Value {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|product| product["id"] == id)
            .map(|product| product["stock"].clone())
            .unwrap()
    };
    let listed = app.anon().get(all).await.json();
    let total = listed["total"].as_i64().unwrap();
    let in_stock_total = app.anon().get(in_stock).await.json()["total"]
        .as_i64()
        .unwrap();
    let counts = app.state.cache.stats().of("products-total");
    let counted = || AtomicU64::load(&counts.misses, Ordering::Relaxed);
    assert_eq!(counted(), 2);

    // The page shows product 2's stock: it is loaded again, with its count
    // as it was kept.
    let one = json!({"items": [{"product_id": 2, "quantity": 1}]});
    assert_eq!(
        order(&app, &token, Some(one), None).await.status,
        StatusCode::CREATED
    );
    let again = app.anon().get(all).await.json();
    assert_eq!(again["source"], "postgres");
    assert_eq!(
        stock_listed(&again, 2),
        stock_listed(&listed, 2).as_i64().unwrap() - 1
    );
    assert_eq!(again["total"], total);
    assert_eq!(counted(), 2);

    // The last units of product 5: the inStock lists lose it, and are
    // counted again.
    let last = stock_of(&app, 5).await;
    let all_of_it = json!({"items": [{"product_id": 5, "quantity": last}]});
    assert_eq!(
        order(&app, &token, Some(all_of_it), None).await.status,
        StatusCode::CREATED
    );
    let emptied = app.anon().get(in_stock).await.json();
    assert_eq!(emptied["total"], in_stock_total - 1);
    assert_eq!(counted(), 3);
    assert_eq!(app.anon().get(all).await.json()["total"], total);

    // A new product is in every count at once.
    app.create_product(json!({"product_name": "Scarf", "price": 12, "stock": 3}))
        .await;
    assert_eq!(app.anon().get(all).await.json()["total"], total + 1);
    assert_eq!(
        app.anon().get(in_stock).await.json()["total"],
        in_stock_total
    );
}

/// Waits until a request of this test's database waits for a row's lock.
pub async fn until_one_waits_for_a_lock(app: &TestApp) {
    until_waiting_for_locks(app, 1).await;
}

/// Returns once `count` sessions of this test's database wait for a lock
/// (five seconds at most, else the test fails).
async fn until_waiting_for_locks(app: &TestApp, count: i64) {
    let waiting = "pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";
    for _ in 0..500 {
        if app.count(waiting).await >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "{} waited for a lock, not {count}",
        app.count(waiting).await
    );
}

/// `POST /api/orders` in a task of its own (see [`order`]).
fn ordering(
    app: &Arc<TestApp>,
    token: &str,
    body: Option<Value>,
    key: Option<&'static str>,
) -> tokio::task::JoinHandle<TestResponse> {
    let (app, token) = (app.clone(), token.to_owned());
    tokio::spawn(async move { order(&app, &token, body, key).await })
}

/// A connection in a transaction that has run `statement` (its locks held
/// until it commits).
pub async fn holding(app: &TestApp, statement: &str) -> diesel_async::AsyncPgConnection {
    use diesel_async::SimpleAsyncConnection;
    let mut holder = app.db().await;
    holder
        .batch_execute(&format!("BEGIN; {statement}"))
        .await
        .unwrap();
    holder
}

#[tokio::test]
async fn a_line_added_to_the_cart_while_the_cart_is_ordered_stays_in_the_cart() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded().await);
    let (_, token) = app.quick_account("cal@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 4, 1).await;
    // The checkout locks the cart's line, then waits for product 4's row.
    let mut holder = holding_the_row_of(&app, 4).await;
    let checkout = ordering(&app, &token, None, None);
    until_one_waits_for_a_lock(&app).await;
    // Meanwhile, from another tab: a line the checkout never saw.
    add_to_cart(&app, &token, 5, 2).await;
    holder.batch_execute("COMMIT").await.unwrap();
    let placed = checkout.await.unwrap();
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let ordered: Vec<i64> = placed.json()["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["product_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ordered, [4]);
    let cart = app
        .client(Some(&token))
        .request(Method::GET, "/api/cart")
        .await
        .json();
    let kept: Vec<(i64, i64)> = cart["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["product_id"].as_i64().unwrap(),
                line["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kept, [(5, 2)], "{cart}");
}

/// The cart's total fits the money type at the prices its checkout reads;
/// a price raised while the checkout waits for that product's row makes the
/// total it locks too large: the same 422 as a total too large to begin
/// with, nothing ordered (it was a 500 from PostgreSQL's numeric overflow).
#[tokio::test]
async fn a_price_raised_while_the_cart_is_ordered_past_what_a_total_can_hold_is_a_422() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded().await);
    app.sql(
        "UPDATE products SET price = 50000000.00 WHERE id = 4; \
         UPDATE products SET price = 49999999.99 WHERE id = 5",
    )
    .await;
    let (_, token) = app.quick_account("vi@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 4, 1).await;
    add_to_cart(&app, &token, 5, 1).await;
    let mut admin = holding(&app, "UPDATE products SET price = 50000000.01 WHERE id = 4").await;
    let checkout = ordering(&app, &token, None, None);
    until_one_waits_for_a_lock(&app).await;
    admin.batch_execute("COMMIT").await.unwrap();
    checkout.await.unwrap().field_error("cart");
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("cart_items").await, 2);
}

/// A product renamed while its checkout waits for the product's row: the
/// order is written under the new name, and its 201 says what was written,
/// as `GET /api/orders/:id` (and a replay of its key) does.
#[tokio::test]
async fn an_order_placed_across_a_rename_answers_the_name_it_stored() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded().await);
    let (_, token) = app.quick_account("wu@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 4, 1).await;
    let mut admin = holding(
        &app,
        "UPDATE products SET product_name = 'Renamed' WHERE id = 4",
    )
    .await;
    let checkout = ordering(&app, &token, None, Some("across-a-rename"));
    until_one_waits_for_a_lock(&app).await;
    admin.batch_execute("COMMIT").await.unwrap();
    let placed = checkout.await.unwrap();
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let stored = app
        .client(Some(&token))
        .request(Method::GET, &format!("/api/orders/{id}"))
        .await
        .json();
    assert_eq!(stored["data"]["items"][0]["product_name"], "Renamed");
    assert_eq!(placed.json()["data"]["items"], stored["data"]["items"]);
}

/// A checkout of a cart holding a product, and the product's deletion, at
/// once: the checkout holds the cart's line and waits its turn for the
/// product (its queue held here), the deletion comes meanwhile. Both go
/// through, one after the other (they deadlocked, and one was a 503).
#[tokio::test]
async fn a_product_deleted_while_a_cart_holding_it_is_ordered_waits_its_turn() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded_with_admin().await);
    let (_, token) = app.quick_account("xi@example.com", Role::Customer).await;
    add_to_cart(&app, &token, 4, 1).await;
    let mut queue = holding(&app, "SELECT pg_advisory_xact_lock(1, 4)").await;
    let checkout = ordering(&app, &token, None, None);
    until_one_waits_for_a_lock(&app).await;
    let deletion = {
        let app = app.clone();
        tokio::spawn(async move { app.admin().delete("/api/products/4").await })
    };
    until_waiting_for_locks(&app, 2).await;
    queue.batch_execute("COMMIT").await.unwrap();
    let placed = checkout.await.unwrap();
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let deleted = deletion.await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert_eq!(app.count("products WHERE id = 4").await, 0);
    assert_eq!(app.count("order_lines WHERE product_id IS NULL").await, 1);
}

/// A category deleted while an order of two of its products is placed:
/// the deletion takes its products' rows in id order, as a checkout does,
/// so neither waits for the other in a circle (it took them in the order
/// it came across them, and a trigger holding it after the first of them
/// here made it deadlock with the checkout: one of them was a 503).
/// The admin's deletion of `category`, in a task of its own.
fn deleting_category(
    app: &Arc<TestApp>,
    category: impl std::fmt::Display + Send + 'static,
) -> tokio::task::JoinHandle<TestResponse> {
    let app = app.clone();
    tokio::spawn(async move {
        app.admin()
            .delete(&format!("/api/categories/{category}"))
            .await
    })
}

/// An order of one each of products 4 and 5, in a task of its own.
fn ordering_4_and_5(app: &Arc<TestApp>, token: &str) -> tokio::task::JoinHandle<TestResponse> {
    let items =
        json!({"items": [{"product_id": 4, "quantity": 1}, {"product_id": 5, "quantity": 1}]});
    ordering(app, token, Some(items), None)
}

/// A category's deletion and a checkout of two of its products both went
/// through, and both products lost the category.
async fn both_went_through(
    app: &TestApp,
    deletion: tokio::task::JoinHandle<TestResponse>,
    checkout: tokio::task::JoinHandle<TestResponse>,
) {
    let deleted = deletion.await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    let placed = checkout.await.unwrap();
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(
        app.count("products WHERE category_id IS NULL AND id IN (4, 5)")
            .await,
        2
    );
}

#[tokio::test]
async fn a_category_deleted_while_a_product_joins_it_and_both_are_ordered_waits_its_turn() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded_with_admin().await);
    let category = app.create_category("Robes").await;
    // The deletion's own row is held at a gate, so that the checkout below
    // may take product 4 between the joining product's commit and the
    // deletion's change of its members.
    app.sql(&format!(
        "UPDATE products SET category_id = {category} WHERE id = 5; \
         CREATE FUNCTION gate_category_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           PERFORM pg_advisory_xact_lock(4244); RETURN OLD; END $$; \
         CREATE TRIGGER gate_category_delete BEFORE DELETE ON categories \
           FOR EACH ROW EXECUTE FUNCTION gate_category_delete()"
    ))
    .await;
    let (_, token) = app.quick_account("zed@example.com", Role::Customer).await;
    let mut gate = app.db().await;
    gate.batch_execute("SELECT pg_advisory_lock(4244)")
        .await
        .unwrap();
    // Product 4 joins the category, not committed yet: its key check holds
    // the category's row.
    let mut joining = app.db().await;
    joining
        .batch_execute(&format!(
            "BEGIN; UPDATE products SET category_id = {category} WHERE id = 4"
        ))
        .await
        .unwrap();
    let deletion = deleting_category(&app, category);
    until_one_waits_for_a_lock(&app).await;
    // A checkout of both waits for product 4's row.
    let checkout = ordering_4_and_5(&app, &token);
    until_waiting_for_locks(&app, 2).await;
    joining.batch_execute("COMMIT").await.unwrap();
    // The deletion reaches its gate; the checkout has product 4 and waits,
    // or is done.
    let at_gate = "pg_locks WHERE locktype = 'advisory' AND objid = 4244 AND NOT granted";
    let waiting = "pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";
    for attempt in 0.. {
        let gated = app.count(at_gate).await == 1;
        if gated && (app.count(waiting).await >= 2 || checkout.is_finished()) {
            break;
        }
        assert!(attempt < 500, "the deletion never reached its gate");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    gate.batch_execute("SELECT pg_advisory_unlock(4244)")
        .await
        .unwrap();
    both_went_through(&app, deletion, checkout).await;
}

#[tokio::test]
async fn a_category_deleted_while_two_of_its_products_are_ordered_waits_its_turn() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(TestApp::seeded_with_admin().await);
    let category = app.create_category("Doomed").await;
    // Product 4's row comes after product 5's, where the deletion looks.
    app.sql(&format!(
        "UPDATE products SET category_id = {category} WHERE id = 5; \
         UPDATE products SET category_id = {category} WHERE id = 4; \
         CREATE FUNCTION hold_at_five() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.id = 5 AND NEW.category_id IS NULL THEN PERFORM pg_advisory_xact_lock(4243); END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER hold_at_five BEFORE UPDATE ON products \
           FOR EACH ROW EXECUTE FUNCTION hold_at_five()"
    ))
    .await;
    let (_, token) = app.quick_account("yo@example.com", Role::Customer).await;
    let mut gate = app.db().await;
    gate.batch_execute("SELECT pg_advisory_lock(4243)")
        .await
        .unwrap();
    let deletion = deleting_category(&app, category);
    until_one_waits_for_a_lock(&app).await;
    let checkout = ordering_4_and_5(&app, &token);
    until_waiting_for_locks(&app, 2).await;
    gate.batch_execute("SELECT pg_advisory_unlock(4243)")
        .await
        .unwrap();
    both_went_through(&app, deletion, checkout).await;
}
