//! The read-through cache: hits and misses per route, key formats, every
//! write's invalidation, Redis outages, stampedes, and a reader/writer race
//! that must never show data older than an acknowledged write.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use emporium::cache::Retirement;
use emporium::catalog::cache as catalog_cache;
use emporium::domain::Role;
use emporium::response::{Document, Framing};
use serde_json::{Value, json};

use crate::harness::ThrowawayRedis;
use crate::helpers::{TestApp, TestResponse, redis_keys};
use crate::races::price_race;

const CACHED_ROUTES: [&str; 8] = [
    "/api/products",
    "/api/products?category=Shirts&minPrice=10&sortBy=price&order=asc",
    "/api/products?q=shirt",
    "/api/products/1",
    "/api/categories",
    "/api/categories/1",
    "/api/tags",
    "/api/tags/1",
];

fn source(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let header = response.header("x-data-source").unwrap().to_owned();
    assert_eq!(
        response.json()["source"],
        header.as_str(),
        "body and header agree"
    );
    header
}

/// The body without `source`, to compare a Redis answer with a PostgreSQL one.
fn data(response: &TestResponse) -> Value {
    let mut body = response.json();
    body.as_object_mut().unwrap().remove("source");
    body
}

pub async fn keys(app: &TestApp, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(crate::helpers::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis_keys(&mut conn, &format!("{}{pattern}", app.redis_prefix))
        .await
        .into_iter()
        .map(|key| key[app.redis_prefix.len()..].to_owned())
        .collect();
    keys.sort();
    keys
}

/// The seconds the cache's `key` has left to live (`TTL`).
async fn life_of(app: &TestApp, key: &str) -> i64 {
    let client = redis::Client::open(crate::helpers::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("TTL")
        .arg(format!("{}{key}", app.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_cached_route_answers_postgres_then_redis_with_one_etag() {
    let app = TestApp::seeded_with_admin().await;
    for path in CACHED_ROUTES {
        let first = app.admin().get(path).await;
        let second = app.admin().get(path).await;
        assert_eq!(source(&first), "postgres", "{path}");
        assert_eq!(source(&second), "redis", "{path}");
        assert_eq!(data(&first), data(&second), "{path}");
        let etag = first.header("etag").unwrap();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        assert_eq!(Some(etag), second.header("etag"), "{path}");
    }
    // Errors are not cached: a 404 stays a PostgreSQL answer.
    for _ in 0..2 {
        let missing = app.admin().get("/api/products/999").await;
        missing.problem(404);
        assert!(missing.header("x-data-source").is_none());
    }
}

#[tokio::test]
async fn a_page_of_another_size_than_the_default_is_kept_within_the_clients_budget() {
    let app = TestApp::with_config(|config| config.cache_limits.open_queries_per_client = 1).await;
    app.seed().await;
    let twice = async |path: &str| {
        let first = source(&app.anon().get(path).await);
        [first, source(&app.anon().get(path).await)]
    };
    // Pages of the default size are kept whoever asks, however many.
    for path in [
        "/api/products",
        "/api/products?page=2",
        "/api/products?sortBy=price&order=ASC&inStock=true",
        "/api/products?category=shirts&limit=20",
    ] {
        assert_eq!(twice(path).await, ["postgres", "redis"], "{path}");
    }
    // Another size is kept within the client's budget of open-ended
    // documents (one here): with every size, a client could ask for every
    // page of every category many times over.
    assert_eq!(twice("/api/products?limit=7").await, ["postgres", "redis"]);
    // Kept for a named document's life (API.md), not an open-ended one's.
    let life = life_of(&app, "products:any:any:any:any:1:7:createdAt:DESC").await;
    assert!(life > 300 && life <= 1800, "{life}");
    assert_eq!(
        twice("/api/products?limit=8").await,
        ["postgres", "postgres"]
    );
    // So is a category spelled other than in lower case: the key keeps
    // the name as sent (API.md), and a name has endless spellings.
    assert_eq!(
        twice("/api/products?category=Shirts").await,
        ["postgres", "postgres"]
    );
    assert_eq!(
        twice("/api/products?category=sHiRtS").await,
        ["postgres", "postgres"]
    );
}

#[tokio::test]
async fn equal_queries_share_one_documented_key() {
    let app = TestApp::seeded_with_admin().await;
    let first = app
        .admin()
        .get("/api/products?category=Shirts&minPrice=20.00&maxPrice=40&inStock=true")
        .await;
    assert_eq!(source(&first), "postgres");
    for same in [
        "/api/products?category=Shirts&minPrice=20&maxPrice=40.00&inStock=true",
        "/api/products?inStock=true&maxPrice=40.0&minPrice=20.000&category=Shirts&order=desc",
        // A boolean's case is no part of the key (Python's `requests` sends `True`).
        "/api/products?category=Shirts&minPrice=20&maxPrice=40&inStock=True",
        "/api/products?category=Shirts&minPrice=20&maxPrice=40&inStock=true&page=1&limit=20&sortBy=createdAt&order=DESC",
    ] {
        assert_eq!(source(&app.admin().get(same).await), "redis", "{same}");
    }
    // API.md's own example, for its own life.
    let life = life_of(&app, "products:Shirts:20:40:true:1:20:createdAt:DESC").await;
    assert!(life > 300 && life <= 1800, "{life}");
    // A category's case is not among API.md's normalizations: the key
    // keeps the name as sent, and another spelling is a key of its own
    // (the same rows).
    let lower = app
        .admin()
        .get("/api/products?category=shirts&minPrice=20&maxPrice=40&inStock=true")
        .await;
    assert_eq!(source(&lower), "postgres");
    assert_eq!(lower.json()["data"], first.json()["data"]);
    app.admin().get("/api/products?minPrice=19.50").await;
    app.admin().get("/api/products").await;
    app.admin().get("/api/products?q=Shirt").await;
    assert_eq!(
        source(&app.admin().get("/api/products?q=shirt").await),
        "redis"
    );
    assert_eq!(
        keys(&app, "products:*").await,
        [
            "products:Shirts:20:40:true:1:20:createdAt:DESC",
            "products:any:19.5:any:any:1:20:createdAt:DESC",
            "products:any:any:any:any:1:20:createdAt:DESC",
            "products:shirts:20:40:true:1:20:createdAt:DESC",
        ]
    );
    assert_eq!(keys(&app, "search:*").await.len(), 1);

    // A `:` or `%` in a category name is encoded: every key keeps nine parts.
    let created = app
        .admin()
        .post("/api/categories", json!({"category_name": "50%: off"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    app.admin()
        .get("/api/products?category=50%25%3A%20off")
        .await;
    let encoded = keys(&app, "products:50*").await;
    assert_eq!(
        encoded,
        ["products:50%25%3A off:any:any:any:1:20:createdAt:DESC"]
    );
    assert_eq!(encoded[0].split(':').count(), 9);

    app.admin().get("/api/products/1").await;
    app.admin().get("/api/categories/2").await;
    assert_eq!(keys(&app, "product:*").await, ["product:1"]);
    assert!(
        keys(&app, "categories:*")
            .await
            .contains(&"categories:2".to_owned())
    );
}

#[tokio::test]
async fn every_spelling_of_a_category_shares_its_count_and_its_searches() {
    let app = TestApp::seeded_with_admin().await;
    // A `products:` key keeps the name as sent; the count kept apart from
    // the pages does not (no key of API.md shows it, and a name has
    // endless spellings).
    for spelling in ["Shirts", "SHIRTS", "shirts", "sHiRtS"] {
        app.anon()
            .get(&format!("/api/products?category={spelling}"))
            .await;
    }
    assert_eq!(
        keys(&app, "products-total:*").await,
        ["products-total:shirts:any"]
    );
    assert_eq!(keys(&app, "products:*").await.len(), 4);
    // Nor does a search's hash.
    let first = app
        .anon()
        .get("/api/products?category=Shirts&tag=white")
        .await;
    assert_eq!(source(&first), "postgres");
    let other = app
        .anon()
        .get("/api/products?category=SHIRTS&tag=white")
        .await;
    assert_eq!(source(&other), "redis");
    assert_eq!(keys(&app, "search:*").await.len(), 1);
}

#[tokio::test]
async fn a_cancellation_retires_every_document_that_shows_the_stock_it_puts_back() {
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("cal@example.com", Role::Customer).await;
    let stock = app.anon().get("/api/products/1").await.json()["data"]["stock"]
        .as_i64()
        .unwrap();
    // Every unit is sold: the product is out of stock.
    let placed = app
        .user(&token)
        .post(
            "/api/orders",
            json!({"items": [{"product_id": 1, "quantity": stock}]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let in_stock = "/api/products?inStock=true&limit=100";
    let shows_it = |response: &TestResponse| {
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|product| product["id"] == 1)
    };
    // Cached as they are now: the product at 0, absent from what is in
    // stock, the order placed in the admins' list and the owner's.
    for _ in 0..2 {
        assert_eq!(
            app.anon().get("/api/products/1").await.json()["data"]["stock"],
            0
        );
        assert!(!shows_it(&app.anon().get(in_stock).await));
        app.admin().get("/api/orders").await;
        app.user(&token).get("/api/orders").await;
    }
    assert_eq!(source(&app.anon().get("/api/products/1").await), "redis");
    assert_eq!(source(&app.anon().get(in_stock).await), "redis");
    assert_eq!(source(&app.admin().get("/api/orders").await), "redis");
    assert_eq!(source(&app.user(&token).get("/api/orders").await), "redis");
    let cancelled = app
        .user(&token)
        .request(
            axum::http::Method::POST,
            &format!("/api/orders/{id}/cancel"),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    // Once answered, no read shows the stock as it was.
    let detail = app.anon().get("/api/products/1").await;
    assert_eq!(source(&detail), "postgres");
    assert_eq!(detail.json()["data"]["stock"], stock);
    assert!(shows_it(&app.anon().get(in_stock).await));
    for orders in [
        app.admin().get("/api/orders").await,
        app.user(&token).get("/api/orders").await,
    ] {
        assert_eq!(source(&orders), "postgres");
        let listed = orders.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|order| order["id"] == id)
            .cloned()
            .unwrap();
        assert_eq!(listed["status"], "cancelled");
    }
}

/// Reads every cached route once so that the next read would be a hit.
async fn warm(app: &TestApp) {
    for path in CACHED_ROUTES {
        app.anon().get(path).await;
    }
    for path in CACHED_ROUTES {
        assert_eq!(source(&app.anon().get(path).await), "redis", "{path}");
    }
}

#[tokio::test]
async fn every_write_retires_what_it_changes_before_answering() {
    let app = TestApp::seeded_with_admin().await;
    // (write, routes whose next read must come from PostgreSQL, a check of the new data)
    let writes: Vec<(&str, Value, &str, Vec<&str>)> = vec![
        (
            "PUT",
            json!({"price": "15.49"}),
            "/api/products/1",
            vec![
                "/api/products",
                "/api/products/1",
                "/api/categories",
                "/api/categories/1",
                "/api/tags",
                "/api/tags/1",
                "/api/products?q=shirt",
                "/api/products?category=Shirts&minPrice=10&sortBy=price&order=asc",
            ],
        ),
        (
            "PUT",
            json!({"category_name": "Tees"}),
            "/api/categories/1",
            vec![
                "/api/products",
                "/api/products/1",
                "/api/categories",
                "/api/categories/1",
            ],
        ),
        (
            "PUT",
            json!({"tag_name": "rock"}),
            "/api/tags/1",
            vec!["/api/products", "/api/tags", "/api/tags/1"],
        ),
        (
            "POST",
            json!({"product_name": "Plain Shirt Two", "price": 5, "stock": 1, "category_id": 1, "tagIds": [1]}),
            "/api/products",
            vec![
                "/api/products",
                "/api/categories",
                "/api/tags",
                "/api/products?q=shirt",
            ],
        ),
        (
            "POST",
            json!({"category_name": "Socks"}),
            "/api/categories",
            vec!["/api/categories"],
        ),
        (
            "POST",
            json!({"tag_name": "wool"}),
            "/api/tags",
            vec!["/api/tags"],
        ),
        (
            "DELETE",
            json!(null),
            "/api/tags/1",
            vec!["/api/products", "/api/tags", "/api/tags/1"],
        ),
        (
            "DELETE",
            json!(null),
            "/api/categories/1",
            vec!["/api/products/1", "/api/categories", "/api/categories/1"],
        ),
        (
            "DELETE",
            json!(null),
            "/api/products/1",
            vec![
                "/api/products",
                "/api/categories",
                "/api/tags",
                "/api/products?q=shirt",
            ],
        ),
    ];
    for (method, body, path, stale) in writes {
        warm_available(&app).await;
        let response = match method {
            "PUT" => app.admin().put(path, body).await,
            "POST" => app.admin().post(path, body).await,
            _ => app.admin().delete(path).await,
        };
        assert!(
            response.status.is_success(),
            "{method} {path}: {}",
            response.text()
        );
        for route in stale {
            let read = app.admin().get(route).await;
            if method == "DELETE" && route == path {
                read.problem(404); // deleted: nothing to be stale about
                continue;
            }
            assert_eq!(
                source(&read),
                "postgres",
                "{method} {path} left {route} cached"
            );
        }
    }
    // The final state shows every write.
    app.admin().get("/api/products/1").await.problem(404);
    let tees = app.admin().get("/api/categories").await.json();
    assert!(!tees.to_string().contains("\"Tees\""), "{tees}");
    assert!(tees.to_string().contains("Socks"));
}

/// Like [`warm`], but over routes that still exist.
async fn warm_available(app: &TestApp) {
    for path in CACHED_ROUTES {
        if app.anon().get(path).await.status == StatusCode::OK {
            assert_eq!(source(&app.anon().get(path).await), "redis", "{path}");
        }
    }
}

#[tokio::test]
async fn the_new_data_is_what_the_next_read_shows() {
    let app = TestApp::seeded_with_admin().await;
    warm(&app).await;
    app.admin()
        .put(
            "/api/products/1",
            json!({"price": 99.5, "product_name": "Fancy T-Shirt"}),
        )
        .await;
    let detail = app.admin().get("/api/products/1").await.json();
    assert_eq!(detail["data"]["price"], "99.50");
    let list = app.admin().get("/api/categories/1").await.json();
    assert_eq!(list["data"]["products"][0]["product_name"], "Fancy T-Shirt");
    app.admin()
        .put("/api/categories/1", json!({"category_name": "Tops"}))
        .await;
    let detail = app.admin().get("/api/products/1").await.json();
    assert_eq!(detail["data"]["category"]["category_name"], "Tops");
}

#[tokio::test]
async fn seed_retires_the_documents_it_adds_to() {
    let app = TestApp::with_admin().await;
    let empty = app.admin().get("/api/categories").await;
    assert_eq!(empty.json()["total"], 0);
    assert_eq!(source(&app.admin().get("/api/categories").await), "redis");
    app.seed().await;
    let seeded = app.admin().get("/api/categories").await;
    assert_eq!(source(&seeded), "postgres");
    assert_eq!(seeded.json()["total"], 5);
}

#[tokio::test]
async fn a_load_that_races_a_write_is_never_stored() {
    let app = TestApp::seeded().await;
    let cache = &app.state.cache;
    let key = catalog_cache::product_api(1);
    // The classic race, made deterministic: the reader misses and loads the
    // old row; meanwhile a writer commits and retires; the reader must not
    // store what it loaded.
    let (_, source) = cache
        .read(&key, Framing::Envelope, |_| async {
            let old = Document::envelope(&json!({"data": {"price": "old"}})).unwrap();
            cache
                .write(catalog_cache::products_changed(&[1]), async { Ok(()) })
                .await
                .unwrap();
            Ok(old)
        })
        .await
        .unwrap();
    assert_eq!(source.as_str(), "postgres");
    let counters = cache.stats().of("product");
    assert_eq!(counters.stale_skips.load(Ordering::Relaxed), 1);
    let next = app.anon().get("/api/products/1").await;
    assert_eq!(source_of(&next), "postgres");
    assert_eq!(next.json()["data"]["price"], "14.99");

    // While a writer is in flight, reads neither hit nor store.
    assert_eq!(source_of(&app.anon().get("/api/products/1").await), "redis");
    let write = cache
        .begin_write(Retirement::of([catalog_cache::product(1)]))
        .await
        .unwrap();
    assert_eq!(
        source_of(&app.anon().get("/api/products/1").await),
        "postgres"
    );
    assert_eq!(
        source_of(&app.anon().get("/api/products/1").await),
        "postgres"
    );
    write.finish().await.unwrap();
    assert_eq!(
        source_of(&app.anon().get("/api/products/1").await),
        "postgres"
    );
    assert_eq!(source_of(&app.anon().get("/api/products/1").await), "redis");
}

/// A writer that never finishes (its process died between begin and
/// finish) keeps readers from storing what it touches until its own marker
/// lapses, and only until then, however many writers of the same document
/// come and go after it: a shorter one does not cut its life, a longer one
/// does not stretch it.
#[tokio::test]
async fn a_writer_that_never_finishes_holds_the_cache_off_only_until_its_own_marker_lapses() {
    let app = TestApp::seeded().await;
    let cache = &app.state.cache;
    let product = || Retirement::of([catalog_cache::product(1)]);
    let read = async || source_of(&app.anon().get("/api/products/1").await).to_owned();
    let lost = cache
        .begin_write_for(product(), Duration::from_secs(3))
        .await
        .unwrap();
    // The marker's life began within its begin: by now.
    let began = std::time::Instant::now();
    lost.leave_to_lapse();
    assert_eq!(
        (read().await, read().await),
        ("postgres".into(), "postgres".into())
    );
    let shorter = cache
        .begin_write_for(product(), Duration::from_millis(300))
        .await
        .unwrap();
    shorter.finish().await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        (read().await, read().await),
        ("postgres".into(), "postgres".into()),
        "a shorter writer cut the lost one's marker"
    );
    cache.write(product(), async { Ok(()) }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(began.elapsed())).await;
    assert_eq!(read().await, "postgres");
    assert_eq!(
        read().await,
        "redis",
        "the lost writer's marker outlived its own life"
    );
}

/// A finish that timed out may have run all the same, and is tried again:
/// every try that reaches Redis must take away only this writer's marker,
/// never another writer's still in flight.
#[tokio::test]
async fn a_finish_tried_again_after_a_timeout_leaves_the_other_writers_in_flight() {
    let redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| {
        config.redis_url = redis.url().into();
        config.cache_redis_url = None;
        config.redis_timeout = Duration::from_millis(300);
    })
    .await;
    app.seed().await;
    let cache = &app.state.cache;
    let product = || Retirement::of([catalog_cache::product(1)]);
    let still_writing = cache.begin_write(product()).await.unwrap();
    let done = cache.begin_write(product()).await.unwrap();
    // Every try times out, and waits in Redis's socket to run on the thaw.
    redis.freeze();
    done.finish().await.unwrap();
    redis.thaw();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 {
        assert_eq!(
            source_of(&app.anon().get("/api/products/1").await),
            "postgres",
            "stored while a writer was in flight"
        );
    }
    still_writing.finish().await.unwrap();
    assert_eq!(
        source_of(&app.anon().get("/api/products/1").await),
        "postgres"
    );
    assert_eq!(source_of(&app.anon().get("/api/products/1").await), "redis");
}

/// A user's cached documents are theirs alone: once the owner's order,
/// order list and cart are served from Redis, another customer still gets a
/// 404 for the order and their own (empty) list and cart, and an admin the
/// admin's rendering.
#[tokio::test]
async fn a_users_cached_documents_are_never_served_to_another_user() {
    let app = TestApp::seeded_with_admin().await;
    let (_, owner) = app.quick_account("own@example.com", Role::Customer).await;
    let (_, other) = app.quick_account("oth@example.com", Role::Customer).await;
    let placed = app
        .user(&owner)
        .post(
            "/api/orders",
            json!({"items": [{"product_id": 1, "quantity": 1}]}),
        )
        .await;
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    let added = app
        .user(&owner)
        .post("/api/cart/items", json!({"product_id": 2, "quantity": 1}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let order = format!("/api/orders/{id}");
    for path in [order.as_str(), "/api/orders", "/api/cart"] {
        app.user(&owner).get(path).await;
        assert_eq!(
            source_of(&app.user(&owner).get(path).await),
            "redis",
            "{path}"
        );
    }
    app.user(&other).get(&order).await.problem(404);
    let list = app.user(&other).get("/api/orders").await;
    assert_eq!(list.json()["total"], 0, "{}", list.text());
    let cart = app.user(&other).get("/api/cart").await;
    assert_eq!(cart.json()["data"]["items"], json!([]), "{}", cart.text());
    let seen_by_admin = app.admin().get(&order).await;
    assert_eq!(seen_by_admin.status, StatusCode::OK);
    assert!(
        seen_by_admin.json()["data"].get("customer").is_some(),
        "{}",
        seen_by_admin.text()
    );
}

fn source_of(response: &TestResponse) -> &str {
    response.header("x-data-source").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_of_misses_loads_once() {
    let app = Arc::new(TestApp::seeded().await);
    let mut readers = Vec::new();
    for _ in 0..100 {
        let app = app.clone();
        readers.push(tokio::spawn(async move {
            app.anon().get("/api/categories").await.status
        }));
    }
    for reader in readers {
        assert_eq!(reader.await.unwrap(), StatusCode::OK);
    }
    let counters = app.state.cache.stats().of("categories");
    let misses = counters.misses.load(Ordering::Relaxed);
    let coalesced = counters.coalesced.load(Ordering::Relaxed);
    let hits = counters.hits.load(Ordering::Relaxed);
    assert_eq!(misses + hits, 100);
    let loads = misses - coalesced;
    assert!(
        coalesced > 0,
        "no miss overlapped another ({misses} misses, {hits} hits): nothing was shared"
    );
    assert!(
        loads <= 3,
        "{loads} PostgreSQL loads for 100 concurrent reads ({misses} misses, {coalesced} coalesced)"
    );
}

/// Redis frozen: every lookup waits out its timeout, and then nothing says
/// which writes a load in flight has seen. Readers share a load only if
/// they arrived before it began, so a stampede that arrived together still
/// loads about once (a load begun before a reader arrived is never shared
/// with it: `without_the_versions_a_read_after_another_instances_write_shares_no_older_load`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_frozen_a_stampede_that_arrived_together_still_loads_about_once() {
    let redis = ThrowawayRedis::start(&[]);
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.redis_url = redis.url().into();
            config.cache_redis_url = None;
            config.redis_timeout = Duration::from_millis(300);
        })
        .await,
    );
    app.seed().await;
    redis.freeze();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.anon().get("/api/categories").await })
        })
        .collect();
    for reader in readers {
        let read = reader.await.unwrap();
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(source_of(&read), "postgres");
    }
    redis.thaw();
    let counters = app.state.cache.stats().of("categories");
    let (misses, coalesced) = (
        counters.misses.load(Ordering::Relaxed),
        counters.coalesced.load(Ordering::Relaxed),
    );
    assert_eq!(misses, 50);
    assert!(
        coalesced >= 25,
        "{coalesced} of 50 misses shared a load while Redis was frozen"
    );
}

#[tokio::test]
async fn reads_survive_a_redis_outage_and_the_cache_comes_back() {
    let mut redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| {
        config.redis_url = redis.url().into();
        config.redis_timeout = Duration::from_millis(300);
    })
    .await;
    app.seed().await;
    let admin = app
        .sign_in(
            crate::helpers::SEED_ADMIN_EMAIL,
            crate::helpers::SEED_ADMIN_PASSWORD,
        )
        .await;
    assert_eq!(source(&app.anon().get("/api/products/1").await), "postgres");
    assert_eq!(source(&app.anon().get("/api/products/1").await), "redis");

    redis.kill();
    for path in CACHED_ROUTES {
        let read = app.anon().get(path).await;
        assert_eq!(source(&read), "postgres", "{path} during the outage");
    }
    // What needs a session (every write) answers 503, and nothing is written.
    let refused = app
        .client(Some(&admin))
        .send_json(
            axum::http::Method::PUT,
            "/api/products/1",
            json!({"price": 1}),
        )
        .await;
    refused.problem(503);
    assert!(refused.header("retry-after").is_some());
    // And a writer that got past the session check cannot begin either: its
    // entries could not be retired, so it must not commit.
    let blocked = app
        .state
        .cache
        .begin_write(Retirement::of([catalog_cache::product(1)]))
        .await;
    assert!(matches!(
        blocked,
        Err(emporium::error::AppError::Unavailable { .. })
    ));
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.json()["redis"], "down");
    let errors = app
        .state
        .cache
        .stats()
        .of("product")
        .errors
        .load(Ordering::Relaxed);
    assert!(errors > 0);

    redis.start_again();
    let mut recovered = false;
    for _ in 0..50 {
        app.anon().get("/api/products/1").await;
        if source(&app.anon().get("/api/products/1").await) == "redis" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the cache did not come back with Redis");
    assert_eq!(
        app.anon().get("/api/products/1").await.json()["data"]["price"],
        "14.99"
    );
}

#[tokio::test]
async fn a_write_refused_half_way_through_its_cache_begin_changes_nothing_and_records_no_position()
{
    let redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into())
        .await
        .and_admin()
        .await;
    let id = app
        .create_product(json!({"product_name": "Lamp", "price": "20.00", "stock": 5}))
        .await;
    let path = format!("/api/products/{id}");
    // Redis runs the begin's script, then refuses to delete the product's
    // documents: the write has begun half-way, and is refused.
    redis.refuse("del");
    app.admin()
        .put(&path, json!({"price": "25.00"}))
        .await
        .problem(503);
    redis.allow("del");
    // Its finish uncounts it (reads may store again) and, since it changed
    // nothing, leaves the clock without a WAL position: a fleet without
    // replicas must not start asking PostgreSQL for one on every write.
    let mut cached_again = false;
    for _ in 0..50 {
        app.anon().get(&path).await;
        if source(&app.anon().get(&path).await) == "redis" {
            cached_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cached_again,
        "reads were never cached again after the refused write"
    );
    let positioned: bool = app.on_cache_clock("HEXISTS", "lsn").await;
    assert!(!positioned, "a refused write recorded a WAL position");
    let read = app.anon().get(&path).await;
    assert_eq!(read.json()["data"]["price"], "20.00", "nothing was written");
    let written = app.admin().put(&path, json!({"price": "25.00"})).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text());
    assert_eq!(app.anon().get(&path).await.json()["data"]["price"], "25.00");
}

#[tokio::test]
async fn deleting_the_clocks_epoch_retires_every_entry_at_once() {
    let app = TestApp::seeded().await;
    for path in CACHED_ROUTES {
        app.anon().get(path).await;
        assert_eq!(source(&app.anon().get(path).await), "redis", "{path}");
    }
    // What docs/cache.md tells an operator to do after a release that
    // changes a document's shape.
    let deleted: i64 = app.on_cache_clock("HDEL", "epoch").await;
    assert_eq!(deleted, 1);
    for path in CACHED_ROUTES {
        assert_eq!(source(&app.anon().get(path).await), "postgres", "{path}");
    }
    // Kept again: a lookup that finds no epoch sets a new one, and stores
    // under it.
    for path in CACHED_ROUTES {
        app.anon().get(path).await;
        assert_eq!(source(&app.anon().get(path).await), "redis", "{path} again");
    }
}

#[tokio::test]
async fn past_its_bound_the_record_of_versions_starts_anew_with_every_entry_retired() {
    let app = TestApp::with_config(|config| config.cache_limits.max_versions = 2).await;
    app.seed().await;
    let app = app.and_admin().await;
    app.anon().get("/api/products/1").await;
    assert_eq!(source(&app.anon().get("/api/products/1").await), "redis");
    let epoch: Option<String> = app.on_cache_clock("HGET", "epoch").await;
    for (id, price) in [(2, "21.00"), (3, "31.00"), (4, "41.00")] {
        let path = format!("/api/products/{id}");
        app.anon().get(&path).await;
        let changed = app.admin().put(&path, json!({"price": price})).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
        // Bounded after every write; never a document from before one.
        assert!(app.cache_versions_recorded().await <= 2);
        assert_eq!(app.anon().get(&path).await.json()["data"]["price"], price);
    }
    // The record started anew: the epoch went with it, and every entry
    // (product 1's, which no write touched) is read again, then kept.
    let now: Option<String> = app.on_cache_clock("HGET", "epoch").await;
    assert_ne!(now, epoch);
    assert_eq!(source(&app.anon().get("/api/products/1").await), "postgres");
    app.anon().get("/api/products/1").await;
    assert_eq!(source(&app.anon().get("/api/products/1").await), "redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_shows_data_older_than_an_acknowledged_write() {
    let app = Arc::new(TestApp::seeded_with_admin().await);
    let token = app.admin_token().to_owned();
    let race = price_race(app.clone(), vec![app], &token, Duration::from_secs(4)).await;
    assert!(
        race.redis_reads > 0,
        "no read was a cache hit: the test did not exercise the cache"
    );
    assert_eq!(race.stale, 0, "stale reads");
}

/// Where an answer came from, by its header alone (Catwalk bodies are bare).
fn data_source(response: &TestResponse) -> &str {
    response.header("x-data-source").unwrap()
}

/// The ids a list answer shows.
fn shown_ids(response: &TestResponse) -> Vec<i64> {
    let body = response.json();
    let products = match body["data"].as_array() {
        Some(list) => list.clone(),
        None => body["data"]["products"].as_array().unwrap().clone(),
    };
    products
        .iter()
        .map(|product| product["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn reads_keep_coming_from_redis_while_orders_are_placed() {
    let app = TestApp::seeded_with_admin().await;
    let page = "/api/products?limit=2";
    let in_stock_page = "/api/products?inStock=true&limit=2";
    let first = app.anon().get(page).await;
    let shown = shown_ids(&first);
    // A product the pages do not show, with stock for every order below.
    let bought = (1..=5).find(|id| !shown.contains(id)).unwrap();
    let unrelated = (1..=5).find(|id| *id != bought).unwrap();
    let stock = json!({"stock": 1000});
    let changed = app
        .admin()
        .put(&format!("/api/products/{bought}"), stock)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let reads = [
        page.to_owned(),
        in_stock_page.to_owned(),
        format!("/api/products/{unrelated}"),
        "/catwalk/products?page=1&count=5".to_owned(),
    ];
    for path in &reads {
        app.anon().get(path).await;
        let warm = app.anon().get(path).await;
        assert_eq!(data_source(&warm), "redis", "{path} warms up");
    }
    let (_, token) = app
        .quick_account("buyer@example.com", emporium::domain::Role::Customer)
        .await;
    let order = json!({"items": [{"product_id": bought, "quantity": 1}]});
    let (buyer, reader) = (app.user(&token), app.anon());
    // Every commit of an order takes a second (a deferred trigger sleeps).
    app.slow_commits_on("orders", "INSERT").await;
    let rounds = 3;
    for round in 0..rounds {
        // While an order's commit is on its way, every read is answered
        // from Redis.
        let reading = async {
            app.until_a_commit_sleeps().await;
            futures_util::future::join_all(reads.iter().map(|path| reader.get(path))).await
        };
        let (placed, answers) = tokio::join!(buyer.post("/api/orders", order.clone()), reading);
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
        for (path, answer) in reads.iter().zip(&answers) {
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(data_source(answer), "redis", "{path} during order {round}");
        }
    }
    // The bought product's own document does show the new stock.
    let detail = app.anon().get(&format!("/api/products/{bought}")).await;
    assert_eq!(detail.json()["data"]["stock"], 1000 - rounds);
}

#[tokio::test]
async fn a_page_that_shows_a_bought_product_shows_its_new_stock_at_once() {
    let app = TestApp::seeded_with_admin().await;
    let page = "/api/products?limit=2";
    app.anon().get(page).await;
    let cached = app.anon().get(page).await;
    assert_eq!(source(&cached), "redis");
    let bought = shown_ids(&cached)[0];
    let stock_before = cached.json()["data"][0]["stock"].as_i64().unwrap();
    let (_, token) = app
        .quick_account("buyer@example.com", emporium::domain::Role::Customer)
        .await;
    let order = json!({"items": [{"product_id": bought, "quantity": 1}]});
    let placed = app.user(&token).post("/api/orders", order).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let after = app.anon().get(page).await;
    assert_eq!(source(&after), "postgres");
    assert_eq!(after.json()["data"][0]["stock"], stock_before - 1);
}

#[tokio::test]
async fn a_product_sold_out_leaves_the_in_stock_lists_at_once() {
    let app = TestApp::seeded_with_admin().await;
    let in_stock = "/api/products?inStock=true&limit=100";
    let before = app.anon().get(in_stock).await;
    let shown = shown_ids(&before);
    let product = app
        .create_product(json!({"product_name": "Last One", "price": "5.00", "stock": 1}))
        .await;
    let listed = app.anon().get(in_stock).await;
    assert!(shown_ids(&listed).contains(&i64::from(product)));
    // Kept: the sale must retire it.
    assert_eq!(source(&app.anon().get(in_stock).await), "redis");
    let (_, token) = app
        .quick_account("buyer@example.com", emporium::domain::Role::Customer)
        .await;
    let order = json!({"items": [{"product_id": product, "quantity": 1}]});
    let placed = app.user(&token).post("/api/orders", order).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let after = app.anon().get(in_stock).await;
    assert!(
        !shown_ids(&after).contains(&i64::from(product)),
        "{}",
        after.text()
    );
    assert_eq!(shown_ids(&after), shown);
}

#[tokio::test]
async fn a_product_page_loaded_all_at_once_is_cached_whole() {
    let app = TestApp::seeded().await;
    let reader = app.anon();
    let pages = |ids: std::ops::RangeInclusive<i32>| -> Vec<String> {
        ids.flat_map(|id| {
            [
                format!("/catwalk/products/{id}"),
                format!("/catwalk/products/{id}/styles"),
                format!("/catwalk/products/{id}/related"),
            ]
        })
        .collect()
    };
    // What the Catwalk front end does: every product's detail, styles and
    // related at once, on a cold cache; and again once the cache's Redis
    // lost its data (a restart, a flush: no clock at all), when every
    // lookup finds no epoch and the first store sets one.
    for (paths, when) in [(pages(1..=5), "cold"), (pages(1..=5), "after a flush")] {
        if when == "after a flush" {
            let prefix = &app.state.config.redis_key_prefix;
            let _: i64 = app
                .state
                .cache
                .redis()
                .query(
                    redis::cmd("DEL")
                        .arg(format!("{prefix}{{{prefix}cache}}:clock"))
                        .arg(format!("{prefix}{{{prefix}cache}}:versions")),
                )
                .await
                .unwrap();
        }
        let first = futures_util::future::join_all(paths.iter().map(|path| reader.get(path))).await;
        for (path, answer) in paths.iter().zip(&first) {
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(data_source(answer), "postgres", "{path} {when}");
        }
        for path in &paths {
            let again = reader.get(path).await;
            assert_eq!(data_source(&again), "redis", "{path} was stored ({when})");
        }
    }
}

#[tokio::test]
async fn a_write_given_up_while_it_commits_leaves_no_stale_document_behind() {
    let app = TestApp::seeded_with_admin().await;
    let detail = "/api/products/4";
    let list = "/api/products?limit=100";
    for path in [detail, list] {
        app.anon().get(path).await;
        assert_eq!(app.anon().get(path).await.json()["source"], "redis");
    }
    // Every commit that changes a product takes a second (a deferred
    // trigger sleeps).
    app.slow_commits_on("products", "UPDATE").await;
    // An admin's change, given up while its COMMIT is on its way...
    let admin = app.admin();
    let changing = admin.put(detail, json!({"stock": 10}));
    tokio::select! {
        _ = changing => panic!("the change did not wait for its commit"),
        () = app.until_a_commit_sleeps() => {}
    }
    // ... and readers load the product and the list meanwhile, before the
    // commit lands.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.anon().get(detail).await.json()["data"]["stock"], 50);
    app.anon().get(list).await;
    // Once it has landed, nothing shows the stock from before it.
    app.until_counted("products WHERE id = 4 AND stock = 10")
        .await;
    for _ in 0..2 {
        let read = app.anon().get(detail).await.json();
        assert_eq!(read["data"]["stock"], 10, "{read}");
        let listed = app.anon().get(list).await.json();
        let four = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|product| product["id"] == 4)
            .unwrap()
            .clone();
        assert_eq!(four["stock"], 10, "{four}");
    }
}

#[tokio::test]
async fn a_write_whose_connection_is_lost_while_it_commits_leaves_no_stale_document_behind() {
    use secrecy::ExposeSecret;
    // The app reaches PostgreSQL through a proxy that can cut its
    // connections.
    let admin = crate::helpers::admin_url();
    let server = admin
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(server, _)| server.to_owned())
        .unwrap();
    let proxy = crate::harness::CuttableProxy::to(server.clone()).await;
    let app = TestApp::with_config(|config| {
        let url = config.database_url.expose_secret().replacen(
            &format!("@{server}/"),
            &format!("@127.0.0.1:{}/", proxy.port),
            1,
        );
        config.database_url = url.into();
    })
    .await
    .and_admin()
    .await;
    app.seed().await;
    let detail = "/api/products/4";
    app.anon().get(detail).await;
    assert_eq!(app.anon().get(detail).await.json()["source"], "redis");
    app.slow_commits_on("products", "UPDATE").await;
    // An admin's change whose connection is cut while its COMMIT runs: it
    // is answered 503, and PostgreSQL commits it all the same.
    let admin = app.admin();
    let changing = admin.put(detail, json!({"stock": 10}));
    let cutting = async {
        app.until_a_commit_sleeps().await;
        proxy.cut();
    };
    let (changed, ()) = tokio::join!(changing, cutting);
    changed.problem(503);
    // A reader loads the product before the commit lands...
    assert_eq!(app.anon().get(detail).await.json()["data"]["stock"], 50);
    // ... and once it has landed, nothing shows the stock from before it.
    app.until_counted("products WHERE id = 4 AND stock = 10")
        .await;
    assert_eq!(
        app.count("products WHERE id = 4 AND stock = 10").await,
        1,
        "the change did not commit"
    );
    for _ in 0..2 {
        let read = app.anon().get(detail).await.json();
        assert_eq!(read["data"]["stock"], 10, "{read}");
    }
}

/// Two instances, and the cache's Redis out of reach for one of them, which
/// then cannot see the versions. A read there that begins after a write the
/// other instance acknowledged must not share a load begun before that
/// write (it did, and showed the price from before it): it loads for
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_versions_a_read_after_another_instances_write_shares_no_older_load() {
    use diesel_async::SimpleAsyncConnection;
    let app = TestApp::seeded_with_admin().await;
    let blind = Arc::new(app.second_instance_with(|config| {
        config.cache_redis_url = Some(String::from("redis://127.0.0.1:1").into());
    }));
    // The features locked: the blind instance's load reads the product (its
    // price), then waits for them.
    let mut locker = app.db().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE features IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let read = |blind: &Arc<TestApp>| {
        let blind = blind.clone();
        tokio::spawn(async move { blind.anon().get("/api/products/1").await })
    };
    let before = read(&blind);
    crate::orders::until_one_waits_for_a_lock(&app).await;
    let changed = app
        .admin()
        .put("/api/products/1", json!({"price": "77.77"}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let after = read(&blind);
    // Time for the later read to join the earlier load, if it may.
    tokio::time::sleep(Duration::from_millis(300)).await;
    locker.batch_execute("COMMIT").await.unwrap();
    let after = after.await.unwrap();
    assert_eq!(after.status, StatusCode::OK, "{}", after.text());
    assert_eq!(after.json()["data"]["price"], "77.77");
    assert_eq!(before.await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn a_page_of_groups_showing_ten_thousand_products_is_cached_and_held_off_by_a_writer_of_any_of_them()
 {
    let app = TestApp::with_admin().await;
    let mut conn = app.db().await;
    for statement in [
        "INSERT INTO categories (category_name) SELECT 'Group ' || n FROM generate_series(1, 100) AS n",
        "INSERT INTO products (product_name, price, stock, category_id) \
         SELECT 'Item ' || n, 1, 1, c.id FROM categories c, generate_series(1, 100) AS n",
    ] {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(statement), &mut conn)
            .await
            .unwrap();
    }
    // Every group with its 100 products: the page shows 10,000 of them,
    // more than one Lua `unpack` gives.
    let path = "/api/categories?limit=100";
    let first = app.anon().get(path).await;
    assert_eq!(source(&first), "postgres");
    let groups = first.json()["data"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 100);
    assert!(
        groups
            .iter()
            .all(|group| group["products"].as_array().unwrap().len() == 100)
    );
    assert_eq!(source(&app.anon().get(path).await), "redis");
    // A writer of only the last product the page shows, far past the
    // first thousand, in flight: the page is answered from PostgreSQL and
    // not stored meanwhile; once it finishes, stored again.
    let last = i32::try_from(groups[99]["products"][99]["id"].as_i64().unwrap()).unwrap();
    let cache = &app.state.cache;
    let write = cache
        .begin_write(Retirement::of([catalog_cache::product(last)]))
        .await
        .unwrap();
    assert_eq!(source(&app.anon().get(path).await), "postgres");
    assert_eq!(source(&app.anon().get(path).await), "postgres");
    write.finish().await.unwrap();
    assert_eq!(source(&app.anon().get(path).await), "postgres");
    assert_eq!(source(&app.anon().get(path).await), "redis");
}
