//! PostgreSQL read replicas (`DATABASE_REPLICA_URLS`): cacheable reads come
//! from a replica only once it has replayed the last acknowledged write, so
//! no read is stale, from any node, however far behind the replica is; a
//! replica that is down or behind is passed over, and `/health/ready` says
//! so. Every replica here is a real streaming standby the test makes from a
//! throwaway primary (`pg_basebackup -R`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use emporium::cache::Retirement;
use emporium::catalog::cache as catalog_cache;
use emporium::config::Config;
use emporium::replicas;
use serde_json::json;

use crate::harness::{ThrowawayPostgres, ThrowawayRedis};
use crate::helpers::TestApp;
use crate::races::price_race;

/// An app on `primary`'s database `emporium`, seeded, with an admin, its
/// misses read from `replica` when it is current.
async fn app_with_replica(
    primary: &ThrowawayPostgres,
    replica_settings: &[&str],
) -> (Arc<TestApp>, ThrowawayPostgres) {
    let url = primary.url("emporium");
    // The database exists before the replica is made from the primary.
    emporium::db::ensure_database(&url).await.unwrap();
    let replica = primary.replica(replica_settings);
    let replica_url = replica.url("emporium");
    let app = TestApp::on_database(&url, |config: &mut Config| {
        config.database_replica_urls = vec![replica_url.into()];
        config.cache_limits.open_queries_per_client = 1;
    })
    .await;
    app.seed().await;
    (Arc::new(app.and_admin().await), replica)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_current_replica_serves_misses_and_no_read_is_ever_stale() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, replica) = app_with_replica(&primary, &[]).await;
    // Writer and readers on different nodes, both reading the replica.
    let other_node = Arc::new(app.second_instance());
    let token = app.admin_token().to_owned();
    let race = price_race(
        app.clone(),
        vec![other_node.clone(), app.clone()],
        &token,
        Duration::from_secs(4),
    )
    .await;
    assert_eq!(race.stale, 0, "stale reads");
    // The lag seen here (printed for docs/scaling.md, not asserted): how long
    // after a write's commit the replica has replayed it.
    let mut primary = app.state.db.get().await.unwrap();
    let standby = emporium::db::Database::at(&replica.url("emporium"), &app.state.config);
    let mut standby_conn = standby.get().await.unwrap();
    let mut lags = Vec::new();
    for cents in 0..20 {
        let price = format!("{}.{:02}", 30 + cents / 100, cents % 100);
        let answer = app
            .admin()
            .put("/api/products/2", json!({ "price": price }))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        let written = replicas::primary_position(&mut primary).await.unwrap();
        let started = Instant::now();
        while replicas::replayed(&mut standby_conn).await.unwrap() < written {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        lags.push(started.elapsed());
    }
    lags.sort();
    eprintln!(
        "replica lag after a write: median {:?}, max {:?}",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    let (served, _) = other_node.state.replicas.counts();
    let (served_here, _) = app.state.replicas.counts();
    assert!(
        served + served_here > 0,
        "no miss was served by the replica: the test exercised only the primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_seconds_behind_is_passed_over_until_it_has_caught_up() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, _replica) = app_with_replica(&primary, &["recovery_min_apply_delay = '3s'"]).await;
    let token = app.admin_token().to_owned();
    let race = price_race(
        app.clone(),
        vec![Arc::new(app.second_instance()), app.clone()],
        &token,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(race.stale, 0, "stale reads from a replica 3 s behind");
    let (_, passed_over) = app.state.replicas.counts();
    assert!(passed_over > 0, "the lagging replica was never passed over");
    // Once it has replayed the last write, misses come from it again
    // (each list below is a query of its own: a miss).
    assert!(
        the_replica_serves_a_miss(&app, 1..=100).await,
        "the replica never served again after catching up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_without_replicas_records_where_its_writes_got_to_for_the_nodes_with_them() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, _replica) = app_with_replica(&primary, &["recovery_min_apply_delay = '2s'"]).await;
    // A write from the node with the replica records a position, which the
    // replica has replayed two seconds later.
    let first = app
        .admin()
        .put("/api/products/2", json!({"price": "31.00"}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Writes from a node (or a command) set up without the replica, read on
    // the node with it.
    let writer = Arc::new(app.second_instance_with(|config| config.database_replica_urls.clear()));
    let token = app.admin_token().to_owned();
    let race = price_race(writer, vec![app.clone()], &token, Duration::from_secs(2)).await;
    assert_eq!(race.stale, 0, "stale reads of writes made without replicas");
    let (_, passed_over) = app.state.replicas.counts();
    assert!(passed_over > 0, "the lagging replica was never passed over");
    // Passed over because the writes' positions were recorded, not because
    // replica reads were turned off for good.
    let recorded: u64 = app.on_cache_clock("HGET", "lsn").await;
    assert!(recorded < replicas::Lsn::UNKNOWN.0, "{recorded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_is_down_is_skipped_and_readiness_says_so() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, replica) = app_with_replica(&primary, &[]).await;
    let ready = replica_readiness_becomes(&app, "ok").await;
    assert_eq!(ready["status"], "ready");
    a_miss_is_served_by_the_replica(&app).await;
    replica.stop();
    misses_answer_from_the_primary(&app).await;
    let ready = app.anon().get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "a replica is not needed");
    let ready = ready.json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["replicas"][0]["status"], "down", "{ready}");
    assert!(
        ready["replicas"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("/emporium")
    );
    replica.start_again();
    replica_readiness_becomes(&app, "ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_is_passed_over_and_readiness_says_it_is_down() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, replica) = app_with_replica(&primary, &[]).await;
    replica_readiness_becomes(&app, "ok").await;
    a_miss_is_served_by_the_replica(&app).await;
    // The replica's pool holds open connections when its host goes quiet.
    replica.freeze();
    let thawed = ThawOnDrop(&replica);
    misses_answer_from_the_primary(&app).await;
    let ready = app.anon().get("/health/ready").await.json();
    assert_eq!(ready["replicas"][0]["status"], "down", "{ready}");
    drop(thawed);
    replica_readiness_becomes(&app, "ok").await;
}

/// A miss that the replica answers (lists of sizes no other read asks
/// for, tried until the replica has replayed what the app's start wrote):
/// what a fault then takes away is really on the read path.
async fn a_miss_is_served_by_the_replica(app: &TestApp) {
    assert!(
        the_replica_serves_a_miss(app, 6..=19).await,
        "the replica served no miss before the fault"
    );
}

/// Lists of each size in `limits` (each a query of its own: a miss), one
/// every 100 ms, until a replica serves one; whether one did.
async fn the_replica_serves_a_miss(app: &TestApp, limits: std::ops::RangeInclusive<i64>) -> bool {
    let (before, _) = app.state.replicas.counts();
    for limit in limits {
        let answer = app
            .anon()
            .get(&format!("/api/products?limit={limit}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        if app.state.replicas.counts().0 > before {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Five misses (lists of five sizes), each answered from the primary, the
/// replica passed over for each (not waited for: a frozen one costs a read
/// its checkout wait, not the request's timeout).
async fn misses_answer_from_the_primary(app: &TestApp) {
    let (served, passed_over) = app.state.replicas.counts();
    for limit in 1..=5 {
        let asked = Instant::now();
        let answer = app
            .anon()
            .get(&format!("/api/products?limit={limit}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(answer.header("x-data-source"), Some("postgres"));
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "a miss waited {:?} for a replica that does not answer",
            asked.elapsed()
        );
    }
    let (served_after, passed_over_after) = app.state.replicas.counts();
    assert_eq!(
        served_after, served,
        "a replica served a read during the fault"
    );
    assert!(
        passed_over_after >= passed_over + 5,
        "each miss passes the replica over to the primary: {passed_over} -> {passed_over_after}"
    );
}

/// Thaws a frozen server when dropped, a failed assertion's unwinding
/// included (a server left stopped would outlive the test).
struct ThawOnDrop<'a>(&'a ThrowawayPostgres);

impl Drop for ThawOnDrop<'_> {
    fn drop(&mut self) {
        self.0.thaw();
    }
}

/// Readiness once it says `status` of the first replica; asked again for up
/// to ten seconds (a replica just started, or a busy machine, can take
/// longer than one probe's 400 ms to answer).
async fn replica_readiness_becomes(app: &TestApp, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app.anon().get("/health/ready").await.json();
        if ready["replicas"][0]["status"] == status || Instant::now() > deadline {
            assert_eq!(ready["replicas"][0]["status"], status, "{ready}");
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_position_cannot_be_recorded_is_not_acknowledged() {
    let primary = ThrowawayPostgres::start(&[]);
    let redis = ThrowawayRedis::start(&[]);
    let url = primary.url("emporium");
    emporium::db::ensure_database(&url).await.unwrap();
    let replica = primary.replica(&[]);
    let replica_url = replica.url("emporium");
    let redis_url = redis.url();
    let app = TestApp::on_database(&url, |config: &mut Config| {
        config.database_replica_urls = vec![replica_url.into()];
        config.redis_url = redis_url.into();
    })
    .await;
    let write = app
        .state
        .cache
        .begin_write(Retirement::of([catalog_cache::product(1)]))
        .await
        .unwrap();
    // Redis stops answering after the commit: the write's WAL position
    // cannot be recorded, so a replica could still show the old data, and
    // the write must not be acknowledged as done.
    redis.freeze();
    let finished = write.finish().await;
    redis.thaw();
    let Err(refused) = finished else {
        panic!("acknowledged with its position unrecorded");
    };
    // It did take effect: the client is told to read before it sends the
    // write again (a cart add or an order sent again is made twice).
    let detail = refused.to_string();
    assert!(
        detail.contains("is saved") && detail.contains("read what it changed before"),
        "{detail}"
    );
}

/// A replica that has replayed every acknowledged write answers for itself,
/// a 404 included: only a failure of the replica's own sends the read to
/// the primary (which here could not answer at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_current_replica_answers_for_a_product_that_does_not_exist() {
    let primary = ThrowawayPostgres::start(&[]);
    let (app, replica) = app_with_replica(&primary, &[]).await;
    let written = app
        .admin()
        .put("/api/products/2", json!({ "price": "31.00" }))
        .await;
    assert_eq!(written.status, StatusCode::OK);
    // The replica has replayed the write before the primary freezes (its
    // WAL sender freezes with it).
    let at = replicas::primary_position(&mut app.state.db.get().await.unwrap())
        .await
        .unwrap();
    let standby = emporium::db::Database::at(&replica.url("emporium"), &app.state.config);
    let mut standby = standby.get().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas::replayed(&mut standby).await.unwrap() < at {
        assert!(
            Instant::now() < deadline,
            "the replica never replayed the write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (served, passed_over) = app.state.replicas.counts();
    primary.freeze();
    let missing = tokio::time::timeout(
        Duration::from_secs(5),
        app.anon().get("/api/products/999999"),
    )
    .await;
    primary.thaw();
    missing
        .expect("the read went on to the frozen primary")
        .problem(404);
    assert_eq!(app.state.replicas.counts(), (served + 1, passed_over));
}
