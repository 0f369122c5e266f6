//! The small values a setting parses into.

use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("expected `pretty` or `json`".into()),
        }
    }
}

/// Bounds on what the cache admits (see `docs/cache.md`, "What a client can
/// make the cache hold").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// List pages past this are not cached.
    pub max_page: i64,
    /// Open-ended documents one client may add per minute.
    pub open_queries_per_client: u32,
    /// Life of an open-ended document.
    pub open_query_ttl: Duration,
    /// Namespaces the cache keeps a version of, at most: past it, a write's
    /// finish retires every entry at once and starts the record anew.
    pub max_versions: u64,
}

/// How many sign-up and sign-in attempts a window lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_address: u32,
    /// All the /64s of one IPv6 /48 together (`AUTH_RATE_LIMIT_PER_SITE`);
    /// `None` (the default): no limit but each /64's.
    pub per_site: Option<u32>,
    pub per_email: u32,
    pub window: Duration,
}

/// A demo account the seed command creates (both variables set, or neither).
#[derive(Debug, Clone)]
pub struct SeedAccount {
    pub email: String,
    pub password: SecretString,
}

/// A comma-separated list of URLs (blank entries ignored).
pub(super) fn list_of(value: Option<String>) -> Vec<SecretString> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| SecretString::from(url.to_owned()))
        .collect()
}
