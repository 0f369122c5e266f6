//! Counters of the cache, per kind of document (the `kind` of its key):
//! what the metrics endpoint exposes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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
    /// Loads that waited for another request's identical load instead of
    /// querying PostgreSQL themselves.
    pub coalesced: AtomicU64,
    /// Open-ended documents not kept: their client used up its budget.
    pub over_budget: AtomicU64,
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

/// Every kind's counters, made on a kind's first use.
#[derive(Debug, Default)]
pub struct CacheStats {
    kinds: RwLock<BTreeMap<&'static str, Arc<KindCounters>>>,
}

impl CacheStats {
    /// The counters of `kind`.
    pub fn of(&self, kind: &'static str) -> Arc<KindCounters> {
        if let Some(counters) = self
            .kinds
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(kind)
        {
            return counters.clone();
        }
        self.kinds
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .entry(kind)
            .or_default()
            .clone()
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every kind's counters, for exposition.
    pub fn snapshot(&self) -> Vec<(&'static str, KindSnapshot)> {
        self.kinds
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .map(|(kind, counters)| {
                let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
                (
                    *kind,
                    KindSnapshot {
                        hits: load(&counters.hits),
                        misses: load(&counters.misses),
                        stale_skips: load(&counters.stale_skips),
                        errors: load(&counters.errors),
                        coalesced: load(&counters.coalesced),
                        over_budget: load(&counters.over_budget),
                    },
                )
            })
            .collect()
    }
}
