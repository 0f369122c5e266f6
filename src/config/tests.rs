//! `Config::from_source`: defaults, and every bad setting named at start-up.

use super::*;
use std::collections::HashMap;

fn source(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn minimal() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DATABASE_URL", "postgres://localhost/emporium"),
        ("REDIS_URL", "redis://localhost"),
        ("JWT_SECRET", SECRET),
    ]
}

#[test]
fn defaults_apply_when_only_required_values_are_set() {
    let config = Config::from_source(&source(&minimal())).unwrap();
    assert_eq!(config.bind_addr.to_string(), DEFAULT_BIND_ADDR);
    assert_eq!(config.cache_ttl, Duration::from_secs(1800));
    assert_eq!(config.redis_key_prefix, "");
    assert_eq!(config.body_limit_bytes, 1024 * 1024);
    assert_eq!(config.bodies_in_flight_bytes, 16 * 1024 * 1024);
    assert_eq!(config.log_format, LogFormat::Pretty);
}

#[test]
fn a_missing_variable_is_named() {
    let pairs: Vec<_> = minimal()
        .into_iter()
        .filter(|(k, _)| *k != "REDIS_URL")
        .collect();
    let error = Config::from_source(&source(&pairs)).unwrap_err();
    assert!(error.to_string().contains("REDIS_URL"), "{error}");
}

#[test]
fn a_malformed_variable_is_named() {
    for (name, value) in [
        ("CACHE_TTL_SECONDS", "soon"),
        ("CACHE_TTL_SECONDS", "0"),
        ("BIND_ADDR", "localhost"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_POOL_SIZE", "-1"),
        // Past what PostgreSQL's lock_timeout, Redis' expiries or the
        // runtime take: named at start-up, not failing later.
        ("REQUEST_TIMEOUT_SECONDS", "3221226"),
        ("REQUEST_TIMEOUT_SECONDS", "18446744073709551615"),
        ("MAX_CONNECTIONS", "2305843009213693952"),
        ("AUTH_RATE_LIMIT_WINDOW_SECONDS", "9223372036854775807"),
        ("JWT_TTL_SECONDS", "9223372036854775807"),
        ("PASSWORD_HASH_SLOTS", "0"),
        ("PASSWORD_HASH_SLOTS", "100000"),
        ("UNPAID_ORDER_HOURS", "-1"),
        ("UNPAID_ORDER_HOURS", "8761"),
    ] {
        let mut pairs = minimal();
        pairs.push((name, value));
        let error = Config::from_source(&source(&pairs)).unwrap_err();
        assert!(error.to_string().contains(name), "{name}={value}: {error}");
    }
}

#[test]
fn a_seed_account_needs_both_variables() {
    let mut pairs = minimal();
    pairs.push(("SEED_ADMIN_EMAIL", "admin@example.com"));
    let error = Config::from_source(&source(&pairs)).unwrap_err();
    assert!(error.to_string().contains("SEED_ADMIN_PASSWORD"), "{error}");
    pairs.push(("SEED_ADMIN_PASSWORD", "a-long-password"));
    let config = Config::from_source(&source(&pairs)).unwrap();
    assert_eq!(config.seed_admin.unwrap().email, "admin@example.com");
    assert!(config.seed_customer.is_none());
    assert_eq!(config.jwt_ttl, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(config.auth_rate_limit.per_email, 10);
}

#[test]
fn unpaid_orders_are_left_alone_unless_told_after_how_many_hours_to_cancel_them() {
    let hours = |value: Option<&'static str>| {
        let mut pairs = minimal();
        pairs.extend(value.map(|value| ("UNPAID_ORDER_HOURS", value)));
        Config::from_source(&source(&pairs))
            .unwrap()
            .unpaid_order_life
    };
    assert_eq!(hours(None), None);
    assert_eq!(hours(Some("24")), Some(Duration::from_secs(24 * 3600)));
    assert_eq!(hours(Some("2")), Some(Duration::from_secs(2 * 3600)));
    assert_eq!(hours(Some("0")), None);
}

#[test]
fn a_short_jwt_secret_is_refused() {
    let mut pairs = minimal();
    pairs.retain(|(k, _)| *k != "JWT_SECRET");
    pairs.push(("JWT_SECRET", "too-short"));
    let error = Config::from_source(&source(&pairs)).unwrap_err();
    assert!(error.to_string().contains("JWT_SECRET"), "{error}");
}

#[test]
fn the_cache_is_one_redis_or_one_cluster_not_both() {
    let mut pairs = minimal();
    pairs.push((
        "CACHE_REDIS_CLUSTER_NODES",
        "redis://a:7000, redis://b:7001",
    ));
    let config = Config::from_source(&source(&pairs)).unwrap();
    assert_eq!(config.cache_redis_cluster_nodes.len(), 2);
    pairs.push(("CACHE_REDIS_URL", "redis://localhost:6380"));
    let error = Config::from_source(&source(&pairs)).unwrap_err();
    assert!(
        error.to_string().contains("CACHE_REDIS_CLUSTER_NODES"),
        "{error}"
    );
}

#[test]
fn hashing_takes_a_slot_a_core_unless_told() {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let config = Config::from_source(&source(&minimal())).unwrap();
    assert_eq!(config.password_hash_slots, cores);
    let mut pairs = minimal();
    pairs.push(("PASSWORD_HASH_SLOTS", "3"));
    let config = Config::from_source(&source(&pairs)).unwrap();
    assert_eq!(config.password_hash_slots, 3);
}
