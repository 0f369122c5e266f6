//! Service configuration: every setting the process reads, in one typed struct.
//!
//! Read once at start-up from the environment (a local `.env` file is loaded
//! first by [`Config::from_env`] through dotenvy). A missing or malformed value
//! stops start-up with an error that names the variable. Tests build a
//! [`Config`] in code instead of touching the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | required | PostgreSQL URL |
//! | `REDIS_URL` | required unless `REDIS_CLUSTER_NODES` is set | Redis URL: sessions, rate limits and (unless `CACHE_REDIS_URL` is set) the cache |
//! | `REDIS_CLUSTER_NODES` | empty | comma-separated seed nodes of a Redis Cluster that every Redis use goes to instead |
//! | `CACHE_REDIS_URL` | `REDIS_URL` | a Redis of its own for cached documents, so that they can never push out sessions |
//! | `CACHE_REDIS_CLUSTER_NODES` | empty | seed nodes of a Redis Cluster of its own for cached documents (not with `CACHE_REDIS_URL`) |
//! | `JWT_SECRET` | required | HS256 signing key, at least 32 bytes |
//! | `BIND_ADDR` | `127.0.0.1:3000` | address the HTTP server listens on |
//! | `CACHE_TTL_SECONDS` | `1800` | life of a cached document |
//! | `REDIS_KEY_PREFIX` | empty | put before every Redis key |
//! | `DATABASE_POOL_SIZE` | `16` | PostgreSQL connections at most |
//! | `DATABASE_CONNECT_TIMEOUT_MS` | `5000` | wait for a pooled PostgreSQL connection |
//! | `DATABASE_REPLICA_URLS` | empty | comma-separated URLs of streaming replicas that cache misses of catalog and Catwalk reads may read |
//! | `REPLICA_WAIT_MS` | `20` | how long such a read waits for a replica to catch up before it reads the primary |
//! | `REDIS_TIMEOUT_MS` | `250` | wait for a Redis connection or reply before giving up on it |
//! | `REQUEST_TIMEOUT_SECONDS` | `15` | a request still running after this answers 503 |
//! | `BODY_LIMIT_BYTES` | `1048576` | larger request bodies answer 413 |
//! | `BODIES_IN_FLIGHT_BYTES` | `16777216` | request bodies' bytes held at once while they arrive, over every connection (at least one body's limit); past it a request answers 503 |
//! | `LOG_FORMAT` | `pretty` | `pretty` or `json` |
//! | `JWT_TTL_SECONDS` | `604800` | life of a session token (7 days) |
//! | `AUTH_RATE_LIMIT_PER_ADDRESS` | `100` | sign-up and sign-in attempts per window from one client address (an IPv6 client: its /64) |
//! | `AUTH_RATE_LIMIT_PER_SITE` | `0` | when set, sign-up and sign-in attempts per window from all the /64s of one IPv6 /48 together, counting only those each /64 let through (a routed /48 is 65,536 /64s); `0`: none, so that every address keeps API.md's 100 whatever its neighbours do |
//! | `AUTH_RATE_LIMIT_PER_EMAIL` | `10` | sign-up and sign-in attempts per window for one email |
//! | `AUTH_RATE_LIMIT_WINDOW_SECONDS` | `60` | the rate-limit window |
//! | `CORS_ALLOWED_ORIGINS` | empty | comma-separated origins browsers may call from; empty: CORS closed |
//! | `TRUSTED_PROXIES` | empty | comma-separated addresses or networks of proxies whose `X-Forwarded-For` names the client; empty: the TCP peer is the client |
//! | `HEADER_READ_TIMEOUT_MS` | `5000` | a connection whose request head is not complete after this is closed |
//! | `MAX_CONNECTIONS` | `1024` | connections served at once; more wait in the accept queue |
//! | `PASSWORD_HASH_WAIT_MS` | `3000` | how long a sign-up or sign-in waits for a hashing slot before a 503 |
//! | `PASSWORD_HASH_SLOTS` | the cores | argon2 hashes at once, 12 MiB each (at least 2: password changes may hold half) |
//! | `CACHE_MAX_PAGE` | `10` | list pages past this are answered from PostgreSQL and not cached |
//! | `CACHE_OPEN_QUERIES_PER_CLIENT` | `60` | documents of open-ended queries (a name search, a price range, another page size, a category not in lower case) one client (an IPv6 client: its /64; its /48 site together 16 times that) may add to the cache per minute |
//! | `CACHE_OPEN_QUERY_TTL_SECONDS` | `300` | life of such a document kept under `search:` |
//! | `CACHE_MAX_VERSIONS` | `250000` | namespaces (a product, a user's cart...) whose last write the cache records, at most; past it every entry is retired at once and the record starts anew |
//! | `UNPAID_ORDER_HOURS` | `0` | when set, an order still `placed` (unpaid) this many hours after it was placed is cancelled on its owner's behalf and its stock goes back (checked every hour); `0`: never |
//! | `SEED_ADMIN_EMAIL`, `SEED_ADMIN_PASSWORD` | unset | the demo admin `emporium seed` creates |
//! | `SEED_CUSTOMER_EMAIL`, `SEED_CUSTOMER_PASSWORD` | unset | the demo customer `emporium seed` creates |
//!
//! Read elsewhere: `RUST_LOG` (the log filter, `telemetry.rs`) and
//! `EMPORIUM_ADMIN_PASSWORD` (`emporium create-admin`, `cli.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

mod proxies;
mod reader;
mod values;

pub use proxies::TrustedProxies;
pub use reader::{ConfigError, Environment, Source};
pub use values::{CacheLimits, LogFormat, RateLimit, SeedAccount};

use reader::Reader;
use values::list_of;

/// Default values, named so the table above and the code agree.
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 1800;
pub const DEFAULT_DATABASE_POOL_SIZE: u32 = 16;
pub const DEFAULT_DATABASE_CONNECT_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 250;
/// The longest a request may run, a rate-limit window last (a day).
const DAY_SECONDS: u64 = 24 * 3600;
/// The longest a session or a cached document may live (a year).
const YEAR_SECONDS: u64 = 365 * DAY_SECONDS;
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 15;
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 1024 * 1024;
pub const DEFAULT_BODIES_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_JWT_TTL_SECONDS: u64 = 7 * 24 * 3600;
pub const DEFAULT_AUTH_RATE_LIMIT_PER_ADDRESS: u32 = 100;
pub const DEFAULT_AUTH_RATE_LIMIT_PER_EMAIL: u32 = 10;
pub const DEFAULT_AUTH_RATE_LIMIT_WINDOW_SECONDS: u64 = 60;
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_PASSWORD_HASH_WAIT_MS: u64 = 3000;
pub const DEFAULT_CACHE_MAX_PAGE: i64 = 10;
pub const DEFAULT_CACHE_OPEN_QUERIES_PER_CLIENT: u32 = 60;
pub const DEFAULT_CACHE_OPEN_QUERY_TTL_SECONDS: u64 = 300;
/// About 25 MB of the cache's Redis at most (a hash field a namespace).
pub const DEFAULT_CACHE_MAX_VERSIONS: u64 = 250_000;
pub const DEFAULT_UNPAID_ORDER_HOURS: u64 = 0;
/// HS256 wants a key at least as long as its output.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// How long a replica read waits for the replica to catch up (ms).
pub const DEFAULT_REPLICA_WAIT_MS: u64 = 20;

/// Everything the service needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: SecretString,
    /// Streaming replicas of `database_url` for cacheable catalog and
    /// Catwalk reads (`DATABASE_REPLICA_URLS`, comma-separated); empty: none.
    pub database_replica_urls: Vec<SecretString>,
    /// How long a read waits for a replica to replay the last acknowledged
    /// write before it reads the primary instead.
    pub replica_wait: Duration,
    pub redis_url: SecretString,
    /// Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`, comma-separated
    /// `redis://host:port`): every Redis use goes there instead of
    /// `REDIS_URL` (which is then not needed).
    pub redis_cluster_nodes: Vec<SecretString>,
    /// A separate Redis for cached documents; `None`: they share `redis_url`.
    pub cache_redis_url: Option<SecretString>,
    /// Or a Redis Cluster of their own (`CACHE_REDIS_CLUSTER_NODES`).
    pub cache_redis_cluster_nodes: Vec<SecretString>,
    pub jwt_secret: SecretString,
    pub bind_addr: SocketAddr,
    pub cache_ttl: Duration,
    pub redis_key_prefix: String,
    pub database_pool_size: u32,
    pub database_connect_timeout: Duration,
    pub redis_timeout: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    /// Request bodies' bytes held at once while they arrive, over every
    /// connection: a thousand clients each trickling a body just under the
    /// limit would otherwise hold a gigabyte until their requests time out.
    pub bodies_in_flight_bytes: usize,
    pub log_format: LogFormat,
    pub jwt_ttl: Duration,
    pub auth_rate_limit: RateLimit,
    pub seed_admin: Option<SeedAccount>,
    pub seed_customer: Option<SeedAccount>,
    /// Origins allowed to call from a browser; empty means CORS is closed.
    pub cors_allowed_origins: Vec<axum::http::HeaderValue>,
    /// Proxies whose `X-Forwarded-For` names the client (rate limits).
    pub trusted_proxies: TrustedProxies,
    /// A request head must be complete within this, or the connection closes.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a password hash waits for a free hashing slot.
    pub password_hash_wait: Duration,
    /// Hashes at once (`PASSWORD_HASH_SLOTS`; by default, one a core).
    pub password_hash_slots: usize,
    /// What one client can make the cache hold.
    pub cache_limits: CacheLimits,
    /// How long an order may stay `placed` (unpaid) before it is cancelled
    /// and its stock goes back (`orders::unpaid`); `None` (the default):
    /// for ever.
    pub unpaid_order_life: Option<Duration>,
}

impl Config {
    /// How long a wait for one of PostgreSQL's locks may last (`lock_timeout`
    /// on every pooled connection: `db`), and how long after its start a
    /// plain order's call may still commit (`orders::service`): two thirds
    /// of the request timeout, so that a request that waited in vain is
    /// answered 503 with nothing committed, before its own timeout answers
    /// for it.
    pub fn lock_timeout(&self) -> Duration {
        self.request_timeout * 2 / 3
    }

    /// Loads `.env` (when present) and reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env file is normal (production, CI); a broken one is not.
        if let Err(error) = dotenvy::dotenv()
            && !error.not_found()
        {
            return Err(ConfigError::Invalid {
                name: ".env",
                reason: error.to_string(),
            });
        }
        Self::from_source(&Environment)
    }

    /// Reads every setting from `source`, failing on the first bad one.
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let reader = Reader(source);
        let jwt_secret = reader.required("JWT_SECRET")?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes long (it has {})",
                    jwt_secret.len()
                ),
            });
        }
        let redis_cluster_nodes = list_of(reader.optional("REDIS_CLUSTER_NODES"));
        let cache_redis_cluster_nodes = list_of(reader.optional("CACHE_REDIS_CLUSTER_NODES"));
        let cache_redis_url = reader.optional("CACHE_REDIS_URL").map(SecretString::from);
        if cache_redis_url.is_some() && !cache_redis_cluster_nodes.is_empty() {
            return Err(ConfigError::Invalid {
                name: "CACHE_REDIS_CLUSTER_NODES",
                reason: "the cache is one Redis (CACHE_REDIS_URL) or a cluster, not both".into(),
            });
        }
        let config = Self {
            database_url: reader.required("DATABASE_URL")?.into(),
            database_replica_urls: list_of(reader.optional("DATABASE_REPLICA_URLS")),
            replica_wait: Duration::from_millis(
                reader.positive("REPLICA_WAIT_MS", DEFAULT_REPLICA_WAIT_MS)?,
            ),
            redis_url: match &redis_cluster_nodes[..] {
                [] => reader.required("REDIS_URL")?.into(),
                _ => reader.optional("REDIS_URL").unwrap_or_default().into(),
            },
            redis_cluster_nodes,
            cache_redis_url,
            cache_redis_cluster_nodes,
            jwt_secret: jwt_secret.into(),
            bind_addr: reader.parsed("BIND_ADDR", DEFAULT_BIND_ADDR.parse().expect("valid"))?,
            cache_ttl: Duration::from_secs(reader.up_to(
                "CACHE_TTL_SECONDS",
                DEFAULT_CACHE_TTL_SECONDS,
                YEAR_SECONDS,
            )?),
            redis_key_prefix: source.get("REDIS_KEY_PREFIX").unwrap_or_default(),
            database_pool_size: reader
                .positive("DATABASE_POOL_SIZE", DEFAULT_DATABASE_POOL_SIZE)?,
            database_connect_timeout: Duration::from_millis(reader.positive(
                "DATABASE_CONNECT_TIMEOUT_MS",
                DEFAULT_DATABASE_CONNECT_TIMEOUT_MS,
            )?),
            redis_timeout: Duration::from_millis(
                reader.positive("REDIS_TIMEOUT_MS", DEFAULT_REDIS_TIMEOUT_MS)?,
            ),
            request_timeout: Duration::from_secs(reader.up_to(
                "REQUEST_TIMEOUT_SECONDS",
                DEFAULT_REQUEST_TIMEOUT_SECONDS,
                DAY_SECONDS,
            )?),
            body_limit_bytes: reader.positive("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES)?,
            bodies_in_flight_bytes: reader
                .positive("BODIES_IN_FLIGHT_BYTES", DEFAULT_BODIES_IN_FLIGHT_BYTES)?,
            log_format: reader.parsed("LOG_FORMAT", LogFormat::Pretty)?,
            jwt_ttl: Duration::from_secs(reader.up_to(
                "JWT_TTL_SECONDS",
                DEFAULT_JWT_TTL_SECONDS,
                YEAR_SECONDS,
            )?),
            auth_rate_limit: RateLimit {
                per_address: reader.positive(
                    "AUTH_RATE_LIMIT_PER_ADDRESS",
                    DEFAULT_AUTH_RATE_LIMIT_PER_ADDRESS,
                )?,
                per_site: Some(reader.parsed("AUTH_RATE_LIMIT_PER_SITE", 0u32)?)
                    .filter(|limit| *limit > 0),
                per_email: reader.positive(
                    "AUTH_RATE_LIMIT_PER_EMAIL",
                    DEFAULT_AUTH_RATE_LIMIT_PER_EMAIL,
                )?,
                window: Duration::from_secs(reader.up_to(
                    "AUTH_RATE_LIMIT_WINDOW_SECONDS",
                    DEFAULT_AUTH_RATE_LIMIT_WINDOW_SECONDS,
                    DAY_SECONDS,
                )?),
            },
            seed_admin: reader.seed_account("SEED_ADMIN_EMAIL", "SEED_ADMIN_PASSWORD")?,
            seed_customer: reader.seed_account("SEED_CUSTOMER_EMAIL", "SEED_CUSTOMER_PASSWORD")?,
            cors_allowed_origins: reader.origins("CORS_ALLOWED_ORIGINS")?,
            trusted_proxies: TrustedProxies::parse(
                &reader.optional("TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::Invalid {
                name: "TRUSTED_PROXIES",
                reason,
            })?,
            header_read_timeout: Duration::from_millis(
                reader.positive("HEADER_READ_TIMEOUT_MS", DEFAULT_HEADER_READ_TIMEOUT_MS)?,
            ),
            max_connections: reader.up_to("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1_000_000)?,
            password_hash_wait: Duration::from_millis(
                reader.positive("PASSWORD_HASH_WAIT_MS", DEFAULT_PASSWORD_HASH_WAIT_MS)?,
            ),
            password_hash_slots: reader.up_to(
                "PASSWORD_HASH_SLOTS",
                std::thread::available_parallelism().map_or(2, usize::from),
                1024,
            )?,
            cache_limits: CacheLimits {
                max_page: reader.positive("CACHE_MAX_PAGE", DEFAULT_CACHE_MAX_PAGE)?,
                open_queries_per_client: reader.positive(
                    "CACHE_OPEN_QUERIES_PER_CLIENT",
                    DEFAULT_CACHE_OPEN_QUERIES_PER_CLIENT,
                )?,
                open_query_ttl: Duration::from_secs(reader.up_to(
                    "CACHE_OPEN_QUERY_TTL_SECONDS",
                    DEFAULT_CACHE_OPEN_QUERY_TTL_SECONDS,
                    YEAR_SECONDS,
                )?),
                max_versions: reader.positive("CACHE_MAX_VERSIONS", DEFAULT_CACHE_MAX_VERSIONS)?,
            },
            unpaid_order_life: match reader
                .parsed("UNPAID_ORDER_HOURS", DEFAULT_UNPAID_ORDER_HOURS)?
            {
                0 => None,
                hours if hours > YEAR_SECONDS / 3600 => {
                    return Err(ConfigError::Invalid {
                        name: "UNPAID_ORDER_HOURS",
                        reason: format!("must be at most {} (a year)", YEAR_SECONDS / 3600),
                    });
                }
                hours => Some(Duration::from_secs(hours * 3600)),
            },
        };
        Ok(config)
    }

    /// The PostgreSQL URL, for the pool and the migration runner.
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The replicas' URLs.
    pub fn database_replica_urls(&self) -> impl Iterator<Item = &str> {
        self.database_replica_urls
            .iter()
            .map(|url| url.expose_secret())
    }

    /// The Redis URL.
    pub fn redis_url(&self) -> &str {
        self.redis_url.expose_secret()
    }

    /// The variable that gives cached documents a Redis of their own, if one
    /// does (else they share the sessions').
    pub fn cache_redis_variable(&self) -> Option<&'static str> {
        if !self.cache_redis_cluster_nodes.is_empty() {
            Some("CACHE_REDIS_CLUSTER_NODES")
        } else {
            self.cache_redis_url.as_ref().map(|_| "CACHE_REDIS_URL")
        }
    }

    /// The URL of the Redis that holds cached documents.
    pub fn cache_redis_url(&self) -> &str {
        self.cache_redis_url
            .as_ref()
            .map_or_else(|| self.redis_url(), |url| url.expose_secret())
    }

    /// `key` with `REDIS_KEY_PREFIX` in front: every Redis key is built here.
    pub fn redis_key(&self, key: impl std::fmt::Display) -> String {
        format!("{}{key}", self.redis_key_prefix)
    }
}

#[cfg(test)]
mod tests;
