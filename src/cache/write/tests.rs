//! Where writes got to (`lsn`), made anew after Redis lost its data or
//! before any node recorded one: never from a position older than a write
//! acknowledged by then.

use super::*;
use crate::cache::Namespace;
use crate::cache::testing::{cache, forget, prefix};

async fn begin(cache: &Cache, namespace: &str) -> CacheWrite {
    let retired = Retirement::of([Namespace::named(namespace.to_owned())]);
    cache.begin_write(retired).await.expect("the write began")
}

/// Finishes `write` with `position`, the primary's WAL position read after
/// its commit (`None`: a node without replicas, which reads none).
async fn finish_at(mut write: CacheWrite, position: Option<u64>) {
    write.done = true;
    let plan = write.plan.clone();
    plan.finish(&write.redis, position.map(Lsn))
        .await
        .expect("the write finished");
}

async fn clock(cache: &Cache, field: &str) -> Option<u64> {
    cache
        .redis()
        .query(redis::cmd("HGET").arg(cache.clock_key()).arg(field))
        .await
        .expect("Redis answers")
}

#[tokio::test]
async fn a_position_read_before_redis_lost_its_data_never_becomes_where_writes_got_to() {
    let prefix = prefix();
    let cache = cache(&prefix, "250000");
    let late = begin(&cache, "product:1").await;
    let acknowledged = begin(&cache, "product:2").await;
    finish_at(acknowledged, Some(200)).await;
    assert_eq!(clock(&cache, "lsn").await, Some(200));
    // Redis loses its data, and a write begins (a new epoch); then the
    // finish of a write that read its position (100) before the one
    // acknowledged at 200 lands.
    forget(&cache, &prefix).await;
    let after_the_loss = begin(&cache, "product:4").await;
    finish_at(late, Some(100)).await;
    let lsn = clock(&cache, "lsn").await;
    // A later write's position covers both.
    finish_at(after_the_loss, Some(300)).await;
    let then = clock(&cache, "lsn").await;
    forget(&cache, &prefix).await;
    assert_eq!(lsn, None, "a replica at 100 would pass for current");
    assert_eq!(then, Some(300));
}

#[tokio::test]
async fn a_position_read_before_a_write_that_recorded_none_finished_never_becomes_where_writes_got_to()
 {
    let prefix = prefix();
    let cache = cache(&prefix, "250000");
    // A node without replicas writes (it records no position) while one
    // with replicas writes too, and reads its position (100) before the
    // first one's commit, whose finish comes first.
    let unrecorded = begin(&cache, "product:1").await;
    let recorded = begin(&cache, "product:2").await;
    finish_at(unrecorded, None).await;
    finish_at(recorded, Some(100)).await;
    let lsn = clock(&cache, "lsn").await;
    let floor = clock(&cache, "floor").await;
    // A write begun after both makes it, from no less than what was seen.
    let next = begin(&cache, "product:3").await;
    finish_at(next, Some(50)).await;
    let then = clock(&cache, "lsn").await;
    forget(&cache, &prefix).await;
    assert_eq!(lsn, None, "a replica at 100 would pass for current");
    assert_eq!(floor, Some(100));
    assert_eq!(then, Some(100));
}

#[tokio::test]
async fn a_write_whose_position_is_unknown_stops_replica_reads_until_a_later_write_records_one() {
    let prefix = prefix();
    let cache = cache(&prefix, "250000");
    finish_at(begin(&cache, "product:1").await, Some(100)).await;
    assert_eq!(clock(&cache, "lsn").await, Some(100));
    // A write that began before, and one whose position the primary could
    // not say (its finish comes first).
    let concurrent = begin(&cache, "product:2").await;
    let unknown = begin(&cache, "product:3").await;
    finish_at(unknown, None).await;
    let during = clock(&cache, "lsn").await;
    // The earlier write's position may lie before the unknown commit.
    finish_at(concurrent, Some(150)).await;
    let still = clock(&cache, "lsn").await;
    // A write begun after both: its position is past them.
    finish_at(begin(&cache, "product:4").await, Some(200)).await;
    let then = clock(&cache, "lsn").await;
    forget(&cache, &prefix).await;
    assert_eq!(during, None, "replica reads stop: no lsn");
    assert_eq!(still, None, "a replica at 150 would pass for current");
    assert_eq!(then, Some(200), "replicas are trusted again");
}
