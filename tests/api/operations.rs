//! Health probes, fallbacks and the request id.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn liveness_and_readiness_report_each_dependency() {
    let app = TestApp::spawn().await;
    let live = app.anon().get("/health/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "ok");
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    let body = ready.json();
    assert_eq!(
        (body["postgres"].as_str(), body["redis"].as_str()),
        (Some("up"), Some("up"))
    );
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readiness_says_degraded_without_redis_and_fails_without_postgres() {
    let no_redis = TestApp::with_config(|config| {
        config.redis_url = "redis://127.0.0.1:1".to_owned().into();
    })
    .await;
    let body = no_redis.anon().get("/health/ready").await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(body.json()["redis"], "down");
    assert_eq!(body.json()["status"], "degraded");

    let no_postgres = TestApp::with_config(|config| {
        config.database_url = "postgres://postgres@127.0.0.1:1/nothing".to_owned().into();
        config.database_connect_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let response = no_postgres.anon().get("/health/ready").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json()["postgres"], "down");
    // And a read that needs it is a 503 problem with Retry-After, not a 500.
    let read = no_postgres.anon().get("/api/products").await;
    read.problem(503);
    assert!(read.header("retry-after").is_some());
}

/// Every write begins by retiring what it changes in the cache, so with the
/// cache's own Redis down every write answers 503: the node is degraded,
/// though reads go on (from PostgreSQL).
#[tokio::test]
async fn readiness_says_degraded_when_the_caches_own_redis_is_down() {
    let no_cache = TestApp::with_config(|config| {
        config.cache_redis_url = Some(String::from("redis://127.0.0.1:1").into());
    })
    .await;
    let ready = no_cache.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        (
            ready.json()["cache"].as_str(),
            ready.json()["redis"].as_str()
        ),
        (Some("down"), Some("up"))
    );
    assert_eq!(ready.json()["status"], "degraded");
}

/// A pool whose every connection is busy (a burst, checkouts queued on a
/// hot product) is not a PostgreSQL that is down: readiness must not take
/// every node out of rotation at the peak.
#[tokio::test]
async fn readiness_says_postgres_is_up_while_every_pooled_connection_is_busy() {
    let app = TestApp::with_config(|config| config.database_pool_size = 2).await;
    let busy = (app.state.db.get().await.ok(), app.state.db.get().await.ok());
    assert!(busy.0.is_some() && busy.1.is_some());
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert_eq!(ready.json()["postgres"], "up");
    drop(busy);
}

/// A PostgreSQL whose every connection slot is taken (pools sized to its
/// limit, all busy) is full, not down: readiness says `up`, and a request
/// waits for a pooled connection to come free (here, none does: a 503
/// after the wait) instead of being failed at once.
#[tokio::test]
async fn a_postgresql_with_every_slot_taken_is_full_not_down() {
    use diesel_async::AsyncConnection;

    let postgres = crate::harness::ThrowawayPostgres::start(&["max_connections=6"]);
    let url = postgres.url("emporium");
    let app = TestApp::on_database(&url, |config| {
        config.database_connect_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    // Every slot taken (the reserved ones too: the tests connect as the
    // superuser), the app's own pool among them.
    let mut held = Vec::new();
    while let Ok(conn) = diesel_async::AsyncPgConnection::establish(&url).await {
        held.push(conn);
    }
    assert!(!held.is_empty());
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert_eq!(ready.json()["postgres"], "up");
    drop(held);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    app.anon().get("/api/nothing-here").await.problem(404);
    app.anon()
        .send(Method::PATCH, "/api/products", None, &[])
        .await
        .problem(405);
}

#[tokio::test]
async fn the_request_id_is_taken_from_the_request_or_made_up() {
    let app = TestApp::spawn().await;
    let given = app
        .anon()
        .send(
            Method::GET,
            "/health/live",
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(given.header("x-request-id"), Some("abc-123"));
    let made = app.anon().get("/health/live").await;
    assert_eq!(made.header("x-request-id").map(str::len), Some(36));
}

#[tokio::test]
async fn the_openapi_document_lists_the_catalog_routes() {
    let app = TestApp::spawn().await;
    let document = app.anon().get("/api/openapi.json").await.json();
    for path in [
        "/api/products",
        "/api/products/{id}",
        "/api/categories",
        "/api/tags/{id}",
        "/health/ready",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_a_503_problem_with_retry_after() {
    // A fresh pool must open a PostgreSQL connection first: far over 1 ns.
    let app = TestApp::with_config(|config| {
        config.request_timeout = std::time::Duration::from_nanos(1);
    })
    .await;
    let response = app.anon().get("/api/products").await;
    response.problem(503);
    assert_eq!(response.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_a_413_problem() {
    let app = TestApp::with_config(|config| config.body_limit_bytes = 200).await;
    let signup =
        serde_json::json!({"email": "a@example.com", "password": "x".repeat(300), "name": "A"});
    app.anon()
        .post("/api/auth/signup", signup)
        .await
        .problem(413);
    assert_eq!(app.count("users").await, 0);
    let app = app.and_admin().await;
    let body = serde_json::json!({"category_name": "x".repeat(300)});
    app.admin().post("/api/categories", body).await.problem(413);
    assert_eq!(app.count("categories").await, 0);
}
