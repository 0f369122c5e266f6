//! Counters of the cache, per [`Kind`]: what the metrics endpoint exposes.

use std::sync::atomic::{AtomicU64, Ordering};

use super::keys::Kind;

/// What happened to lookups and stores of one kind of document.
#[derive(Debug, Default)]
pub struct KindCounters {
    /// Answered from Redis.
    pub hits: AtomicU64,
    /// Loaded from PostgreSQL (Redis had nothing valid, or could not answer).
    pub misses: AtomicU64,
    /// Loads not stored because a write retired the document meanwhile or
    /// was in flight: the stale-read protection at work.
    pub stale_skips: AtomicU64,
    /// Redis calls that failed or timed out.
    pub errors: AtomicU64,
    /// Open-ended documents not kept: their client used up its budget.
    pub over_budget: AtomicU64,
    /// Loads that waited for another request's identical load instead of
    /// querying PostgreSQL themselves.
    pub coalesced: AtomicU64,
}

/// A snapshot of one kind's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub stale_skips: u64,
    pub errors: u64,
    pub coalesced: u64,
    pub over_budget: u64,
}

#[derive(Debug, Default)]
pub struct CacheStats {
    kinds: [KindCounters; Kind::ALL.len()],
}

impl CacheStats {
    pub fn of(&self, kind: Kind) -> &KindCounters {
        &self.kinds[kind.index()]
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every kind's counters, for exposition.
    pub fn snapshot(&self) -> Vec<(Kind, KindSnapshot)> {
        Kind::ALL
            .iter()
            .map(|kind| {
                let counters = self.of(*kind);
                (
                    *kind,
                    KindSnapshot {
                        hits: counters.hits.load(Ordering::Relaxed),
                        misses: counters.misses.load(Ordering::Relaxed),
                        stale_skips: counters.stale_skips.load(Ordering::Relaxed),
                        errors: counters.errors.load(Ordering::Relaxed),
                        coalesced: counters.coalesced.load(Ordering::Relaxed),
                        over_budget: counters.over_budget.load(Ordering::Relaxed),
                    },
                )
            })
            .collect()
    }
}
