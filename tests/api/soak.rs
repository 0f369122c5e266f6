//! The soak: many shoppers at once for a few minutes (browse, sign in and
//! out, fill a cart, check out, retry a checkout, cancel), then the books
//! must balance: for every product, stock plus units sold equals the
//! starting stock, and no answer was a 5xx but a documented 503.
//!
//! The long one is not part of CI (it runs for minutes; a ten-second one
//! with eight shoppers is); run it on a release build:
//!
//! ```sh
//! SOAK_SECONDS=180 SOAK_SHOPPERS=40 cargo test --release --test api soak -- --ignored --nocapture
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use emporium::domain::Role;
use serde_json::json;
use tokio::sync::Mutex;

use crate::helpers::{TEST_PASSWORD, TestApp, TestResponse};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Books {
    by_route_and_status: BTreeMap<(String, u16), u64>,
    faults: Vec<String>,
    placed: u64,
    cancelled: u64,
}

impl Books {
    fn record(&mut self, route: &str, response: &TestResponse) {
        let status = response.status.as_u16();
        *self
            .by_route_and_status
            .entry((route.to_owned(), status))
            .or_default() += 1;
        let documented_503 = status == 503
            && response.header("retry-after").is_some()
            && response.header("content-type") == Some("application/problem+json");
        if status >= 500 && !documented_503 {
            self.faults
                .push(format!("{route}: {status} {}", response.text()));
        }
    }
}

/// A tiny deterministic generator per shopper (no shared RNG to contend on).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long: run it by hand (see the module's header)"]
async fn soak_shoppers_browse_buy_and_cancel_and_the_books_balance() {
    soak(setting("SOAK_SECONDS", 180), setting("SOAK_SHOPPERS", 40)).await;
}

/// The soak in brief, in every run of the suite.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_soak_of_shoppers_balances_the_books() {
    soak(10, 8).await;
}

async fn soak(seconds: u64, shoppers: u64) {
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.auth_rate_limit.per_address = 1_000_000;
            config.auth_rate_limit.per_email = 1_000_000;
            config.database_pool_size = 16;
        })
        .await,
    );
    app.seed().await;
    let admin = app
        .sign_in(
            crate::helpers::SEED_ADMIN_EMAIL,
            crate::helpers::SEED_ADMIN_PASSWORD,
        )
        .await;
    // Twenty products with little stock, so that shoppers run out.
    let mut products = Vec::new();
    for n in 0..20 {
        let response = app
            .client(Some(&admin))
            .send_json(
                Method::POST,
                "/api/products",
                json!({"product_name": format!("Soak item {n}"), "price": format!("{}.99", n + 1),
                       "stock": 60, "category_id": 1 + n % 5}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        products.push(response.json()["data"]["id"].as_i64().unwrap());
    }
    let starting: BTreeMap<i64, i64> = products.iter().map(|id| (*id, 60)).collect();
    let mut emails = Vec::new();
    for n in 0..shoppers {
        let email = format!("soak{n}@example.com");
        app.quick_account(&email, Role::Customer).await;
        emails.push(email);
    }

    let books = Arc::new(Mutex::new(Books::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, email) in emails.into_iter().enumerate() {
        let (app, books, stop, products) =
            (app.clone(), books.clone(), stop.clone(), products.clone());
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
            let mut token = sign_in(&app, &email).await;
            let mut mine: Vec<i64> = Vec::new();
            let mut attempt = 0;
            while !stop.load(Ordering::Relaxed) {
                let product = products[dice.roll(products.len() as u64) as usize];
                let (route, response) = match dice.roll(20) {
                    0..=7 => {
                        let page = 1 + dice.roll(3);
                        (
                            "GET /api/products",
                            app.anon().get(&format!("/api/products?page={page}")).await,
                        )
                    }
                    8..=10 => (
                        "GET /api/products/{id}",
                        app.anon().get(&format!("/api/products/{product}")).await,
                    ),
                    11 => (
                        "GET /api/categories",
                        app.anon().get("/api/categories").await,
                    ),
                    12..=14 => (
                        "POST /api/cart/items",
                        app.client(Some(&token))
                            .send_json(
                                Method::POST,
                                "/api/cart/items",
                                json!({"product_id": product, "quantity": 1 + dice.roll(3)}),
                            )
                            .await,
                    ),
                    15..=16 => {
                        attempt += 1;
                        let key = format!("soak-{n}-{attempt}");
                        let response = place(&app, &token, &key).await;
                        if response.status == StatusCode::CREATED {
                            let id = response.json()["data"]["id"].as_i64().unwrap();
                            mine.push(id);
                            books.lock().await.placed += 1;
                            // A retry of the same key replays, never orders twice.
                            if dice.roll(4) == 0 {
                                let retry = retried(|| place(&app, &token, &key)).await;
                                assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text());
                                assert_eq!(retry.header("idempotent-replayed"), Some("true"));
                                assert_eq!(retry.json()["data"]["id"], id);
                            }
                        }
                        ("POST /api/orders", response)
                    }
                    17 if !mine.is_empty() => {
                        let id = mine.remove(dice.roll(mine.len() as u64) as usize);
                        let response = app
                            .client(Some(&token))
                            .request(Method::POST, &format!("/api/orders/{id}/cancel"))
                            .await;
                        if response.status == StatusCode::OK {
                            books.lock().await.cancelled += 1;
                        }
                        ("POST /api/orders/{id}/cancel", response)
                    }
                    18 => (
                        "GET /api/orders",
                        app.client(Some(&token))
                            .request(Method::GET, "/api/orders")
                            .await,
                    ),
                    _ => {
                        // Sign out, then in again (a real password check).
                        let out = app
                            .client(Some(&token))
                            .request(Method::POST, "/api/auth/signout")
                            .await;
                        books.lock().await.record("POST /api/auth/signout", &out);
                        token = sign_in(&app, &email).await;
                        continue;
                    }
                };
                books.lock().await.record(route, &response);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();

    let books = books.lock().await;
    let requests: u64 = books.by_route_and_status.values().sum();
    eprintln!(
        "soak: {shoppers} shoppers for {elapsed:.0} s: {requests} requests ({:.0}/s), {} orders placed, {} cancelled",
        requests as f64 / elapsed,
        books.placed,
        books.cancelled
    );
    for ((route, status), count) in &books.by_route_and_status {
        eprintln!("soak:   {route:32} {status}  {count}");
    }
    assert!(books.faults.is_empty(), "{:#?}", books.faults);
    assert!(
        books.placed > 0,
        "no order was placed: the books balance trivially"
    );
    assert!(
        books.cancelled > 0,
        "no order was cancelled: the books never saw stock put back"
    );
    // The books balance: stock plus units sold in orders that stand.
    for (product, start) in starting {
        let (stock, sold) = stock_and_sold(&app, product).await;
        assert_eq!(
            stock + sold,
            start,
            "product {product}: stock {stock} + sold {sold} != {start}"
        );
        eprintln!("soak:   product {product}: stock {stock} + sold {sold} = {start}");
    }
}

/// `send()` again while it answers a documented 503 (`Retry-After`: a busy
/// hashing slot, a Redis timeout under the suite's other tests), at most
/// twenty times.
async fn retried<F: Future<Output = TestResponse>>(send: impl Fn() -> F) -> TestResponse {
    let mut response = send().await;
    for _ in 0..20 {
        if response.status != StatusCode::SERVICE_UNAVAILABLE
            || response.header("retry-after").is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        response = send().await;
    }
    response
}

/// A session for `email`, asked for again on a documented 503.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email, "password": TEST_PASSWORD});
    let client = app.anon();
    let response = retried(|| client.post("/api/auth/signin", body.clone())).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn place(app: &TestApp, token: &str, key: &str) -> TestResponse {
    app.anon()
        .send(
            Method::POST,
            "/api/orders",
            None,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("idempotency-key", key),
            ],
        )
        .await
}

/// The product's stock, and the units of it in orders that were not cancelled.
async fn stock_and_sold(app: &TestApp, product: i64) -> (i64, i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use emporium::schema::{order_lines, orders, products};
    let mut conn = app.db().await;
    let stock: i32 = products::table
        .find(product as i32)
        .select(products::stock)
        .first(&mut conn)
        .await
        .unwrap();
    let sold: Option<i64> = order_lines::table
        .inner_join(orders::table)
        .filter(order_lines::product_id.eq(product as i32))
        .filter(orders::status.ne("cancelled"))
        .select(diesel::dsl::sum(order_lines::quantity))
        .first(&mut conn)
        .await
        .unwrap();
    (i64::from(stock), sold.unwrap_or(0))
}
