//! The reader/writer race every cache and scale-out test runs: a writer
//! moves product 1's price by a cent at a time and publishes each value
//! once its PUT has answered; readers read documents that show product 1
//! and count every answer older than the value acknowledged before they
//! asked. Writer and readers may be different instances (nodes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

/// The documents read, each showing product 1.
const PATHS: [&str; 4] = [
    "/api/products/1",
    "/api/categories/1",
    "/api/tags/6",
    "/api/products?category=Shirts",
];

/// What a race saw.
#[derive(Debug)]
pub struct Race {
    pub writes: i64,
    pub reads: u64,
    pub redis_reads: u64,
    pub stale: u64,
}

/// Runs the race for `length` at least (longer, a minute at most, until it
/// has 21 writes and 101 reads): `writer` writes with `token` (an admin's),
/// six readers spread over `readers` read with the same token.
pub async fn price_race(
    writer: Arc<TestApp>,
    readers: Vec<Arc<TestApp>>,
    token: &str,
    length: Duration,
) -> Race {
    let acknowledged = Arc::new(AtomicI64::new(1499));
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, redis_reads, stale) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let writing = {
        let (acknowledged, stop, token) = (acknowledged.clone(), stop.clone(), token.to_owned());
        tokio::spawn(async move {
            let mut cents = 1500;
            while !stop.load(Ordering::Relaxed) {
                let price = format!("{}.{:02}", cents / 100, cents % 100);
                let response = writer
                    .client(Some(&token))
                    .put("/api/products/1", json!({"price": price}))
                    .await;
                assert_eq!(response.status, StatusCode::OK, "{}", response.text());
                acknowledged.store(cents, Ordering::SeqCst);
                cents += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cents - 1500
        })
    };
    let mut reading = Vec::new();
    for reader in 0..6 {
        let app = readers[reader % readers.len()].clone();
        let (acknowledged, stop, token) = (acknowledged.clone(), stop.clone(), token.to_owned());
        let (reads, redis_reads, stale) = (reads.clone(), redis_reads.clone(), stale.clone());
        reading.push(tokio::spawn(async move {
            let path = PATHS[reader % PATHS.len()];
            while !stop.load(Ordering::Relaxed) {
                let floor = acknowledged.load(Ordering::SeqCst);
                let response = app.client(Some(&token)).get(path).await;
                assert_eq!(
                    response.status,
                    StatusCode::OK,
                    "{path}: {}",
                    response.text()
                );
                let body = response.json();
                let product = match path {
                    "/api/products/1" => body["data"].clone(),
                    "/api/products?category=Shirts" => body["data"][0].clone(),
                    _ => body["data"]["products"][0].clone(),
                };
                let seen: i64 = product["price"]
                    .as_str()
                    .unwrap()
                    .replace('.', "")
                    .parse()
                    .unwrap();
                if seen < floor {
                    stale.fetch_add(1, Ordering::Relaxed);
                    eprintln!("stale read on {path}: saw {seen}, {floor} was acknowledged");
                }
                reads.fetch_add(1, Ordering::Relaxed);
                if response.header("x-data-source") == Some("redis") {
                    redis_reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // `length` at least, and longer (a minute at most) until the race has
    // enough writes and reads to test anything on a busy machine.
    let started = std::time::Instant::now();
    tokio::time::sleep(length).await;
    while (acknowledged.load(Ordering::SeqCst) - 1499 <= 20 || reads.load(Ordering::Relaxed) <= 100)
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writing.await.unwrap();
    for reader in reading {
        reader.await.unwrap();
    }
    let race = Race {
        writes,
        reads: reads.load(Ordering::Relaxed),
        redis_reads: redis_reads.load(Ordering::Relaxed),
        stale: stale.load(Ordering::Relaxed),
    };
    eprintln!("{race:?}");
    assert!(
        race.writes > 20 && race.reads > 100,
        "too few writes or reads to test anything"
    );
    race
}
