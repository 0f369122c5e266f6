//! The read-through cache every domain shares. See `docs/cache.md` for the
//! design; in short:
//!
//! - Every write moves a counter, `seq`, and records the new value as the
//!   version of each namespace it touches: once before its transaction
//!   (counting itself in flight) and once after the commit.
//! - A document is stored with the `seq` seen before it was loaded (and the
//!   Redis `epoch`), the namespaces it shows beyond its key's own, and its
//!   ETag: `<epoch>:<seq>|<shown namespaces>|<etag>|<json>`.
//! - A hit needs the same epoch, and every namespace the document depends
//!   on at a version no newer than its `seq`: no write has touched them
//!   since it was loaded. A namespace never written is at version 0, so
//!   concurrent first loads of documents sharing one all store.
//! - A miss loads from PostgreSQL once per process for concurrent identical
//!   requests (single flight) and stores only if, after the load, nothing it
//!   shows was written since the lookup and no writer of it is in flight.
//! - The bookkeeping (`clock`, `versions`, `writers:*`) shares one hash tag,
//!   so each script runs on one server of a Redis Cluster; documents keep
//!   the key formats of API.md, anywhere. No step needs both at once: a
//!   write that begins after a reader's lookup has a version newer than the
//!   reader's `seq`, so whatever the reader stores is never served.
//! - Redis failures never fail a read: the answer comes from PostgreSQL with
//!   `source: postgres`, and a warning is logged at most every 10 s.

pub mod document;
mod entry;
mod flight;
pub mod keys;
mod lookup;
mod plan;
mod scripts;
pub mod stats;
mod store;
#[cfg(test)]
mod testing;
mod write;

use std::time::Duration;

pub use document::{DataSource, Document, Framing, X_DATA_SOURCE};
pub use keys::{Admission, CacheKey, Namespace, Retirement, key_part};
pub use stats::CacheStats;
pub use write::CacheWrite;

use crate::config::{CacheLimits, Config};
use crate::db::Database;
use crate::error::AppResult;
use crate::redis::{Redis, RedisFailure};
use crate::replicas::Lsn;
use crate::telemetry::Throttle;
use lookup::Lookup;

/// The window of an open-ended query budget (`CACHE_OPEN_QUERIES_PER_CLIENT` a minute).
const ADMISSION_WINDOW: Duration = Duration::from_secs(60);

/// A new epoch: 64 random bits in hex.
fn fresh_epoch() -> String {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    format!("{bits:016x}")
}

/// The cache: Redis, the entries' life, the counters, the loads in flight.
pub struct Cache {
    redis: Redis,
    prefix: String,
    /// The names of `clock` and `versions`, made once.
    bookkeeping: [String; 2],
    ttl: Duration,
    limits: CacheLimits,
    /// How long a writer counts as in flight if it never says it finished:
    /// longer than any request can run, so that no reader that started
    /// before the commit can still store when its marker lapses.
    pending_ttl: Duration,
    stats: CacheStats,
    flights: flight::Flights,
    /// A Redis failure on the read path is logged at most every 10 s.
    warnings: Throttle,
    /// The primary, to ask for a write's WAL position (see
    /// `crate::replicas`): every write when this node's replicas serve
    /// misses, else a write that finds positions recorded by another node.
    primary: Option<Database>,
    reads_replicas: bool,
}

/// What became of a loaded document.
enum Stored {
    Yes,
    /// Its client used up its budget of open-ended documents.
    OverBudget,
    /// A write touched what it shows meanwhile (or was in flight).
    Stale,
}

/// The bookkeeping keys share one hash tag (one slot of a cluster).
fn bookkeeping_key(prefix: &str, name: &str) -> String {
    format!("{prefix}{{{prefix}cache}}:{name}")
}

impl Cache {
    pub fn new(config: &Config, redis: Redis) -> Self {
        let prefix = &config.redis_key_prefix;
        Self {
            redis,
            prefix: prefix.clone(),
            bookkeeping: [
                bookkeeping_key(prefix, "clock"),
                bookkeeping_key(prefix, "versions"),
            ],
            ttl: config.cache_ttl,
            limits: config.cache_limits,
            pending_ttl: config.request_timeout * 2 + Duration::from_secs(5),
            stats: CacheStats::default(),
            flights: flight::Flights::default(),
            warnings: Throttle::new(),
            primary: None,
            reads_replicas: false,
        }
    }

    /// Knows `primary`, to record a write's WAL position whenever another
    /// node reads replicas (the clock holds an `lsn`).
    #[must_use]
    pub fn knowing_the_primary(mut self, primary: Database) -> Self {
        self.primary = Some(primary);
        self
    }

    /// Records every write's WAL position on `primary`, for this node's
    /// replica reads.
    #[must_use]
    pub fn recording_wal_positions(mut self, primary: Database) -> Self {
        self.primary = Some(primary);
        self.reads_replicas = true;
        self
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The Redis the cache lives in (`CACHE_REDIS_URL`, else `REDIS_URL`).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    fn clock_key(&self) -> &str {
        &self.bookkeeping[0]
    }

    fn versions_key(&self) -> &str {
        &self.bookkeeping[1]
    }

    /// Where `key`'s entry is kept.
    fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.key)
    }

    /// The writers of `namespace` in flight (`writers:<namespace>`; the
    /// `pending:<namespace>` counts of releases before are left to lapse).
    fn writers_key(&self, namespace: &str) -> String {
        bookkeeping_key(&self.prefix, &format!("writers:{namespace}"))
    }

    /// Answers `key` from Redis when it holds a current copy, else from
    /// `load` (once for all identical concurrent misses), storing the result
    /// unless a write got in the way. `load` is told the WAL position a
    /// replica must have replayed to serve it, when one may (the key allows
    /// it and Redis said how far the writes have come).
    pub async fn read<F, Fut>(
        &self,
        key: &CacheKey,
        framing: Framing,
        load: F,
    ) -> AppResult<(Document, DataSource)>
    where
        F: FnOnce(Option<Lsn>) -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let counters = self.stats.of(key.kind);
        if key.admission == Admission::Never {
            CacheStats::bump(&counters.misses);
            return Ok((load(None).await?, DataSource::Postgres));
        }
        let arrived = std::time::Instant::now();
        let mut lookup = match self.lookup(key).await {
            Ok(lookup) => Some(lookup),
            Err(failure) => {
                CacheStats::bump(&counters.errors);
                self.warn(&failure);
                None
            }
        };
        if let Some(lookup) = lookup.as_mut() {
            match self.valid_body(lookup).await {
                Ok(Some((etag, body))) => {
                    CacheStats::bump(&counters.hits);
                    return Ok((Document::with_etag(body, framing, etag), DataSource::Redis));
                }
                Ok(None) => {}
                Err(failure) => {
                    CacheStats::bump(&counters.errors);
                    self.warn(&failure);
                }
            }
        }
        CacheStats::bump(&counters.misses);
        let replayed = lookup
            .as_ref()
            .filter(|_| key.replica_ok)
            .and_then(|lookup| lookup.lsn);
        // The loader stores inside the flight: a reader that misses while
        // the document is being stored shares this load rather than
        // starting another, and the readers who shared it (their view of
        // the versions was the loader's) have nothing left to store.
        let load_and_store = || async {
            let document = load(replayed).await?;
            if let Some(lookup) = &lookup {
                match self.admit_and_store(key, lookup, &document).await {
                    Ok(Stored::Yes) => {}
                    Ok(Stored::OverBudget) => CacheStats::bump(&counters.over_budget),
                    Ok(Stored::Stale) => CacheStats::bump(&counters.stale_skips),
                    Err(failure) => {
                        CacheStats::bump(&counters.errors);
                        self.warn(&failure);
                    }
                }
            }
            Ok(document)
        };
        // Without the versions, it shares only a load begun after it arrived.
        let begun_after = lookup.is_none().then_some(arrived);
        let flight = self.flight_name(key, lookup.as_ref());
        let flights = &self.flights;
        let document = flights.load_once(flight, begun_after, load_and_store, &counters);
        Ok((document.await?, DataSource::Postgres))
    }

    /// [`Cache::read`], answered: the document with its source header,
    /// `"source"` member (for an envelope) and ETag.
    pub async fn respond<F, Fut>(
        &self,
        key: &CacheKey,
        framing: Framing,
        load: F,
    ) -> AppResult<axum::response::Response>
    where
        F: FnOnce(Option<Lsn>) -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let (document, source) = self.read(key, framing, load).await?;
        Ok(document.respond(source))
    }

    /// Identical concurrent misses share one load. Two misses are identical
    /// when they saw the same versions of the key's namespaces and, for a
    /// document that shows more than its key's own, the same `seq` (no
    /// write anywhere between them). When Redis could not say, the name is
    /// the key's alone, and a load is shared only with the readers that
    /// arrived before it began: a write acknowledged by another instance
    /// leaves no trace in this one (docs/cache.md, "Stampedes").
    fn flight_name(&self, key: &CacheKey, lookup: Option<&Lookup>) -> String {
        let seen = match lookup {
            Some(lookup) => {
                let versions: Vec<String> = lookup.versions.iter().map(u64::to_string).collect();
                let seq = if key.shows_loaded { lookup.seq } else { 0 };
                format!(
                    "{}:{seq}:{}",
                    lookup.epoch.as_deref().unwrap_or("-"),
                    versions.join(",")
                )
            }
            None => "unversioned".to_owned(),
        };
        format!("{}|{}|{seen}", key.key, key.field.unwrap_or(""))
    }

    fn warn(&self, failure: &RedisFailure) {
        if let Some(unsaid) = self.warnings.allow() {
            tracing::warn!(error = %failure, unsaid, "cache unavailable: serving from PostgreSQL");
        }
    }
}
