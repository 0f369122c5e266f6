//! The store path of a miss: admission (an open-ended query within its
//! client's budget), the check that nothing the document shows was written
//! since its lookup, and the write of the entry.

use std::time::Duration;

use super::keys::{Admission, CacheKey, Namespace};
use super::scripts::MAY_STORE;
use super::{ADMISSION_WINDOW, Cache, Document, Lookup, Stored, entry, fresh_epoch};
use crate::rate_limit::{self, ClientNetwork, Decision};
use crate::redis::RedisFailure;

impl Cache {
    /// Stores the document unless its client is over budget (an open-ended
    /// query) or a write got in the way.
    pub(super) async fn admit_and_store(
        &self,
        key: &CacheKey,
        lookup: &Lookup,
        document: &Document,
    ) -> Result<Stored, RedisFailure> {
        let ttl = match &key.admission {
            Admission::Always => self.ttl,
            Admission::Never => return Ok(Stored::OverBudget),
            Admission::Open { client } | Admission::Budgeted { client }
                if !self.admit(client).await? =>
            {
                return Ok(Stored::OverBudget);
            }
            Admission::Open { .. } => self.limits.open_query_ttl,
            Admission::Budgeted { .. } => self.ttl,
        };
        if self.store_if_current(key, lookup, document, ttl).await? {
            Ok(Stored::Yes)
        } else {
            Ok(Stored::Stale)
        }
    }

    /// Counts one more open-ended document for `client` (and its site);
    /// false past either's budget.
    async fn admit(&self, client: &ClientNetwork) -> Result<bool, RedisFailure> {
        let budget = self.limits.open_queries_per_client;
        let site = budget.saturating_mul(rate_limit::SITE_SHARE);
        let buckets = client.buckets(budget, Some(site), ADMISSION_WINDOW, |network| {
            format!("{}cache-admission:{network}", self.prefix)
        });
        let decision = rate_limit::hit(&self.redis, &buckets).await?;
        Ok(decision == Decision::Allowed)
    }

    /// Stores the document when nothing it depends on was written since
    /// the lookup; false when something was. On a single server the check
    /// stores it too (one round trip); on a cluster, where the entry and
    /// the bookkeeping live in different slots, the store follows it.
    async fn store_if_current(
        &self,
        key: &CacheKey,
        lookup: &Lookup,
        document: &Document,
        ttl: Duration,
    ) -> Result<bool, RedisFailure> {
        let names: Vec<&str> = key
            .depends_on
            .iter()
            .chain(&document.shows)
            .map(Namespace::name)
            .collect();
        let mut invocation = MAY_STORE.prepare_invoke();
        invocation.key(self.clock_key()).key(self.versions_key());
        for name in &names {
            invocation.key(self.writers_key(name));
        }
        invocation
            .arg(lookup.epoch.as_deref().unwrap_or(""))
            .arg(lookup.seq)
            .arg(fresh_epoch())
            .arg(names.len());
        for name in &names {
            invocation.arg(*name);
        }
        let stores_too = !self.redis.is_cluster();
        if stores_too {
            invocation
                .key(self.entry_key(key))
                .arg(entry::after_clock(document))
                .arg(ttl_ms(ttl))
                .arg(key.field.unwrap_or(""));
        }
        let epoch: Option<String> = self.redis.script(&invocation).await?;
        match epoch {
            None => Ok(false),
            Some(_) if stores_too => Ok(true),
            Some(epoch) => {
                self.store(key, &epoch, lookup.seq, document, ttl).await?;
                Ok(true)
            }
        }
    }

    async fn store(
        &self,
        key: &CacheKey,
        epoch: &str,
        seq: u64,
        document: &Document,
        ttl: Duration,
    ) -> Result<(), RedisFailure> {
        let value = entry::encode(epoch, seq, document);
        let full_key = self.entry_key(key);
        let ttl_ms = ttl_ms(ttl);
        let mut pipeline = redis::pipe();
        match key.field {
            None => {
                pipeline
                    .cmd("SET")
                    .arg(&full_key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms);
            }
            Some(field) => {
                pipeline.hset(&full_key, field, value).ignore();
                pipeline.pexpire(&full_key, ttl_ms as i64);
            }
        }
        self.redis.pipeline::<()>(&pipeline).await
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}
