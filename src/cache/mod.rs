//! The read-through cache every domain shares. See `docs/cache.md` for the
//! design; in short:
//!
//! - A document is stored as its serialized bytes at its key, headed by the
//!   versions of the namespaces it depends on and its ETag
//!   (`<v1>,<v2>|<etag>|<json>`), so a hit neither re-serializes nor re-hashes.
//! - A lookup is one round trip: the entry, and (MGET) the current versions
//!   and in-flight-writer counts of its namespaces. It is a hit only when the
//!   entry's versions are current and no writer is in flight.
//! - A miss loads from PostgreSQL once per process for concurrent identical
//!   requests (single flight), and stores through a script that refuses when
//!   a version moved or a writer is in flight since the lookup: a reader that
//!   read old rows can never store them after a write.
//! - A write replaces the versions of what it touches and counts itself in
//!   flight *before* its transaction (no Redis, no write: 503), and replaces
//!   them again and uncounts itself *after* the commit, in a task that runs
//!   to the end even if the request is dropped. Entries are retired before
//!   the write answers, and never rewritten with new data by the writer.
//! - Redis failures never fail a read: the answer comes from PostgreSQL with
//!   `source: postgres`, and a warning is logged at most every 10 s.

pub mod keys;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::OnceCell;

pub use keys::{Admission, CacheKey, Namespace, Retirement, key_part};
pub use stats::CacheStats;

use crate::config::{CacheLimits, Config};
use crate::error::{AppError, AppResult};
use crate::redis::{Redis, RedisFailure};
use crate::response::{DataSource, Document, Framing};

/// The window of an open-ended query budget (`CACHE_OPEN_QUERIES_PER_CLIENT` a minute).
const ADMISSION_WINDOW_MS: u64 = 60_000;

/// What became of a loaded document.
enum Stored {
    Yes,
    /// Its client used up its budget of open-ended documents.
    OverBudget,
    /// A write retired it meanwhile (or was in flight).
    Stale,
}

/// How often, at most, a Redis failure on the read path is logged.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Stores an entry only if every version is what the lookup saw (or still
/// absent, then initialised) and no writer is in flight.
/// KEYS: entry, versions (n), pending counts (n).
/// ARGV: ttl ms, hash field or '', fresh version, body, expected versions (n).
static STORE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local n = (#KEYS - 1) / 2
        local header = {}
        for i = 1, n do
            local current = redis.call('GET', KEYS[1 + i])
            local expected = ARGV[4 + i]
            if current then
                if current ~= expected then return 0 end
            else
                if expected ~= '' then return 0 end
                redis.call('SET', KEYS[1 + i], ARGV[3])
                current = ARGV[3]
            end
            if tonumber(redis.call('GET', KEYS[1 + n + i]) or '0') > 0 then return 0 end
            header[i] = current
        end
        local value = table.concat(header, ',') .. '|' .. ARGV[4]
        if ARGV[2] == '' then
            redis.call('SET', KEYS[1], value, 'PX', ARGV[1])
        else
            redis.call('HSET', KEYS[1], ARGV[2], value)
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return 1
        ",
    )
});

/// Before a write's transaction: new versions, one more writer in flight,
/// exact keys deleted. KEYS: versions (n), pending (n), keys to delete.
/// ARGV: n, pending ttl ms, fresh version.
static BEGIN_WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local n = tonumber(ARGV[1])
        for i = 1, n do
            redis.call('SET', KEYS[i], ARGV[3])
            redis.call('INCR', KEYS[n + i])
            redis.call('PEXPIRE', KEYS[n + i], ARGV[2])
        end
        for i = 2 * n + 1, #KEYS do redis.call('DEL', KEYS[i]) end
        return 1
        ",
    )
});

/// After the commit (or rollback): new versions again, one writer fewer,
/// exact keys deleted again. Same KEYS and ARGV as `BEGIN_WRITE`.
static FINISH_WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local n = tonumber(ARGV[1])
        for i = 1, n do
            redis.call('SET', KEYS[i], ARGV[3])
            if redis.call('DECR', KEYS[n + i]) <= 0 then redis.call('DEL', KEYS[n + i]) end
        end
        for i = 2 * n + 1, #KEYS do redis.call('DEL', KEYS[i]) end
        return 1
        ",
    )
});

/// A version nobody has used: 64 random bits in hex.
fn fresh_version() -> String {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    format!("{bits:016x}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

type Flight = Arc<OnceCell<Option<Document>>>;

/// The cache: Redis, the entries' life, the counters, the loads in flight.
pub struct Cache {
    redis: Redis,
    prefix: String,
    ttl: Duration,
    limits: CacheLimits,
    /// How long a writer counts as in flight if it never says it finished:
    /// longer than any request can run, so that no reader that started
    /// before the commit can still store when the count lapses.
    pending_ttl: Duration,
    stats: CacheStats,
    flights: Mutex<HashMap<String, Flight>>,
    /// Writes begun by this process: part of a flight's identity when Redis
    /// cannot tell us the versions.
    local_writes: AtomicU64,
    last_warning_ms: AtomicU64,
}

/// What a lookup found.
struct Lookup {
    entry: Option<Vec<u8>>,
    /// The namespaces' current versions (`None`: never written or evicted).
    versions: Vec<Option<String>>,
    writer_in_flight: bool,
}

impl Lookup {
    /// The cached ETag and body, if the entry is there and still current.
    /// Takes the entry: the body is a slice of the bytes Redis sent, not a copy.
    fn take_valid_body(&mut self) -> Option<(String, Bytes)> {
        if self.writer_in_flight {
            return None;
        }
        let entry = self.entry.as_ref()?;
        let bar = entry.iter().position(|byte| *byte == b'|')?;
        let header = std::str::from_utf8(&entry[..bar]).ok()?;
        let mut stored = header.split(',');
        for current in &self.versions {
            if stored.next() != Some(current.as_deref()?) {
                return None;
            }
        }
        if stored.next().is_some() {
            return None;
        }
        let etag_start = bar + 1;
        let etag_end = etag_start + entry[etag_start..].iter().position(|byte| *byte == b'|')?;
        let etag = std::str::from_utf8(&entry[etag_start..etag_end])
            .ok()?
            .to_owned();
        let entry = Bytes::from(self.entry.take()?);
        Some((etag, entry.slice(etag_end + 1..)))
    }
}

impl Cache {
    pub fn new(config: &Config, redis: Redis) -> Self {
        Self {
            redis,
            prefix: config.redis_key_prefix.clone(),
            ttl: config.cache_ttl,
            limits: config.cache_limits,
            pending_ttl: config.request_timeout * 2 + Duration::from_secs(5),
            stats: CacheStats::default(),
            flights: Mutex::new(HashMap::new()),
            local_writes: AtomicU64::new(0),
            last_warning_ms: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The Redis the cache lives in (`CACHE_REDIS_URL`, else `REDIS_URL`).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    fn version_key(&self, namespace: &Namespace) -> String {
        format!("{}version:{}", self.prefix, namespace.name())
    }

    fn pending_key(&self, namespace: &Namespace) -> String {
        format!("{}pending:{}", self.prefix, namespace.name())
    }

    /// Answers `key` from Redis when it holds a current copy, else from
    /// `load` (once for all identical concurrent misses), storing the result
    /// unless a write got in the way.
    pub async fn read<F, Fut>(
        &self,
        key: &CacheKey,
        framing: Framing,
        load: F,
    ) -> AppResult<(Document, DataSource)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let counters = self.stats.of(key.kind);
        if key.admission == Admission::Never {
            CacheStats::bump(&counters.misses);
            return Ok((load().await?, DataSource::Postgres));
        }
        let mut lookup = match self.lookup(key).await {
            Ok(lookup) => Some(lookup),
            Err(failure) => {
                CacheStats::bump(&counters.errors);
                self.warn(&failure);
                None
            }
        };
        if let Some((etag, body)) = lookup.as_mut().and_then(Lookup::take_valid_body) {
            CacheStats::bump(&counters.hits);
            return Ok((Document::with_etag(body, framing, etag), DataSource::Redis));
        }
        CacheStats::bump(&counters.misses);
        let flight = self.flight_name(key, lookup.as_ref());
        let document = self.load_once(flight, load, &counters).await?;
        match lookup {
            Some(lookup) if !lookup.writer_in_flight => {
                match self.admit_and_store(key, &lookup.versions, &document).await {
                    Ok(Stored::Yes) => {}
                    Ok(Stored::OverBudget) => CacheStats::bump(&counters.over_budget),
                    Ok(Stored::Stale) => CacheStats::bump(&counters.stale_skips),
                    Err(failure) => {
                        CacheStats::bump(&counters.errors);
                        self.warn(&failure);
                    }
                }
            }
            Some(_) => CacheStats::bump(&counters.stale_skips),
            None => {}
        }
        Ok((document, DataSource::Postgres))
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
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let (document, source) = self.read(key, framing, load).await?;
        Ok(document.respond(source))
    }

    async fn lookup(&self, key: &CacheKey) -> Result<Lookup, RedisFailure> {
        let full_key = format!("{}{}", self.prefix, key.key);
        let mut pipeline = redis::pipe();
        match key.field {
            Some(field) => pipeline.hget(&full_key, field),
            None => pipeline.get(&full_key),
        };
        let mut states = redis::cmd("MGET");
        for namespace in &key.depends_on {
            states.arg(self.version_key(namespace));
        }
        for namespace in &key.depends_on {
            states.arg(self.pending_key(namespace));
        }
        pipeline.add_command(states);
        let (entry, mut states): (Option<Vec<u8>>, Vec<Option<String>>) =
            self.redis.pipeline(&pipeline).await?;
        let pending = states.split_off(key.depends_on.len());
        let writer_in_flight = pending
            .iter()
            .flatten()
            .any(|count| count.parse::<i64>().map_or(true, |count| count > 0));
        Ok(Lookup {
            entry,
            versions: states,
            writer_in_flight,
        })
    }

    /// Stores the document unless its client is over budget (an open-ended
    /// query) or a write got in the way.
    async fn admit_and_store(
        &self,
        key: &CacheKey,
        expected: &[Option<String>],
        document: &Document,
    ) -> Result<Stored, RedisFailure> {
        let ttl = match &key.admission {
            Admission::Always => self.ttl,
            Admission::Never => return Ok(Stored::OverBudget),
            Admission::Open { client } => {
                let budget = format!("{}cache-admission:{client}", self.prefix);
                let mut pipeline = redis::pipe();
                pipeline
                    .cmd("INCR")
                    .arg(&budget)
                    .cmd("PEXPIRE")
                    .arg(&budget)
                    .arg(ADMISSION_WINDOW_MS)
                    .arg("NX")
                    .ignore();
                let (admitted,): (u64,) = self.redis.pipeline(&pipeline).await?;
                if admitted > u64::from(self.limits.open_queries_per_client) {
                    return Ok(Stored::OverBudget);
                }
                self.limits.open_query_ttl
            }
        };
        Ok(if self.store(key, expected, document, ttl).await? {
            Stored::Yes
        } else {
            Stored::Stale
        })
    }

    async fn store(
        &self,
        key: &CacheKey,
        expected: &[Option<String>],
        document: &Document,
        ttl: Duration,
    ) -> Result<bool, RedisFailure> {
        let mut body = Vec::with_capacity(document.etag.len() + 1 + document.bytes.len());
        body.extend_from_slice(document.etag.as_bytes());
        body.push(b'|');
        body.extend_from_slice(&document.bytes);
        let mut invocation = STORE.prepare_invoke();
        invocation.key(format!("{}{}", self.prefix, key.key));
        for namespace in &key.depends_on {
            invocation.key(self.version_key(namespace));
        }
        for namespace in &key.depends_on {
            invocation.key(self.pending_key(namespace));
        }
        invocation
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(key.field.unwrap_or(""))
            .arg(fresh_version())
            .arg(body.as_slice());
        for version in expected {
            invocation.arg(version.as_deref().unwrap_or(""));
        }
        let stored: i64 = self.redis.script(&invocation).await?;
        Ok(stored == 1)
    }

    /// Identical concurrent misses share one load. Two misses are identical
    /// when they saw the same versions (so no write began between them); when
    /// Redis could not say, when no write began in this process between them.
    fn flight_name(&self, key: &CacheKey, lookup: Option<&Lookup>) -> String {
        let versions = match lookup {
            Some(lookup) => lookup
                .versions
                .iter()
                .map(|version| version.as_deref().unwrap_or("-"))
                .collect::<Vec<_>>()
                .join(","),
            None => format!("local:{}", self.local_writes.load(Ordering::SeqCst)),
        };
        format!("{}|{}|{versions}", key.key, key.field.unwrap_or(""))
    }

    async fn load_once<F, Fut>(
        &self,
        flight: String,
        load: F,
        counters: &stats::KindCounters,
    ) -> AppResult<Document>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let cell = {
            let mut flights = self
                .flights
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            flights.entry(flight.clone()).or_default().clone()
        };
        let mut load = Some(load);
        let mut own_error = None;
        let (load_slot, error_slot, flight_cell) = (&mut load, &mut own_error, &cell);
        let shared = cell
            .get_or_init(|| async move {
                // Whoever runs the load takes the flight off the board when
                // done (or dropped), so later requests load afresh.
                let _leave = LeaveFlight {
                    cache: self,
                    name: &flight,
                    cell: flight_cell,
                };
                let load = load_slot.take().expect("the load runs once");
                match load().await {
                    Ok(document) => Some(document),
                    Err(error) => {
                        *error_slot = Some(error);
                        None
                    }
                }
            })
            .await
            .clone();
        match (shared, own_error, load) {
            (_, Some(error), _) => Err(error),
            (Some(document), None, Some(_)) => {
                CacheStats::bump(&counters.coalesced);
                Ok(document)
            }
            (Some(document), None, None) => Ok(document),
            // The shared load failed: its error belongs to its own request;
            // this one tries for itself.
            (None, None, Some(load)) => load().await,
            (None, None, None) => Err(AppError::Internal(anyhow::anyhow!(
                "a cache load failed without an error"
            ))),
        }
    }

    fn warn(&self, failure: &RedisFailure) {
        let now = now_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(WARNING_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= interval
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %failure, "cache unavailable: serving from PostgreSQL");
        }
    }

    /// Retires what `namespaces` cover before a write; the write must then
    /// call [`CacheWrite::finish`] after its commit or rollback. Without
    /// Redis the write must not happen (503): nothing could retire its
    /// entries, and they would be served stale when Redis came back.
    pub async fn begin_write(&self, retired: Retirement) -> AppResult<CacheWrite> {
        self.begin_write_for(retired, self.pending_ttl).await
    }

    /// [`Cache::begin_write`] for a writer that may run longer than a request
    /// (the command-line seed and importer).
    pub async fn begin_write_for(
        &self,
        retired: Retirement,
        pending_ttl: Duration,
    ) -> AppResult<CacheWrite> {
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        let namespaces = &retired.namespaces;
        let mut keys = Vec::new();
        for namespace in namespaces {
            keys.push(self.version_key(namespace));
        }
        for namespace in namespaces {
            keys.push(self.pending_key(namespace));
        }
        keys.extend(
            retired
                .keys
                .iter()
                .map(|key| format!("{}{key}", self.prefix)),
        );
        let write = CacheWrite {
            redis: self.redis.clone(),
            keys: Arc::new(keys),
            namespaces: namespaces.len(),
            pending_ttl,
            done: false,
        };
        match write.run(&BEGIN_WRITE).await {
            Ok(()) => Ok(write),
            Err(failure) => {
                // Some of it may have been applied (a timeout after the
                // script ran): dropping the unfinished write finishes it in
                // the background, which is always safe.
                drop(write);
                tracing::warn!(error = %failure, "write refused: the cache cannot be retired");
                Err(AppError::unavailable(
                    "the cache cannot be updated right now; retry shortly",
                ))
            }
        }
    }

    /// Runs `work` (a transaction) between [`Cache::begin_write`] and
    /// [`CacheWrite::finish`].
    pub async fn write<T>(
        &self,
        retired: Retirement,
        work: impl Future<Output = AppResult<T>>,
    ) -> AppResult<T> {
        let write = self.begin_write(retired).await?;
        let result = work.await;
        write.finish().await;
        result
    }
}

struct LeaveFlight<'a> {
    cache: &'a Cache,
    name: &'a str,
    cell: &'a Flight,
}

impl Drop for LeaveFlight<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .cache
            .flights
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if flights
            .get(self.name)
            .is_some_and(|current| Arc::ptr_eq(current, self.cell))
        {
            flights.remove(self.name);
        }
    }
}

/// A write in progress: finish it after the transaction.
pub struct CacheWrite {
    redis: Redis,
    keys: Arc<Vec<String>>,
    namespaces: usize,
    pending_ttl: Duration,
    done: bool,
}

impl CacheWrite {
    fn clone_keys(&self) -> Self {
        Self {
            redis: self.redis.clone(),
            keys: self.keys.clone(),
            namespaces: self.namespaces,
            pending_ttl: self.pending_ttl,
            done: self.done,
        }
    }

    async fn run(&self, script: &redis::Script) -> Result<(), RedisFailure> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys.iter() {
            invocation.key(key);
        }
        invocation
            .arg(self.namespaces)
            .arg(u64::try_from(self.pending_ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(fresh_version());
        self.redis.script::<i64>(&invocation).await.map(|_| ())
    }

    /// Retires the entries again and uncounts the writer. Runs in a task of
    /// its own, so it completes even if the request is dropped meanwhile. A
    /// failure is logged, not returned: the entries were retired before the
    /// commit, and the in-flight count keeps readers from storing until it
    /// lapses.
    pub async fn finish(mut self) {
        self.done = true;
        let write = self.clone_keys();
        let task = tokio::spawn(async move {
            if let Err(failure) = write.run(&FINISH_WRITE).await {
                tracing::warn!(error = %failure, "cache entries not retired after a write; readers skip the cache until the write's marker lapses");
            }
        });
        let _ = task.await;
    }
}

impl Drop for CacheWrite {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped between begin and finish (the request was cancelled):
        // finish in the background.
        let mut write = self.clone_keys();
        write.done = true;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = write.run(&FINISH_WRITE).await;
            });
        }
    }
}
