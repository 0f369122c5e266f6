//! The metrics endpoint, in a test binary of its own: the recorder is
//! process-wide, so in `tests/api` every other test's requests would move
//! the same counters, and a counter this test's own requests failed to move
//! could pass unseen. Here each one must move by exactly what the test did.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use axum::http::{Method, StatusCode};
use emporium::domain::Role;
use serde_json::json;

use crate::helpers::TestApp;

/// The value of the series line `name{labels}` in a scrape (0 when absent).
fn series(scrape: &str, name_and_labels: &str) -> f64 {
    scrape
        .lines()
        .find(|line| {
            line.starts_with(name_and_labels) && line[name_and_labels.len()..].starts_with(' ')
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// A sign-in whose body never comes.
fn sign_in_whose_body_never_comes() -> axum::http::Request<axum::body::Body> {
    axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/auth/signin")
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(
            futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>(),
        ))
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_the_domain_events() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("meter@example.com", Role::Customer).await;
    let before = app.anon().get("/metrics").await.text();
    for id in [1, 2, 3, 1] {
        app.anon().get(&format!("/api/products/{id}")).await;
    }
    app.sign_in("meter@example.com", helpers::TEST_PASSWORD)
        .await;
    app.client(None)
        .send_json(
            Method::POST,
            "/api/auth/signin",
            json!({"email": "meter@example.com", "password": "wrong-password"}),
        )
        .await;
    let shopper = app.user(&token);
    let order = |quantity: i32| {
        shopper.send_json(
            Method::POST,
            "/api/orders",
            json!({"items": [{"product_id": 3, "quantity": quantity}]}),
        )
    };
    assert_eq!(order(1).await.status, StatusCode::CREATED);
    assert_eq!(order(1000).await.status, StatusCode::CONFLICT);
    // Answers made around the handler count too: a body past the limit...
    let oversized = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/auth/signup")
        .header("content-type", "application/json")
        .header("content-length", "100000000")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        app.anon().send_request(oversized).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // ...and a request past the timeout (its body never comes).
    let slow = TestApp::with_config(|config| {
        config.request_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let never = sign_in_whose_body_never_comes();
    assert_eq!(
        slow.anon().send_request(never).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A client that hangs up before its answer (its body never comes) is
    // counted too, as `closed`...
    let hung_up = sign_in_whose_body_never_comes();
    let gone = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        app.anon().send_request(hung_up),
    )
    .await;
    assert!(gone.is_err(), "the request was answered");
    // ...and a method the route does not take.
    assert_eq!(
        app.anon()
            .send(Method::PATCH, "/api/products", None, &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // An order whose client hung up while it committed is counted too: it
    // was placed.
    let slow = TestApp::seeded().await;
    let (_, late_token) = slow.quick_account("late@example.com", Role::Customer).await;
    slow.slow_commits_on("orders", "INSERT").await;
    let late = slow.user(&late_token);
    {
        // The request is driven until its commit sleeps, then dropped.
        let sending = late.send_json(
            Method::POST,
            "/api/orders",
            json!({"items": [{"product_id": 3, "quantity": 1}]}),
        );
        tokio::pin!(sending);
        tokio::select! {
            _ = &mut sending => panic!("answered before its commit slept"),
            () = slow.until_a_commit_sleeps() => {}
        }
    }
    slow.until_counted("orders").await;
    let placed_before = series(&before, "orders_placed_total");
    for _ in 0..100 {
        let now = series(
            &app.anon().get("/metrics").await.text(),
            "orders_placed_total",
        );
        if now - placed_before >= 2.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let scrape = app.anon().get("/metrics").await;
    // Every series is described.
    let mut typed = 0;
    for line in scrape.text().lines() {
        if let Some(series) = line.strip_prefix("# TYPE ") {
            let name = series.split(' ').next().unwrap();
            let help = format!("# HELP {name} ");
            assert!(scrape.text().contains(&help), "no HELP for {name}");
            typed += 1;
        }
    }
    assert!(typed >= 10, "only {typed} series have a TYPE line");
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let after = scrape.text();
    let moved = |name: &str, by: f64| {
        let delta = series(&after, name) - series(&before, name);
        assert_eq!(delta, by, "{name} moved by {delta}, not {by}\n{after}");
    };
    moved(
        "http_requests_total{method=\"GET\",route=\"/api/products/{id}\",status=\"2xx\"}",
        4.0,
    );
    moved(
        "http_requests_total{method=\"POST\",route=\"/api/auth/signup\",status=\"4xx\"}",
        1.0,
    );
    moved(
        "http_requests_total{method=\"POST\",route=\"/api/auth/signin\",status=\"5xx\"}",
        1.0,
    );
    moved(
        "http_requests_total{method=\"POST\",route=\"/api/auth/signin\",status=\"closed\"}",
        1.0,
    );
    moved(
        "http_requests_total{method=\"PATCH\",route=\"/api/products\",status=\"4xx\"}",
        1.0,
    );
    moved("signins_total{outcome=\"accepted\"}", 1.0);
    moved("signins_total{outcome=\"refused\"}", 1.0);
    moved("orders_placed_total", 2.0);
    moved("orders_refused_total{reason=\"stock\"}", 1.0);
    // Per app: this app's cache saw the misses and the hit.
    assert!(series(&after, "cache_misses_total{kind=\"product\"}") >= 3.0);
    assert!(series(&after, "cache_hits_total{kind=\"product\"}") >= 1.0);
    assert!(after.contains(
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/products/{id}\""
    ));
    assert!(series(&after, "db_pool_max_size") >= 1.0);
    assert_eq!(series(&after, "redis_connections"), 1.0);
    // Raw paths never become series.
    assert!(!after.contains("route=\"/api/products/1\""));
}
