//! `GET /metrics`: Prometheus text, through the `metrics` facade and its
//! Prometheus exporter (the Rust ecosystem's common pair; the exporter
//! renders the text format itself, so no HTTP listener of its own is run).
//!
//! Series:
//! - `http_requests_total{method, route, status}` and
//!   `http_request_duration_seconds{method, route}`: by the matched route
//!   template (`/api/products/{id}`), never the raw path, and status class.
//! - `cache_hits_total`, `cache_misses_total`, `cache_stale_skips_total`,
//!   `cache_redis_errors_total`, `cache_coalesced_total`,
//!   `cache_over_budget_total`, each `{kind}`.
//! - `db_pool_connections`, `db_pool_idle_connections`, `db_pool_max_size`,
//!   and `redis_connections` (one multiplexed connection when up).
//! - `replica_reads_total{served_by}`: cache misses a replica could have
//!   served, answered by a current `replica` or passed to the `primary`.
//! - `orders_placed_total`, `orders_refused_total{reason}`,
//!   `signins_total{outcome}` (accepted, refused, rate_limited).
//! - `password_hash_busy_total`: sign-ins and sign-ups told to retry because
//!   every hashing slot stayed busy; `deep_pages_refused_total` and
//!   `searches_refused_total`: deep `OFFSET` pages and uncached name
//!   searches told to retry because their share of the pool was busy.

use std::collections::HashSet;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets, in seconds: sub-millisecond cache hits to slow loads.
/// Past 5 s: a full pool's wait, a lock's timeout (10 s) and the request
/// timeout (15 s by default) each fall in a bucket of their own.
const BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0, 15.0, 30.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &BUCKETS,
                )
                .expect("the buckets are not empty")
                .install_recorder()
                .inspect(|_| describe())
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// The `# HELP` line of every series this process records.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by method, route template and status class"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route template"
    );
    describe_counter!(
        "cache_hits_total",
        "Cacheable reads answered from Redis, by kind of document"
    );
    describe_counter!(
        "cache_misses_total",
        "Cacheable reads answered from PostgreSQL, by kind of document"
    );
    describe_counter!(
        "cache_stale_skips_total",
        "Documents not served or not stored because a write retired them meanwhile"
    );
    describe_counter!(
        "cache_redis_errors_total",
        "Cache operations that failed or timed out (the read went to PostgreSQL)"
    );
    describe_counter!(
        "cache_coalesced_total",
        "Misses that waited for another request's load of the same document"
    );
    describe_counter!(
        "cache_over_budget_total",
        "Open-ended queries not cached because the client's budget was spent"
    );
    describe_counter!("orders_placed_total", "Orders placed");
    describe_counter!(
        "orders_refused_total",
        "Orders refused, by reason (stock, price, ...)"
    );
    describe_counter!(
        "password_hash_busy_total",
        "Sign-ups and sign-ins answered 503 because every hashing slot stayed busy"
    );
    describe_counter!("signins_total", "Sign-in attempts, by outcome");
    describe_counter!(
        "deep_pages_refused_total",
        "Pages deep into a list answered 503 because their slots stayed busy"
    );
    describe_counter!(
        "searches_refused_total",
        "Uncached name searches answered 503 because their slots stayed busy"
    );
    describe_counter!(
        "replica_reads_total",
        "Cache misses a replica could serve, by what served them (replica, primary)"
    );
    describe_gauge!(
        "db_pool_connections",
        "PostgreSQL connections the pool holds"
    );
    describe_gauge!(
        "db_pool_idle_connections",
        "PostgreSQL connections of the pool not in use"
    );
    describe_gauge!(
        "db_pool_max_size",
        "Most PostgreSQL connections the pool opens"
    );
    describe_gauge!(
        "redis_connections",
        "1 when Redis answered PING at the scrape, else 0"
    );
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into their buckets every few seconds. The
/// exporter keeps every sample until then; without this, a server that is
/// not scraped grows by eight bytes per request (about 20 MB over a few
/// minutes of the Catwalk benchmark).
pub fn spawn_upkeep() {
    let handle = handle();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Counts each request by its route template and status class. The label
/// values are static strings (route templates interned once each, standard
/// methods and status classes as constants, anything else `other`), so
/// counting a request allocates nothing for them. A request dropped before
/// its answer (its client hung up, so hyper dropped it; or a stop's drain
/// ended with it running) is counted as `closed`, and logged, so that a slow
/// spell clients gave up on still shows.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| route_label(path.as_str()));
    let mut tally = Tally {
        method: method_label(request.method()),
        route,
        started: Instant::now(),
        answered: false,
        span: tracing::Span::current(),
    };
    let response = next.run(request).await;
    tally.answered = true;
    tally.count(match response.status().as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    });
    response
}

/// One request's count, made when it is answered or dropped unanswered.
struct Tally {
    method: &'static str,
    route: &'static str,
    started: Instant,
    answered: bool,
    /// The request's: a drop runs outside it.
    span: tracing::Span,
}

impl Tally {
    fn count(&self, status: &'static str) {
        let (method, route) = (self.method, self.route);
        metrics::counter!("http_requests_total", "method" => method, "route" => route, "status" => status)
            .increment(1);
        metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if !self.answered {
            self.count("closed");
            self.span.in_scope(|| {
                // Its client hung up (or, rarely, the server's drain at a
                // stop ended with it still running).
                tracing::info!(
                    latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
                    "request dropped before its answer"
                );
            });
        }
    }
}

/// A route template as a `'static` label: the router's templates are a
/// fixed set, each leaked once, the first time it is matched.
fn route_label(template: &str) -> &'static str {
    static TEMPLATES: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if let Some(known) = TEMPLATES
        .read()
        .ok()
        .and_then(|set| set.get(template).copied())
    {
        return known;
    }
    let Ok(mut templates) = TEMPLATES.write() else {
        return "unmatched";
    };
    if let Some(known) = templates.get(template) {
        return known;
    }
    let leaked: &'static str = Box::leak(template.to_owned().into_boxed_str());
    templates.insert(leaked);
    leaked
}

/// The standard methods by name; any other is `other`, so that clients
/// inventing methods cannot grow the number of series without end.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or("other", |(_, name)| name)
}

/// The Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    for (kind, counts) in state.cache.stats().snapshot() {
        metrics::counter!("cache_hits_total", "kind" => kind).absolute(counts.hits);
        metrics::counter!("cache_misses_total", "kind" => kind).absolute(counts.misses);
        metrics::counter!("cache_stale_skips_total", "kind" => kind).absolute(counts.stale_skips);
        metrics::counter!("cache_redis_errors_total", "kind" => kind).absolute(counts.errors);
        metrics::counter!("cache_coalesced_total", "kind" => kind).absolute(counts.coalesced);
        metrics::counter!("cache_over_budget_total", "kind" => kind).absolute(counts.over_budget);
    }
    if !state.replicas.is_empty() {
        let (replica, primary) = state.replicas.counts();
        metrics::counter!("replica_reads_total", "served_by" => "replica").absolute(replica);
        metrics::counter!("replica_reads_total", "served_by" => "primary").absolute(primary);
    }
    let pool = state.db.state();
    metrics::gauge!("db_pool_connections").set(f64::from(pool.connections));
    metrics::gauge!("db_pool_idle_connections").set(f64::from(pool.idle_connections));
    metrics::gauge!("db_pool_max_size").set(f64::from(state.config.database_pool_size));
    let redis_up = state
        .redis
        .query::<String>(&redis::cmd("PING"))
        .await
        .is_ok();
    metrics::gauge!("redis_connections").set(if redis_up { 1.0 } else { 0.0 });
    let mut response = handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_outside_the_standard_ones_is_labelled_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }

    #[test]
    fn a_route_template_is_interned_once() {
        let first = route_label("/api/products/{id}");
        let again = route_label(&String::from("/api/products/{id}"));
        assert!(std::ptr::eq(first, again));
        assert_eq!(again, "/api/products/{id}");
    }
}
