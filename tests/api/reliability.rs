//! What the service does when its dependencies fail or its clients
//! misbehave: PostgreSQL stopped and started under load, Redis killed and
//! frozen under load, clients that never finish a request, bursts of
//! sign-ins, floods of distinct queries. Each test starts and breaks its
//! own servers (see `harness`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use emporium::domain::Role;
use emporium::health::PROBE_TIMEOUT;
use emporium::server::{ConnectionLimits, MAX_HEAD_BYTES};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::harness::{TestServer, ThrowawayPostgres, ThrowawayRedis};
use crate::helpers::{SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD, TestApp, TestResponse};

/// Every answer a load saw, by status, and what was wrong with any.
#[derive(Default)]
struct Tally {
    by_status: std::collections::BTreeMap<u16, u64>,
    faults: Vec<String>,
    slowest_503: Duration,
}

impl Tally {
    /// Records `response`; a 5xx other than a 503 problem with `Retry-After`,
    /// or a 503 slower than `bound`, is a fault.
    fn record(&mut self, what: &str, response: &TestResponse, took: Duration, bound: Duration) {
        let status = response.status.as_u16();
        *self.by_status.entry(status).or_default() += 1;
        if status >= 500 {
            let problem = response.header("content-type") == Some("application/problem+json");
            let retry = response.header("retry-after").is_some();
            if status == 503 {
                self.slowest_503 = self.slowest_503.max(took);
            }
            if status != 503 || !problem || !retry {
                self.faults
                    .push(format!("{what}: {status} {}", response.text()));
            } else if took > bound {
                self.faults
                    .push(format!("{what}: a 503 after {took:?} (bound {bound:?})"));
            }
        }
    }
}

/// A page of products past those ever cached (and short of the deep ones,
/// which queue for slots), another each time: a read that must go to
/// PostgreSQL, at once.
fn uncached_read(counter: &AtomicU64) -> String {
    format!(
        "/api/products?page={}",
        11 + counter.fetch_add(1, Ordering::Relaxed) % 400
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_answers_503s_loses_no_order_and_recovers_at_once() {
    let postgres = ThrowawayPostgres::start(&[]);
    let connect_timeout = Duration::from_secs(2);
    let app = Arc::new(
        TestApp::on_database(&postgres.url("emporium"), |config| {
            config.database_connect_timeout = connect_timeout;
            config.database_pool_size = 8;
            config.auth_rate_limit.per_address = 100_000;
            config.auth_rate_limit.per_email = 100_000;
        })
        .await,
    );
    let product_id = seeded_with_socks(&app).await;
    let mut buyers = Vec::new();
    for n in 0..4 {
        buyers.push(
            app.quick_account(&format!("buyer{n}@example.com"), Role::Customer)
                .await
                .1,
        );
    }
    // A warm pool: every connection opened before the restart.
    let reads = Arc::new(AtomicU64::new(0));
    let warm: Vec<_> = (0..16)
        .map(|_| {
            let (app, path) = (app.clone(), uncached_read(&reads));
            tokio::spawn(async move { app.anon().get(&path).await.status })
        })
        .collect();
    for read in warm {
        assert_eq!(read.await.unwrap(), StatusCode::OK);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let placed = Arc::new(Mutex::new(Vec::<i64>::new()));
    let bound = connect_timeout + Duration::from_secs(1);
    let mut load = Vec::new();
    for reader in 0..3 {
        let (app, stop, tally, reads) = (app.clone(), stop.clone(), tally.clone(), reads.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let path = if reader == 0 {
                    "/api/products/1".to_owned()
                } else {
                    uncached_read(&reads)
                };
                let started = Instant::now();
                let response = app.anon().get(&path).await;
                tally
                    .lock()
                    .await
                    .record(&path, &response, started.elapsed(), bound);
            }
        }));
    }
    {
        // A shopper's other requests: who am I, the cart, signing in and up.
        let (app, stop, tally, token) =
            (app.clone(), stop.clone(), tally.clone(), buyers[0].clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let started = Instant::now();
                let (what, response) = match n % 4 {
                    0 => (
                        "GET /api/auth/me",
                        app.client(Some(&token)).request(Method::GET, "/api/auth/me").await,
                    ),
                    1 => (
                        "GET /api/cart",
                        app.client(Some(&token)).request(Method::GET, "/api/cart").await,
                    ),
                    2 => (
                        "POST /api/auth/signin",
                        app.client(None).send_json(Method::POST,
                            "/api/auth/signin",
                            json!({"email": "buyer0@example.com", "password": crate::helpers::TEST_PASSWORD}),
                        )
                        .await,
                    ),
                    _ => (
                        "POST /api/auth/signup",
                        app.client(None).send_json(Method::POST,
                            "/api/auth/signup",
                            json!({"email": format!("new{n}@example.com"), "password": "a-long-password", "name": "New"}),
                        )
                        .await,
                    ),
                };
                tally.lock().await.record(what, &response, started.elapsed(), bound);
            }
        }));
    }
    for (n, token) in buyers.iter().enumerate() {
        let (app, stop, tally, placed, token) = (
            app.clone(),
            stop.clone(),
            tally.clone(),
            placed.clone(),
            token.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut attempt = 0;
            while !stop.load(Ordering::Relaxed) {
                attempt += 1;
                let key = format!("buyer-{n}-{attempt}");
                let started = Instant::now();
                let response = app
                    .anon()
                    .send(
                        Method::POST,
                        "/api/orders",
                        Some(
                            json!({"items": [{"product_id": product_id, "quantity": 1}]})
                                .to_string()
                                .into(),
                        ),
                        &[
                            ("content-type", "application/json"),
                            ("authorization", &format!("Bearer {token}")),
                            ("idempotency-key", &key),
                        ],
                    )
                    .await;
                if response.status == StatusCode::CREATED {
                    placed
                        .lock()
                        .await
                        .push(response.json()["data"]["id"].as_i64().unwrap());
                }
                tally
                    .lock()
                    .await
                    .record("POST /api/orders", &response, started.elapsed(), bound);
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    // 503s counted from the outage on (a sign-in may be one before it: the
    // hashing slots are busy).
    let before = tally.lock().await.by_status.get(&503).copied().unwrap_or(0);
    let outage = Instant::now();
    postgres.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = tally.lock().await.by_status.get(&503).copied().unwrap_or(0) - before;
    postgres.start_again();
    let back = Instant::now();
    // The first request after PostgreSQL is back succeeds, and so do 40
    // concurrent uncached reads (each on a connection of the old pool or a
    // new one).
    let first = app.anon().get(&uncached_read(&reads)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let recovered_in = back.elapsed();
    let outage_lasted = back.duration_since(outage);
    let burst: Vec<_> = (0..40)
        .map(|_| {
            let (app, path) = (app.clone(), uncached_read(&reads));
            tokio::spawn(async move { app.anon().get(&path).await })
        })
        .collect();
    for read in burst {
        let read = read.await.unwrap();
        assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    let tally = tally.lock().await;
    eprintln!(
        "fault run: PostgreSQL down {outage_lasted:?}; {during} answers 503 during it (slowest {:?}); \
         first request after it answered in {recovered_in:?}; answers by status {:?}",
        tally.slowest_503, tally.by_status
    );
    assert!(tally.faults.is_empty(), "{:#?}", tally.faults);
    assert!(during > 0, "the outage was not seen: {:?}", tally.by_status);
    let placed = placed.lock().await;
    assert!(!placed.is_empty());
    assert_no_order_lost(&app, product_id, &placed).await;
}

#[tokio::test]
async fn a_postgres_that_accepts_and_never_answers_costs_a_503_and_the_attempt_is_given_up() {
    // A server that takes the connection and then says nothing (a hung
    // host, a proxy whose backend is gone): no attempt fails by itself.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let connect_timeout = Duration::from_millis(300);
    let app = TestApp::with_config(|config| {
        config.database_url = format!("postgres://postgres@127.0.0.1:{port}/silent").into();
        config.database_connect_timeout = connect_timeout;
    })
    .await;
    let started = Instant::now();
    let read = app.anon().get("/api/products").await;
    read.problem(503);
    assert!(read.header("retry-after").is_some());
    assert!(started.elapsed() < connect_timeout + Duration::from_secs(1));
    // The attempt behind it is given up at the connect timeout: its socket
    // is closed, not left to the operating system's minutes-long timeout
    // holding one of the pool's places.
    let (mut attempt, _) = tokio::time::timeout(Duration::from_secs(1), silent.accept())
        .await
        .expect("the app tried to connect")
        .unwrap();
    let closed = tokio::time::timeout(connect_timeout + Duration::from_secs(2), async {
        let mut buffer = [0_u8; 512];
        while let Ok(read) = attempt.read(&mut buffer).await
            && read > 0
        {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the hung connection attempt was never given up"
    );
}

#[tokio::test]
async fn the_commit_that_waits_for_the_disk_commits_only_a_whole_transaction() {
    use diesel_async::pooled_connection::PoolableConnection;
    use diesel_async::{AnsiTransactionManager, SimpleAsyncConnection, TransactionManager};
    let app = TestApp::spawn().await;
    let mut conn = app.db().await;
    // One level: committed, and diesel's bookkeeping closed (the connection
    // is fit to lend again, and can begin another transaction).
    AnsiTransactionManager::begin_transaction(&mut conn)
        .await
        .unwrap();
    conn.batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        .await
        .unwrap();
    emporium::db::commit_and_wait_for_disk(&mut conn)
        .await
        .unwrap();
    assert!(!conn.is_broken());
    // A savepoint still open inside: refused, and left for the pool to drop
    // (closing the connection rolls all of it back).
    AnsiTransactionManager::begin_transaction(&mut conn)
        .await
        .unwrap();
    AnsiTransactionManager::begin_transaction(&mut conn)
        .await
        .unwrap();
    conn.batch_execute("INSERT INTO kept VALUES (2)")
        .await
        .unwrap();
    assert!(
        emporium::db::commit_and_wait_for_disk(&mut conn)
            .await
            .is_err()
    );
    assert!(conn.is_broken());
    drop(conn);
    assert_eq!(app.count("kept").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_order_answered_201_survives_a_crash_of_postgres() {
    // Checkout commits without waiting for the disk, so that a hot
    // product's buyers do not queue behind each flush; it waits for the
    // disk before it answers. A crash loses what was not yet written: any
    // order answered 201 must not be among it.
    let postgres = ThrowawayPostgres::start(&[]);
    let app = Arc::new(
        TestApp::on_database(&postgres.url("emporium"), |config| {
            config.database_pool_size = 8;
        })
        .await,
    );
    let product_id = seeded_with_socks(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(Mutex::new(Vec::<i64>::new()));
    let mut buyers = Vec::new();
    for n in 0..6 {
        let token = app
            .quick_account(&format!("crash{n}@example.com"), Role::Customer)
            .await
            .1;
        let (app, stop, placed) = (app.clone(), stop.clone(), placed.clone());
        buyers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = app
                    .client(Some(&token))
                    .send_json(
                        Method::POST,
                        "/api/orders",
                        json!({"items": [{"product_id": product_id, "quantity": 1}]}),
                    )
                    .await;
                if response.status == StatusCode::CREATED {
                    placed
                        .lock()
                        .await
                        .push(response.json()["data"]["id"].as_i64().unwrap());
                }
            }
        }));
    }
    // 1.5 s at least, longer (half a minute at most) until enough orders
    // are placed to test anything on a busy machine.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while placed.lock().await.len() <= 30 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    postgres.crash();
    stop.store(true, Ordering::Relaxed);
    for buyer in buyers {
        buyer.await.unwrap();
    }
    postgres.start_again();
    let placed = placed.lock().await;
    assert!(placed.len() > 20, "too few orders placed: {}", placed.len());
    assert_no_order_lost(&app, product_id, &placed).await;
}

/// The stock every order of these tests buys from.
const SOCKS_STOCK: i32 = 1_000_000;

/// Seeds the app and adds a product with [`SOCKS_STOCK`] units: its id.
async fn seeded_with_socks(app: &TestApp) -> i64 {
    app.seed().await;
    let admin = app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    let created = app
        .client(Some(&admin))
        .send_json(
            Method::POST,
            "/api/products",
            json!({"product_name": "Fault Socks", "price": "3.00", "stock": SOCKS_STOCK}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    created.json()["data"]["id"].as_i64().unwrap()
}

/// No order answered 201 (`placed`) is missing, and the product's stock
/// plus the units sold is the stock it started with.
async fn assert_no_order_lost(app: &TestApp, product_id: i64, placed: &[i64]) {
    let (stored, stock, sold) = orders_and_stock(app, product_id as i32).await;
    let lost: Vec<&i64> = placed
        .iter()
        .filter(|id| !stored.contains(&(**id as i32)))
        .collect();
    eprintln!(
        "fault run: {} orders answered 201, {} stored, lost: {}",
        placed.len(),
        stored.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "orders answered 201 but lost: {lost:?}");
    assert_eq!(
        i64::from(stock) + sold,
        i64::from(SOCKS_STOCK),
        "stock plus units sold must be the starting stock"
    );
}

/// Every order's id, and the product's stock and units sold, as stored.
async fn orders_and_stock(app: &TestApp, product_id: i32) -> (Vec<i32>, i32, i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use emporium::schema::{order_lines, orders, products};
    let mut conn = app.db().await;
    let stored: Vec<i32> = orders::table
        .select(orders::id)
        .load(&mut conn)
        .await
        .unwrap();
    let sold: Option<i64> = order_lines::table
        .filter(order_lines::product_id.eq(product_id))
        .select(diesel::dsl::sum(order_lines::quantity))
        .first(&mut conn)
        .await
        .unwrap();
    let stock: i32 = products::table
        .find(product_id)
        .select(products::stock)
        .first(&mut conn)
        .await
        .unwrap();
    (stored, stock, sold.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_a_warm_pool_serves_concurrent_reads_without_an_error() {
    let postgres = ThrowawayPostgres::start(&[]);
    let app = Arc::new(
        TestApp::on_database(&postgres.url("emporium"), |config| {
            config.database_pool_size = 16;
        })
        .await,
    );
    app.seed().await;
    let reads = Arc::new(AtomicU64::new(0));
    for round in 0..3 {
        // Every pooled connection open and idle...
        let warm: Vec<_> = (0..16)
            .map(|_| {
                let (app, path) = (app.clone(), uncached_read(&reads));
                tokio::spawn(async move { app.anon().get(&path).await.status })
            })
            .collect();
        for read in warm {
            assert_eq!(read.await.unwrap(), StatusCode::OK);
        }
        // ...then `pg_ctl restart -m fast`, and 40 uncached reads at once.
        postgres.restart();
        let burst: Vec<_> = (0..40)
            .map(|_| {
                let (app, path) = (app.clone(), uncached_read(&reads));
                tokio::spawn(async move { app.anon().get(&path).await })
            })
            .collect();
        for read in burst {
            let read = read.await.unwrap();
            assert_eq!(
                read.status,
                StatusCode::OK,
                "round {round}: {}",
                read.text()
            );
        }
        // One at a time, the first request after a restart succeeds too.
        postgres.restart();
        let first = app.anon().get(&uncached_read(&reads)).await;
        assert_eq!(
            first.status,
            StatusCode::OK,
            "round {round}: {}",
            first.text()
        );
    }
}

#[tokio::test]
async fn readiness_answers_in_its_probe_time_whatever_is_down() {
    let postgres = ThrowawayPostgres::start(&[]);
    let mut redis = ThrowawayRedis::start(&[]);
    // Redis's own timeout far above the probe's: only the probe's bound can
    // make the answer come in time.
    let app = TestApp::on_database(&postgres.url("emporium"), |config| {
        config.redis_url = redis.url().into();
        config.redis_timeout = Duration::from_secs(10);
    })
    .await;
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());

    postgres.stop();
    redis.freeze();
    let started = Instant::now();
    let down = app.anon().get("/health/ready").await;
    let took = started.elapsed();
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.header("retry-after").is_some());
    assert_eq!(down.json()["postgres"], "down");
    assert_eq!(down.json()["redis"], "down");
    // Half a second on a quiet machine (the probe's 400 ms and the
    // answer); a second more of slack for a busy one running other tests.
    assert!(
        took < PROBE_TIMEOUT + Duration::from_secs(1),
        "took {took:?}"
    );
    redis.thaw();
    redis.kill();
    postgres.start_again();
}

#[tokio::test]
async fn a_flood_of_readiness_probes_while_the_pool_is_busy_opens_one_connection_at_a_time() {
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let app = TestApp::with_config(|config| config.database_pool_size = 1).await;
    // The pool's only connection is busy: each probe asks PostgreSQL on a
    // connection of its own.
    let held = app.state.db.get().await.unwrap();
    let mut observer = app.db().await;
    let anyone = app.anon();
    let probes = futures_util::future::join_all((0..50).map(|_| anyone.get("/health/ready")));
    let mut probes = std::pin::pin!(probes);
    let mut most = 0;
    let answers = loop {
        tokio::select! {
            answers = &mut probes => break answers,
            counted = diesel::sql_query(
                "SELECT count(*) AS count FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND backend_type = 'client backend'",
            )
            .get_result::<Count>(&mut observer) => {
                most = most.max(counted.unwrap().count);
            }
        }
    };
    drop(held);
    for answer in &answers {
        // PostgreSQL answers: ready, its pool only busy.
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    // The busy pooled connection and one probe's (and, for a moment, the
    // one before it closing): each probe opened its own, 15 or more at
    // once here, against a server's `max_connections` of 100.
    assert!((1..=3).contains(&most), "{most} connections at once");
}

#[tokio::test]
async fn sessions_outlive_a_restart_of_their_redis_as_deployed() {
    let mut redis = ThrowawayRedis::start_as_deployed("redis-sessions.conf");
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into()).await;
    app.quick_account("ray@example.com", Role::Customer).await;
    let signed_in = app
        .sign_in("ray@example.com", crate::helpers::TEST_PASSWORD)
        .await;
    let me = app.user(&signed_in).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    redis.restart();
    // The first request after the restart is answered, in the same session.
    let me = app.user(&signed_in).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["data"]["email"], "ray@example.com");
}

#[tokio::test]
async fn the_first_request_after_redis_is_back_is_answered_though_requests_failed_meanwhile() {
    let mut redis = ThrowawayRedis::start_as_deployed("redis-sessions.conf");
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into()).await;
    app.quick_account("sky@example.com", Role::Customer).await;
    let signed_in = app
        .sign_in("sky@example.com", crate::helpers::TEST_PASSWORD)
        .await;
    redis.kill();
    // While it is down, a signed-in request is told so.
    let down = app.user(&signed_in).get("/api/auth/me").await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text()
    );
    // The reconnection that request began has failed by now, and is kept.
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.start_again();
    let me = app.user(&signed_in).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
}

#[tokio::test]
async fn the_first_write_and_read_after_the_caches_redis_restarts_are_answered() {
    let mut cache = ThrowawayRedis::start(&[]);
    let app =
        TestApp::with_config(|config| config.cache_redis_url = Some(cache.url().into())).await;
    app.seed().await;
    let admin = app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    let read = app.anon().get("/api/products/1").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    cache.restart();
    // A write retires what it changes in the cache's Redis first.
    let changed = app
        .user(&admin)
        .put("/api/products/1", json!({"price": "15.49"}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let read = app.anon().get("/api/products/1").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["data"]["price"], "15.49");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_or_frozen_under_load_costs_no_500_and_no_stale_read() {
    let mut redis = ThrowawayRedis::start(&[]);
    let redis_timeout = Duration::from_millis(200);
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.redis_url = redis.url().into();
            config.redis_timeout = redis_timeout;
        })
        .await,
    );
    app.seed().await;
    let admin = app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    let (_, customer) = app
        .quick_account("shopper@example.com", Role::Customer)
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    // A read is never slower than Redis's timeout allows, plus PostgreSQL.
    let bound = Duration::from_secs(2);
    // The price the last acknowledged write set, in cents.
    let acknowledged = Arc::new(AtomicU64::new(1499));
    let stale = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for path in ["/api/products/1", "/api/categories/1", "/api/products"] {
        let (app, stop, tally, acknowledged, stale) = (
            app.clone(),
            stop.clone(),
            tally.clone(),
            acknowledged.clone(),
            stale.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let floor = acknowledged.load(Ordering::SeqCst);
                let started = Instant::now();
                let response = app.anon().get(path).await;
                tally
                    .lock()
                    .await
                    .record(path, &response, started.elapsed(), bound);
                if response.status == StatusCode::OK {
                    let body = response.json();
                    let product = match path {
                        "/api/products/1" => body["data"].clone(),
                        "/api/categories/1" => body["data"]["products"][0].clone(),
                        _ => body["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|product| product["id"] == 1)
                            .unwrap()
                            .clone(),
                    };
                    let cents: u64 = product["price"]
                        .as_str()
                        .unwrap()
                        .replace('.', "")
                        .parse()
                        .unwrap();
                    if cents < floor {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    {
        // A shopper's session reads, and an admin's price writes.
        let (shop, shop_stop, shop_tally) = (app.clone(), stop.clone(), tally.clone());
        load.push(tokio::spawn(async move {
            while !shop_stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response = shop
                    .client(Some(&customer))
                    .request(Method::GET, "/api/cart")
                    .await;
                shop_tally.lock().await.record(
                    "GET /api/cart",
                    &response,
                    started.elapsed(),
                    bound,
                );
            }
        }));
        let (app, stop, tally, acknowledged) = (
            app.clone(),
            stop.clone(),
            tally.clone(),
            acknowledged.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut cents = 1500;
            while !stop.load(Ordering::Relaxed) {
                let price = format!("{}.{:02}", cents / 100, cents % 100);
                let started = Instant::now();
                let response = app
                    .client(Some(&admin))
                    .send_json(Method::PUT, "/api/products/1", json!({"price": price}))
                    .await;
                tally.lock().await.record(
                    "PUT /api/products/1",
                    &response,
                    started.elapsed(),
                    bound,
                );
                if response.status == StatusCode::OK {
                    acknowledged.store(cents, Ordering::SeqCst);
                    cents += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.freeze();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.thaw();
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.start_again();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let tally = tally.lock().await;
    eprintln!("answers by status: {:?}", tally.by_status);
    assert!(tally.faults.is_empty(), "{:#?}", tally.faults);
    assert!(
        tally.by_status.get(&503).copied().unwrap_or(0) > 0,
        "the outage was not seen"
    );
    assert!(
        acknowledged.load(Ordering::SeqCst) > 1500,
        "no write was acknowledged: no read could have been stale"
    );
    assert_eq!(stale.load(Ordering::Relaxed), 0, "stale reads");
    // After the restart the cache works again.
    let mut back = false;
    for _ in 0..50 {
        app.anon().get("/api/products/1").await;
        if app
            .anon()
            .get("/api/products/1")
            .await
            .header("x-data-source")
            == Some("redis")
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the cache did not come back");
}

/// How a test's server takes connections; a drain of 5 s on shutdown.
fn limits(
    header_read_timeout: Duration,
    max_connections: usize,
    send_timeout: Duration,
) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout,
        max_connections,
        send_timeout,
        drain_timeout: Duration::from_secs(5),
    }
}

/// `GET /health/live` on a connection of its own, answered within `wait`
/// (or the test fails saying `why`); the whole answer, head first.
async fn health_on_a_new_connection(
    addr: std::net::SocketAddr,
    wait: Duration,
    why: &str,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(wait, stream.read_to_string(&mut answer))
        .await
        .expect(why)
        .unwrap();
    answer
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    let app = TestApp::spawn().await;
    let server = TestServer::start(
        app.router.clone(),
        limits(Duration::from_millis(500), 100, Duration::from_secs(5)),
    )
    .await;
    for sent in [
        &b""[..],
        b"GET /health/li",
        b"GET /health/live HTTP/1.1\r\nHost: x\r\n",
    ] {
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let mut buffer = Vec::new();
        // (Closed or reset, either way.)
        let _closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer))
            .await
            .expect("the server must close the connection");
        let took = started.elapsed();
        // Closed without an answer (hyper sends none for a head that never came).
        assert!(buffer.is_empty(), "{:?}", String::from_utf8_lossy(&buffer));
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(3),
            "{:?}: closed after {took:?}",
            String::from_utf8_lossy(sent)
        );
    }
    // A whole request is still answered.
    let answer = health_on_a_new_connection(server.addr, Duration::from_secs(5), "no answer").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_head_too_large_to_hold_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let server = TestServer::start(
        app.router.clone(),
        limits(Duration::from_secs(5), 100, Duration::from_secs(5)),
    )
    .await;
    let ask = |pad: usize| {
        format!(
            "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(pad)
        )
    };
    // A head past the buffer's bound is answered 431 and closed (or reset,
    // if the server closed before it read the rest), long before the
    // header timeout; it was served whole, held in a buffer of up to
    // 400 KiB a connection.
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let _ = stream.write_all(ask(100 * 1024).as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(4), stream.read_to_end(&mut answer))
        .await
        .expect("the server must end the connection before its header timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 431") || (read.is_err() && answer.is_empty()),
        "{answer:.200}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // A head within it (a long token, cookies, a request id) is served.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(ask(MAX_HEAD_BYTES - 1024).as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
}

#[tokio::test]
async fn bodies_trickled_by_many_clients_hold_no_more_than_their_budget() {
    // The budget is never below one body's limit: 1 MiB here.
    let app = TestApp::with_config(|config| config.bodies_in_flight_bytes = 1).await;
    let server = TestServer::start(
        app.router.clone(),
        limits(Duration::from_secs(5), 100, Duration::from_secs(5)),
    )
    .await;
    // A client sends all but the last byte of a sign-in's body and then
    // no more: its handler holds what came while it waits for the rest.
    let mut trickling = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    trickling
        .write_all(
            b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
        )
        .await
        .unwrap();
    trickling.write_all(&vec![b' '; 1_048_575]).await.unwrap();
    // Another body that would take the held bytes past the budget is
    // refused, to retry: nothing done, nothing more held.
    let body = format!(
        r#"{{"email": "a@example.com", "password": "{}"}}"#,
        "x".repeat(500_000)
    );
    let sign_in = async || {
        app.anon()
            .send_raw(
                Method::POST,
                "/api/auth/signin",
                body.clone().into_bytes(),
                "application/json",
            )
            .await
    };
    let refused = until(Duration::from_secs(5), async || {
        let answer = sign_in().await;
        (answer.status == StatusCode::SERVICE_UNAVAILABLE).then_some(answer)
    })
    .await
    .expect("a body past what bodies may hold at once was read all the same");
    let problem = refused.problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("too many request bodies")),
        "{problem}"
    );
    assert!(refused.header("retry-after").is_some());
    // An everyday body (its first 8 KiB are outside the budget) is still
    // answered: a client holding all but a byte of the budget refuses
    // nobody's sign-in.
    let everyday = app
        .anon()
        .post(
            "/api/auth/signin",
            json!({"email": "b@example.com", "password": "not the password"}),
        )
        .await;
    everyday.problem(401);
    // Once the trickling client leaves, its share comes back.
    drop(trickling);
    let answered = until(Duration::from_secs(5), async || {
        let answer = sign_in().await;
        (answer.status != StatusCode::SERVICE_UNAVAILABLE).then_some(answer)
    })
    .await
    .expect("the budget did not come back when the client left");
    assert!(answered.status.is_client_error(), "{}", answered.text());
}

/// The first answer `attempt` gives within `wait`, tried every 20 ms.
async fn until<T>(wait: Duration, mut attempt: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(answer) = attempt().await {
            return Some(answer);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stopping_waits_for_requests_in_flight_but_not_past_the_drain_timeout() {
    let app = TestApp::with_config(|config| {
        config.request_timeout = Duration::from_secs(30);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 10,
        send_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_millis(500),
    };
    let serving = tokio::spawn(emporium::server::serve_connections(
        listener,
        app.router.clone(),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    // A request in flight whose body never comes (as a client that stopped
    // reading its answer would hold its connection).
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the server stops by its drain timeout, not the request's 30 s")
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "stopped after {took:?}");
}

#[tokio::test]
async fn connections_past_the_bound_wait_until_one_is_free() {
    let app = TestApp::spawn().await;
    let server = TestServer::start(
        app.router.clone(),
        limits(Duration::from_millis(1000), 2, Duration::from_secs(5)),
    )
    .await;
    // Two silent clients take both slots...
    let started = Instant::now();
    let _silent: Vec<_> =
        futures_util::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(server.addr)))
            .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...so a third, complete request waits for the timeout to free one:
    // a second after they were accepted at the earliest, so a second after
    // `started`, however late the third came.
    let answer = health_on_a_new_connection(server.addr, Duration::from_secs(5), "no answer").await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_millis(950),
        "answered after {took:?}: the bound did not hold"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_gives_its_connection_back() {
    let app = TestApp::spawn().await;
    let server = TestServer::start(
        app.router.clone(),
        limits(Duration::from_secs(5), 2, Duration::from_millis(500)),
    )
    .await;
    // Two clients ask for large answers (the Swagger UI's script, over a
    // megabyte, ten times in a row: more than the kernel's send buffer
    // takes) through a small receive window, read the first bytes and then
    // no more: both slots are taken by writes that cannot go on.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(server.addr).await.unwrap();
        let ask = b"GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10);
        stream.write_all(&ask).await.unwrap();
        let mut start = [0u8; 12];
        stream.read_exact(&mut start).await.unwrap();
        assert_eq!(&start, b"HTTP/1.1 200");
        stalled.push(stream);
    }
    // A third client is answered: the stalled writes end their connections
    // by the send timeout, though their clients never hang up.
    let answer = health_on_a_new_connection(
        server.addr,
        Duration::from_secs(60),
        "the clients that stopped reading kept every connection",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(stalled);
}

#[tokio::test]
async fn a_burst_of_sign_ins_past_the_hashing_wait_is_told_to_retry() {
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.password_hash_wait = Duration::from_millis(1);
            config.auth_rate_limit.per_address = 1000;
            config.auth_rate_limit.per_email = 1000;
        })
        .await,
    );
    app.quick_account("burst@example.com", Role::Customer).await;
    let attempts: Vec<_> = (0..24)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.client(None).send_json(Method::POST,
                    "/api/auth/signin",
                    json!({"email": "burst@example.com", "password": crate::helpers::TEST_PASSWORD}),
                )
                .await
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for attempt in attempts {
        let response = attempt.await.unwrap();
        *statuses.entry(response.status.as_u16()).or_default() += 1;
        if response.status == StatusCode::SERVICE_UNAVAILABLE {
            response.problem(503);
            assert!(response.header("retry-after").is_some());
        } else {
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        }
    }
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&503),
        "{statuses:?}"
    );
}

/// Keeps every hashing slot of an app busy (with `password_hash_wait` set
/// short) until [`HashingBusy::end`].
struct HashingBusy {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl HashingBusy {
    async fn start(app: &Arc<TestApp>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        // More workers than the hasher has slots.
        let workers = (0..app.state.config.password_hash_slots + 4)
            .map(|_| {
                let (app, stop) = (app.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let hashed = app.state.hasher.hash_password("busy".to_owned().into());
                        if hashed.await.is_err() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        Self { stop, workers }
    }

    async fn end(self) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.unwrap();
        }
    }
}

#[tokio::test]
async fn sign_ins_the_server_could_not_check_are_not_counted_against_the_limit() {
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.password_hash_wait = Duration::from_millis(1);
            config.auth_rate_limit.per_email = 3;
        })
        .await,
    );
    app.quick_account("rush@example.com", Role::Customer).await;
    let sign_in = |email: String| {
        let app = app.clone();
        async move {
            let password = crate::helpers::TEST_PASSWORD;
            app.anon()
                .post(
                    "/api/auth/signin",
                    json!({"email": email, "password": password}),
                )
                .await
        }
    };
    let busy = HashingBusy::start(&app).await;
    // A shopper retrying through a burst, told 503 each time.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(sign_in("rush@example.com".into()).await.status.as_u16());
    }
    // An email no account can have is refused at once, without a slot.
    let long = format!("{}@example.com", "a".repeat(300));
    sign_in(long).await.problem(401);
    busy.end().await;
    assert!(!statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|status| **status == 503).count() > 3,
        "{statuses:?}"
    );
    let signed_in = sign_in("rush@example.com".into()).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text());
}

#[tokio::test]
async fn a_sessions_redis_out_of_memory_still_opens_the_sessions_it_holds() {
    let sessions = ThrowawayRedis::start(&["--maxmemory-policy", "noeviction"]);
    let cache = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| {
        config.redis_url = sessions.url().into();
        config.cache_redis_url = Some(cache.url().into());
    })
    .await;
    let (user_id, token) = app.quick_account("oom@example.com", Role::Customer).await;
    let client = redis::Client::open(sessions.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Its list gone (a session opened before sessions were listed), so that
    // the check lists it again: a write, which a full Redis refuses.
    let list = format!("{}user:sessions:{user_id}", app.redis_prefix);
    let _: i64 = redis::cmd("DEL")
        .arg(&list)
        .query_async(&mut conn)
        .await
        .unwrap();
    let set_limit = |bytes: &'static str| {
        let mut conn = conn.clone();
        async move {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(bytes)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    };
    set_limit("1").await;
    for path in ["/api/auth/me", "/api/cart"] {
        let read = app.client(Some(&token)).get(path).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.text());
    }
    set_limit("0").await;
    // With room again, it is listed as it is used.
    let me = app.client(Some(&token)).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    let listed: i64 = redis::cmd("HLEN")
        .arg(&list)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(listed >= 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_distinct_queries_signs_nobody_out() {
    let sessions =
        ThrowawayRedis::start(&["--maxmemory", "16mb", "--maxmemory-policy", "noeviction"]);
    let cache =
        ThrowawayRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru"]);
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.redis_url = sessions.url().into();
            config.cache_redis_url = Some(cache.url().into());
            config.cache_limits.open_queries_per_client = 50;
        })
        .await,
    );
    app.seed().await;
    let mut tokens = Vec::new();
    for n in 0..20 {
        tokens.push(
            app.quick_account(&format!("reader{n}@example.com"), Role::Customer)
                .await
                .1,
        );
    }
    // 3,000 distinct queries: searches, price ranges, deep pages.
    let started = Instant::now();
    let flood: Vec<_> = (0..8)
        .map(|worker| {
            let app = app.clone();
            tokio::spawn(async move {
                for n in 0..375 {
                    let path = match n % 3 {
                        0 => format!("/api/products?q=flood-{worker}-{n}"),
                        1 => format!("/api/products?minPrice={}", worker * 1000 + n),
                        _ => format!("/api/products?page={}", 11 + n),
                    };
                    assert_eq!(app.anon().get(&path).await.status, StatusCode::OK, "{path}");
                }
            })
        })
        .collect();
    for worker in flood {
        worker.await.unwrap();
    }
    // The budget is per minute from the first document: a flood that took
    // longer (a busy machine) may have had a budget a minute.
    let budgets = 1 + started.elapsed().as_secs() / 60;
    // Every session still opens, and a new one can still be made.
    for token in &tokens {
        let me = app
            .client(Some(token))
            .request(Method::GET, "/api/auth/me")
            .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    }
    app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    // The flood's documents are bounded by one client's budget(s).
    let client = redis::Client::open(cache.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let documents: Vec<String> =
        crate::helpers::redis_keys(&mut conn, &format!("{}*", app.redis_prefix))
            .await
            .into_iter()
            .map(|key| key[app.redis_prefix.len()..].to_owned())
            .filter(|key| key.starts_with("search:") || key.starts_with("products:"))
            .collect();
    assert!(
        !documents.is_empty() && documents.len() as u64 <= 50 * budgets,
        "{} documents kept: {documents:?}",
        documents.len()
    );
}

#[tokio::test]
async fn a_refused_query_is_a_422_at_once_with_postgresql_stuck_or_down() {
    use diesel_async::SimpleAsyncConnection;
    let postgres = ThrowawayPostgres::start(&[]);
    let app = TestApp::on_database(&postgres.url("emporium"), |_| {}).await;
    app.seed().await;
    // Up: the unknown category is named with the bad limit.
    let path = "/api/products?category=Nowhere&limit=500";
    let errors = app.anon().get(path).await.problem(422)["errors"].clone();
    assert!(
        errors.get("category").is_some() && errors.get("limit").is_some(),
        "{errors}"
    );
    // The categories locked (a stuck PostgreSQL, for this read), then
    // PostgreSQL down: the 422 answers at once all the same, naming what
    // it can.
    let refused_at_once = async |fault: &str| {
        let started = std::time::Instant::now();
        let errors = app.anon().get(path).await.problem(422)["errors"].clone();
        assert!(errors.get("limit").is_some(), "{fault}: {errors}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{fault}: the 422 waited {:?} on PostgreSQL",
            started.elapsed()
        );
    };
    let mut locker = app.db().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE categories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    refused_at_once("stuck").await;
    locker.batch_execute("COMMIT").await.unwrap();
    drop(locker);
    postgres.stop();
    refused_at_once("down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_to_the_cart_while_checking_out_is_never_a_503() {
    let app = Arc::new(TestApp::seeded().await);
    let (_, token) = app.quick_account("racer@example.com", Role::Customer).await;
    let stop = Arc::new(AtomicBool::new(false));
    let adder = {
        let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut product = 0;
            while !stop.load(Ordering::Relaxed) {
                product = product % 5 + 1;
                let response = app
                    .client(Some(&token))
                    .send_json(
                        Method::POST,
                        "/api/cart/items",
                        json!({"product_id": product, "quantity": 1}),
                    )
                    .await;
                statuses.push((response.status.as_u16(), response.text()));
            }
            statuses
        })
    };
    let mut orders = Vec::new();
    for _ in 0..40 {
        let response = app
            .client(Some(&token))
            .request(Method::POST, "/api/orders")
            .await;
        orders.push((response.status.as_u16(), response.text()));
    }
    stop.store(true, Ordering::Relaxed);
    let adds = adder.await.unwrap();
    for (status, body) in orders.iter().chain(adds.iter()) {
        // 201 placed, 409 out of stock, 422 an empty cart: never 5xx.
        assert!(matches!(status, 201 | 409 | 422), "{status}: {body}");
    }
    assert!(orders.iter().any(|(status, _)| *status == 201));
    assert!(
        adds.iter().any(|(status, _)| *status == 201),
        "no add went through: nothing raced the checkouts"
    );
}

#[tokio::test]
async fn small_things_are_refused_clearly() {
    let app = TestApp::with_admin().await;
    // A price is a decimal, not a decimal with spaces around it.
    let spaced = app
        .admin()
        .post(
            "/api/products",
            json!({"product_name": "Spaced", "price": " 1.00 "}),
        )
        .await;
    spaced.field_error("price");
    // Truncated JSON is malformed (400), whatever its first key.
    let truncated = app
        .admin()
        .send_raw(
            Method::POST,
            "/api/categories",
            br#"{"product_name": "x", "#.to_vec(),
            "application/json",
        )
        .await;
    truncated.problem(400);
    // An absurd request id is replaced, not echoed or logged whole.
    let huge = "x".repeat(8000);
    let response = app
        .admin()
        .send(
            Method::GET,
            "/api/products/999",
            None,
            &[("x-request-id", &huge)],
        )
        .await;
    let id = response.header("x-request-id").unwrap().to_owned();
    assert!(id.len() <= 128 && id != huge);
    response.problem(404);
    // A sane one is kept.
    let kept = app
        .admin()
        .send(
            Method::GET,
            "/health/live",
            None,
            &[("x-request-id", "trace-42")],
        )
        .await;
    assert_eq!(kept.header("x-request-id"), Some("trace-42"));
}

#[tokio::test]
async fn a_statement_postgresql_fails_for_its_own_reasons_is_a_503_to_retry() {
    let app = TestApp::seeded_with_admin().await;
    // PostgreSQL's own refusals, raised as it raises them (SQLSTATE and
    // text): a cancelled statement, a server that takes no writes, a full disk.
    for (code, text) in [
        ("57014", "canceling statement due to statement timeout"),
        ("25006", "cannot execute UPDATE in a read-only transaction"),
        (
            "53100",
            "could not extend file \"base/16384/16385\": No space left on device",
        ),
        // The lock table full (`max_locks_per_transaction`).
        ("53200", "out of shared memory"),
        // A parallel query's shared memory, a sort's temporary files, a
        // disk that fails, a page found broken.
        ("53000", "too many dynamic shared memory segments"),
        (
            "53400",
            "temporary file size exceeds temp_file_limit (1024kB)",
        ),
        (
            "58030",
            "could not read block 0 in file \"base/1/2\": Input/output error",
        ),
        ("XX001", "invalid page in block 7 of relation base/1/2"),
    ] {
        app.sql(&format!(
            "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN RAISE EXCEPTION '{text}' USING ERRCODE = '{code}'; END $$; \
             CREATE OR REPLACE TRIGGER refuse BEFORE UPDATE ON products \
               FOR EACH ROW EXECUTE FUNCTION refuse();"
        ))
        .await;
        let refused = app
            .admin()
            .put("/api/products/4", json!({"stock": 7}))
            .await;
        refused.problem(503);
        assert!(refused.header("retry-after").is_some(), "{code}");
        assert_eq!(app.count("products WHERE id = 4 AND stock = 7").await, 0);
    }
    app.sql("DROP TRIGGER refuse ON products").await;
    let changed = app
        .admin()
        .put("/api/products/4", json!({"stock": 7}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
}

#[tokio::test]
async fn a_deadlock_with_another_transaction_is_a_503_to_retry_and_changes_nothing() {
    use diesel_async::SimpleAsyncConnection;
    let app = TestApp::seeded_with_admin().await;
    app.customer_with_an_order(
        "buyer@example.com",
        json!([{"product_id": 4, "quantity": 1}]),
    )
    .await;
    // Another transaction holds the order's line, then waits for product 4,
    // which the admin's delete holds while it waits for the line (to cut
    // its link): PostgreSQL breaks the circle by failing the delete, the
    // first of the two to wait.
    let mut other = app.db().await;
    other
        .batch_execute("BEGIN; SELECT 1 FROM order_lines WHERE product_id = 4 FOR UPDATE")
        .await
        .unwrap();
    let crossing = async {
        // Of this test's database: other tests run beside it.
        let waiting = "pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                       WHERE a.datname = current_database() \
                       AND l.locktype = 'transactionid' AND NOT l.granted";
        while app.count(waiting).await == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        other
            .batch_execute("SELECT 1 FROM products WHERE id = 4 FOR UPDATE")
            .await
    };
    let admin = app.admin();
    let (deleted, crossed) = tokio::join!(admin.delete("/api/products/4"), crossing);
    crossed.unwrap();
    other.batch_execute("ROLLBACK").await.unwrap();
    deleted.problem(503);
    assert!(deleted.header("retry-after").is_some());
    assert_eq!(app.count("products WHERE id = 4").await, 1);
    assert_eq!(
        app.admin().delete("/api/products/4").await.status,
        StatusCode::NO_CONTENT
    );
}

/// A page read by `OFFSET` deep into a million products takes seconds, an
/// uncached search hundreds of milliseconds (docs/performance.md). A crowd
/// of either, stuck here behind a lock on the products, holds a quarter of
/// the pool at most: the others queue for a
/// slot (a 503 with `Retry-After` when they wait too long), and a shopper's
/// request that needs a connection is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deep_pages_hold_at_most_a_quarter_of_the_pool_and_everyone_else_is_served() {
    use diesel_async::SimpleAsyncConnection;
    let app = Arc::new(
        TestApp::with_config(|config| {
            config.database_pool_size = 8;
            config.database_connect_timeout = Duration::from_secs(3);
            // Its lock waits (two thirds of it) must outlast the test's own
            // counting of them on a loaded machine: at 15 s, one reached
            // its `lock_timeout` in a CI run and the count read 3.
            config.request_timeout = Duration::from_secs(60);
        })
        .await,
    );
    let (_, token) = app
        .quick_account("shopper@example.com", Role::Customer)
        .await;
    let (_, admin) = app.quick_account("clerk@example.com", Role::Admin).await;
    let mut locker = app.db().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE products, orders IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let deep: Vec<_> = (0..12)
        .map(|n| {
            let (app, admin) = (app.clone(), admin.clone());
            let path = match n % 3 {
                0 => format!("/catwalk/products?page={}&count=100", 200 + n),
                1 => format!("/api/orders?page={}&limit=100", 200 + n),
                _ => format!("/api/products?page={}&limit=100", 200 + n),
            };
            tokio::spawn(async move { (app.user(&admin).get(&path).await, path) })
        })
        .collect();
    // Searches nobody made before (each a miss) are as costly: they have
    // slots of their own, as many.
    let searches: Vec<_> = (0..6)
        .map(|n| {
            let app = app.clone();
            let path = format!("/api/products?q=lantern{n}");
            tokio::spawn(async move { (app.anon().get(&path).await, path) })
        })
        .collect();
    // Only the deep pages and searches read the products and the orders:
    // every wait on the lock is one.
    let stuck = "pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count(stuck).await < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for any more of them to reach PostgreSQL, if they could.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.count(stuck).await,
        4,
        "deep pages and searches in PostgreSQL at once (two of each), with a pool of 8"
    );
    let me = app.user(&token).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());

    // Their clients give up; PostgreSQL still reads for two of them, and
    // their slots stay taken until it is done: twelve more deep pages
    // still get no further, and shoppers still get connections at once.
    for page in deep {
        page.abort();
    }
    let deep: Vec<_> = (0..12)
        .map(|n| {
            let (app, admin) = (app.clone(), admin.clone());
            let path = format!("/api/products?page={}&limit=100", 300 + n);
            tokio::spawn(async move { (app.user(&admin).get(&path).await, path) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.count(stuck).await,
        4,
        "deep pages in PostgreSQL once their clients left (beside two searches)"
    );
    for _ in 0..8 {
        let me = tokio::time::timeout(Duration::from_secs(3), app.user(&token).get("/api/auth/me"))
            .await
            .expect("a shopper's request waited behind a deep page");
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    }

    locker.batch_execute("COMMIT").await.unwrap();
    // Each is served, or told to retry.
    for (reads, kind) in [(deep, "deep pages"), (searches, "searches")] {
        let mut served = 0;
        for read in reads {
            let (response, path) = read.await.unwrap();
            match response.status.as_u16() {
                200 => served += 1,
                503 => assert!(response.header("retry-after").is_some(), "{path}"),
                status => panic!("{path}: {status} {}", response.text()),
            }
        }
        assert!(served >= 2, "{served} {kind} served");
    }
}

/// A write whose body is still on its way when the request timeout ends it
/// never reached its handler: its 503 says nothing was done.
#[tokio::test]
async fn a_write_whose_body_never_arrives_is_told_nothing_was_done() {
    let app = TestApp::with_config(|config| {
        config.request_timeout = Duration::from_millis(300);
    })
    .await;
    let (_, token) = app.quick_account("ray@example.com", Role::Customer).await;
    let cut = app
        .anon()
        .send_request(stalled_post("/api/cart/items", &token, 40))
        .await;
    let detail = cut.problem(503)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("nothing was done"), "{detail}");
    assert!(cut.header("retry-after").is_some());
    assert_eq!(app.count("cart_items").await, 0);
}

/// A signed-in JSON `POST` whose body of `length` bytes never comes.
fn stalled_post(path: &str, token: &str, length: usize) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("content-length", length.to_string())
        .body(axum::body::Body::from_stream(
            futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>(),
        ))
        .unwrap()
}

/// A handler that takes no body acts without reading one: a cancellation
/// sent with a body that never comes, cut off while it waits for a lock,
/// may have taken effect, and its 503 says so.
#[tokio::test]
async fn a_write_that_reads_no_body_is_not_told_nothing_was_done() {
    let app = TestApp::seeded().await;
    let impatient = app.second_instance_with(|config| {
        config.request_timeout = Duration::from_secs(2);
    });
    let (_, token) = app.quick_account("rex@example.com", Role::Customer).await;
    let placed = impatient
        .user(&token)
        .post(
            "/api/orders",
            json!({"items": [{"product_id": 3, "quantity": 1}]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let id = placed.json()["data"]["id"].as_i64().unwrap();
    app.at_commits_on("orders", "UPDATE", "slower_commit", "PERFORM pg_sleep(4)")
        .await;
    let stalled = stalled_post(&format!("/api/orders/{id}/cancel"), &token, 2);
    let cut = impatient.anon().send_request(stalled).await;
    let detail = cut.problem(503)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("may have taken effect"), "{detail}");
    // And it did.
    app.until_counted("orders WHERE status = 'cancelled'").await;
}

/// A write the request timeout cuts off may still commit (its transaction
/// is whole either way); its 503 says so, where a read's says to retry (a
/// cart add retried on "retry it" added its quantity twice).
#[tokio::test]
async fn a_write_cut_off_by_the_request_timeout_says_it_may_have_taken_effect() {
    let app = TestApp::seeded().await;
    let impatient = app.second_instance_with(|config| {
        config.request_timeout = Duration::from_secs(2);
    });
    let (_, token) = app.quick_account("rue@example.com", Role::Customer).await;
    // Its pool and connections warmed, so that only the commit is slow.
    let cart = impatient.user(&token).get("/api/cart").await;
    assert_eq!(cart.status, StatusCode::OK, "{}", cart.text());
    app.at_commits_on(
        "cart_items",
        "INSERT",
        "slower_commit",
        "PERFORM pg_sleep(4)",
    )
    .await;
    let cut = impatient
        .user(&token)
        .post("/api/cart/items", json!({"product_id": 1, "quantity": 1}))
        .await;
    let detail = cut.problem(503)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("may have taken effect"), "{detail}");
    assert!(cut.header("retry-after").is_some());
    // And it did.
    app.until_counted("cart_items").await;
    assert_eq!(app.count("cart_items").await, 1);
}
