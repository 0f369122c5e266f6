//! Fixed-window rate limits kept in Redis, so they hold across instances.
//!
//! Each bucket is one counter: `INCR` it, give it the window's life on first
//! use, and refuse once it passes the limit. One Lua script counts every
//! bucket of an attempt, in one round trip (on a Redis Cluster, where the
//! buckets live in different slots, one call per bucket, in turn: a nested
//! bucket only after the one before let the attempt through). In-process limiters (governor, tower_governor)
//! are well kept but count per instance, which a fleet behind a load
//! balancer would multiply; the Redis-backed crates we found are not kept up,
//! and this is twenty lines.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use crate::redis::{Redis, RedisFailure};

static COUNT_IN_WINDOW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local counts = {}
        local let_through = true
        for i, key in ipairs(KEYS) do
            local window = ARGV[3 * i - 2]
            if ARGV[3 * i] == '1' and not let_through then
                -- Nested in the bucket before, which refused it: not counted.
                counts[i] = {0, 0}
            else
                local count = redis.call('INCR', key)
                local ttl = redis.call('PTTL', key)
                if ttl < 0 then
                    redis.call('PEXPIRE', key, window)
                    ttl = tonumber(window)
                end
                counts[i] = {count, ttl}
                let_through = count <= tonumber(ARGV[3 * i - 1])
            end
        end
        return counts
        ",
    )
});

static TAKE_BACK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        for _, key in ipairs(KEYS) do
            if tonumber(redis.call('GET', key) or '0') > 0 then
                redis.call('DECR', key)
            end
        end
        return 0
        ",
    )
});

/// How many clients' worth of open-ended documents an IPv6 site (a /48)
/// may add to the cache together: its /64s are counted each on their own,
/// and all of them together against this many times one's budget, so that
/// a client holding a routed /48 (65,536 /64s) gets 16 budgets, not 65,536.
/// (Sign-ins have a site limit only when configured:
/// `AUTH_RATE_LIMIT_PER_SITE`.)
pub const SITE_SHARE: u32 = 16;

/// A client address as limits and budgets count it: an IPv4 address
/// itself; an IPv6 address by its /64 network (the block one subscriber is
/// given, RFC 6177, whose addresses a client may switch between at will),
/// and the /48 site around it too; an IPv4-mapped one as its IPv4 address.
/// Anything else, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNetwork {
    network: String,
    site: Option<String>,
}

impl ClientNetwork {
    /// The client `address` (as [`crate::arrival`] found it) is counted as.
    pub fn of(address: &str) -> Self {
        match address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::alone(v4.to_string()),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    Self {
                        network: format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"),
                        site: Some(format!("{a:x}:{b:x}:{c:x}::/48")),
                    }
                }
            },
            _ => Self::alone(address.to_owned()),
        }
    }

    fn alone(network: String) -> Self {
        Self {
            network,
            site: None,
        }
    }

    /// The buckets an attempt from this client takes from, each kept under
    /// `key(name)`, each `window` long: the client's own, `limit`; and,
    /// when `site_limit` is given, an IPv6 client's site's, which counts
    /// only the attempts the client's own let through (one /64 that goes on
    /// past its limit must not use up its neighbours' budget).
    pub fn buckets(
        &self,
        limit: u32,
        site_limit: Option<u32>,
        window: Duration,
        key: impl Fn(&str) -> String,
    ) -> Vec<Bucket> {
        let own = Bucket {
            key: key(&self.network),
            limit,
            window,
            nested: false,
        };
        let site = self
            .site
            .as_deref()
            .zip(site_limit)
            .map(|(site, limit)| Bucket {
                key: key(site),
                limit,
                window,
                nested: true,
            });
        std::iter::once(own).chain(site).collect()
    }
}

/// One counter: `key` (already prefixed) may be hit `limit` times per `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
    /// Counts only the attempts the bucket before it let through (a
    /// site's, after its network's).
    pub nested: bool,
}

/// The outcome of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the window ends in this many seconds (at least 1).
    Limited {
        retry_after_seconds: u64,
    },
}

/// Counts one attempt against every bucket; limited if any is over its limit.
pub async fn hit(redis: &Redis, buckets: &[Bucket]) -> Result<Decision, RedisFailure> {
    let invocation = |buckets: &[Bucket]| {
        let mut invocation = COUNT_IN_WINDOW.prepare_invoke();
        for bucket in buckets {
            let window_ms = u64::try_from(bucket.window.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let nested = if bucket.nested { "1" } else { "0" };
            invocation
                .key(&bucket.key)
                .arg(window_ms)
                .arg(bucket.limit)
                .arg(nested);
        }
        invocation
    };
    let counts: Vec<(u64, i64)> = if redis.is_cluster() {
        // One call per bucket (each in a slot of its own), in turn: a
        // nested one only when the one before let the attempt through.
        let mut counts = Vec::with_capacity(buckets.len());
        let mut let_through = true;
        for bucket in buckets {
            if bucket.nested && !let_through {
                counts.push((0, 0));
                continue;
            }
            let one: Vec<(u64, i64)> = redis
                .script(&invocation(std::slice::from_ref(bucket)))
                .await?;
            let (count, ttl_ms) = one.first().copied().unwrap_or((0, 0));
            let_through = count <= u64::from(bucket.limit);
            counts.push((count, ttl_ms));
        }
        counts
    } else {
        redis.script(&invocation(buckets)).await?
    };
    let retry_after_ms = buckets
        .iter()
        .zip(&counts)
        .filter(|(bucket, (count, _))| *count > u64::from(bucket.limit))
        .map(|(_, (_, ttl_ms))| (*ttl_ms).max(1))
        .max();
    Ok(match retry_after_ms {
        None => Decision::Allowed,
        Some(ms) => Decision::Limited {
            retry_after_seconds: (u64::try_from(ms).unwrap_or(1)).div_ceil(1000),
        },
    })
}

/// Takes one attempt back off every bucket (a count that has expired
/// meanwhile is left alone; one begun again since, by another attempt, is
/// taken one off, which errs only on the client's side, by one).
pub async fn take_back(redis: &Redis, buckets: &[Bucket]) -> Result<(), RedisFailure> {
    let invocation = |buckets: &[Bucket]| {
        let mut invocation = TAKE_BACK.prepare_invoke();
        for bucket in buckets {
            invocation.key(&bucket.key);
        }
        invocation
    };
    // On a Redis Cluster, one call per bucket (each in a slot of its own).
    let per_call = if redis.is_cluster() {
        1
    } else {
        buckets.len().max(1)
    };
    let each = buckets.chunks(per_call).map(|some| async move {
        // Once: run twice, a refund would give one attempt too many.
        let _: i64 = redis.script_once(&invocation(some)).await?;
        Ok::<_, RedisFailure>(())
    });
    futures_util::future::try_join_all(each).await.map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ClientNetwork, SITE_SHARE};

    /// Each bucket's name, limit and whether it is nested, with a site
    /// limit of [`SITE_SHARE`] clients.
    fn buckets(address: &str, limit: u32) -> Vec<(String, u32, bool)> {
        let site = limit.saturating_mul(SITE_SHARE);
        ClientNetwork::of(address)
            .buckets(limit, Some(site), Duration::from_secs(60), str::to_owned)
            .into_iter()
            .map(|bucket| (bucket.key, bucket.limit, bucket.nested))
            .collect()
    }

    #[test]
    fn an_ipv6_address_counts_as_its_network_and_its_site_and_an_ipv4_one_as_itself() {
        let site = 100 * SITE_SHARE;
        assert_eq!(
            buckets("198.51.100.7", 100),
            [("198.51.100.7".into(), 100, false)]
        );
        assert_eq!(
            buckets("2001:db8:1:2::1", 100),
            [
                ("2001:db8:1:2::/64".into(), 100, false),
                ("2001:db8:1::/48".into(), site, true)
            ]
        );
        assert_eq!(
            buckets("2001:db8:1:2:ffff:ffff:ffff:ffff", 100),
            buckets("2001:db8:1:2::1", 100)
        );
        assert_eq!(
            buckets("::ffff:198.51.100.7", 100),
            buckets("198.51.100.7", 100)
        );
        assert_eq!(buckets("unknown", 100), [("unknown".into(), 100, false)]);
        let without_site: Vec<String> = ClientNetwork::of("2001:db8:1:2::1")
            .buckets(100, None, Duration::from_secs(60), str::to_owned)
            .into_iter()
            .map(|bucket| bucket.key)
            .collect();
        assert_eq!(without_site, ["2001:db8:1:2::/64"]);
    }

    #[test]
    fn a_site_limit_does_not_overflow() {
        let limits: Vec<u32> = buckets("2001:db8::1", u32::MAX)
            .into_iter()
            .map(|(_, limit, _)| limit)
            .collect();
        assert_eq!(limits, [u32::MAX, u32::MAX]);
    }
}
