//! Everything Redis does, on a real Redis Cluster (`REDIS_CLUSTER_NODES`):
//! three masters with a replica each, started on free loopback ports by
//! the test. The cache (with the stale-read race), sessions and their
//! instant revocation, rate limits, carts and idempotent orders; and a
//! master's failover, after which every session stays open.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use emporium::config::Config;
use emporium::domain::Role;
use emporium::rate_limit::{self, ClientNetwork, Decision};
use serde_json::json;

use crate::harness::ThrowawayRedisCluster;
use crate::helpers::{SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD, TestApp};
use crate::races::price_race;

async fn app_on(cluster: &ThrowawayRedisCluster) -> TestApp {
    let seeds = cluster.seeds();
    let app = TestApp::with_config(|config: &mut Config| {
        config.redis_url = String::new().into();
        config.redis_cluster_nodes = seeds.into_iter().map(Into::into).collect();
        config.auth_rate_limit.per_email = 3;
        // A write's WAIT for a replica gets half of this: a busy machine's
        // replica may take longer than the tests' usual 250 ms (half of 500).
        config.redis_timeout = Duration::from_secs(2);
    })
    .await;
    assert!(app.state.redis.is_cluster());
    app.seed().await;
    app
}

fn source(answer: &crate::helpers::TestResponse) -> &str {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.header("x-data-source").unwrap()
}

/// Cached documents in whatever slot their keys fall; then the reader/
/// writer race, writer and readers on two nodes: no stale read, and hits.
async fn served_from_the_cluster_with_no_stale_read(app: &Arc<TestApp>) {
    for path in [
        "/api/products/1",
        "/api/products?category=Shirts",
        "/api/tags/6",
        "/catwalk/products/1/styles",
    ] {
        app.anon().get(path).await;
        assert_eq!(source(&app.anon().get(path).await), "redis", "{path}");
    }
    let admin = app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    let race = price_race(
        app.clone(),
        vec![Arc::new(app.second_instance()), app.clone()],
        &admin,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(race.stale, 0, "stale reads with the cache on a cluster");
    assert!(race.redis_reads > 0, "no cache hit on the cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_and_sessions_hold_on_a_redis_cluster_with_no_stale_read() {
    let cluster = ThrowawayRedisCluster::start();
    let app = Arc::new(app_on(&cluster).await);
    served_from_the_cluster_with_no_stale_read(&app).await;
}

/// The capacity plan's topology (docs/scaling.md): sessions and rate limits
/// in a Redis of their own, cached documents in a cluster of their own
/// (`CACHE_REDIS_CLUSTER_NODES`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_on_a_cluster_of_its_own_serves_with_no_stale_read() {
    let cluster = ThrowawayRedisCluster::start();
    let seeds = cluster.seeds();
    let app = TestApp::with_config(|config: &mut Config| {
        config.cache_redis_cluster_nodes = seeds.into_iter().map(Into::into).collect();
        config.redis_timeout = Duration::from_secs(2);
    })
    .await;
    assert!(!app.state.redis.is_cluster());
    app.seed().await;
    let app = Arc::new(app);
    served_from_the_cluster_with_no_stale_read(&app).await;
    // Nothing of it in the sessions' Redis.
    let keys: Vec<String> = app
        .state
        .redis
        .query(redis::cmd("KEYS").arg(format!("{}product*", app.redis_prefix)))
        .await
        .unwrap();
    assert_eq!(keys, Vec::<String>::new());
    // Readiness reports the cache's Redis as a dependency of its own.
    let ready = app.anon().get("/health/ready").await.json();
    assert_eq!(ready["cache"], "up", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_rate_limits_carts_and_orders_work_on_a_redis_cluster() {
    let cluster = ThrowawayRedisCluster::start();
    let app = app_on(&cluster).await;
    let other_node = app.second_instance();
    let (_, first) = app
        .quick_account("shopper@emporium.test", Role::Customer)
        .await;
    let (_, second) = app
        .quick_account("shopper2@emporium.test", Role::Customer)
        .await;
    // Sessions: listed, and each revocation instant on every node.
    let phone = app
        .sign_in("shopper@emporium.test", crate::helpers::TEST_PASSWORD)
        .await;
    let listed = app.user(&first).get("/api/auth/sessions").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let sessions = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let phone_id = app.state.tokens.verify(&phone).unwrap().jti;
    assert!(
        sessions
            .iter()
            .any(|session| session["id"] == phone_id.as_str())
    );
    let revoked = app
        .user(&first)
        .delete(&format!("/api/auth/sessions/{phone_id}"))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text());
    assert_eq!(
        other_node.user(&phone).get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other_node.user(&first).get("/api/auth/me").await.status,
        StatusCode::OK
    );
    let everywhere = app
        .user(&first)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert!(everywhere.status.is_success(), "{}", everywhere.text());
    assert_eq!(
        other_node.user(&first).get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Rate limits count across nodes (3 attempts per email).
    let wrong = json!({"email": "shopper2@emporium.test", "password": "not-the-password-1"});
    for node in [&app, &other_node, &app] {
        assert_eq!(
            node.anon()
                .post("/api/auth/signin", wrong.clone())
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = other_node.anon().post("/api/auth/signin", wrong).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text()
    );
    // A cart (cached per user) and an idempotent order.
    let added = app
        .user(&second)
        .post("/api/cart/items", json!({"product_id": 1, "quantity": 1}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    app.user(&second).get("/api/cart").await;
    assert_eq!(
        source(&other_node.user(&second).get("/api/cart").await),
        "redis"
    );
    let idempotent = [("Idempotency-Key", "cluster-order-1")];
    let placed = app
        .client(Some(&second))
        .send(Method::POST, "/api/orders", None, &idempotent)
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let again = other_node
        .client(Some(&second))
        .send(Method::POST, "/api/orders", None, &idempotent)
        .await;
    assert_eq!(again.json()["data"]["id"], placed.json()["data"]["id"]);
    // An IPv6 client's /48 counts only what its /64 let through (each
    // bucket in a slot of its own, a call each).
    let prefix = &app.state.config.redis_key_prefix;
    let buckets_of = |address: &str| {
        ClientNetwork::of(address).buckets(2, Some(32), Duration::from_secs(60), |name| {
            format!("{prefix}cluster-limit:{name}")
        })
    };
    let hammering = buckets_of("2001:db8:5:1::1");
    let mut let_through = 0;
    for _ in 0..5 {
        if rate_limit::hit(&app.state.redis, &hammering).await.unwrap() == Decision::Allowed {
            let_through += 1;
        }
    }
    assert_eq!(let_through, 2);
    let site: u64 = app
        .state
        .redis
        .query(redis::cmd("GET").arg(&hammering[1].key))
        .await
        .unwrap();
    assert_eq!(
        site, 2,
        "the site counts the attempts its network let through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_masters_failover_keeps_every_session() {
    let mut cluster = ThrowawayRedisCluster::start_for_failover();
    let app = app_on(&cluster).await;
    let mut tokens = Vec::new();
    for user in 0..12 {
        let (id, token) = app
            .quick_account(&format!("failover{user}@emporium.test"), Role::Customer)
            .await;
        tokens.push((id, token));
    }
    // Kill the master that holds the first session's key; its replica
    // takes over (node timeout 1 s). Every session was written with WAIT
    // (`sessions::open`), so the replica has it.
    let claims = app.state.tokens.verify(&tokens[0].1).unwrap();
    let key = emporium::auth::sessions::session_key(&app.state, tokens[0].0, &claims.jti);
    let started = std::time::Instant::now();
    cluster.fail_over(&key);
    eprintln!("a replica took over in {:?}", started.elapsed());
    for (_, token) in &tokens {
        let mut answered = None;
        // The client finds the new master after a MOVED or a failed call.
        for _ in 0..40 {
            let status = app.user(token).get("/api/auth/me").await.status;
            if status != StatusCode::SERVICE_UNAVAILABLE {
                answered = Some(status);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(
            answered,
            Some(StatusCode::OK),
            "a session was lost in the failover"
        );
    }
}
