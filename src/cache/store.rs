//! The store path of a miss: admission (an open-ended query within its
//! client's budget), the check that nothing the document shows was written
//! since its lookup, and the write of the entry.

use std::time::Duration;

use super::keys::{Admission, CacheKey, Namespace};
use super::scripts::MAY_STORE;
use super::{ADMISSION_WINDOW_MS, Cache, Document, Lookup, Stored, entry, fresh_epoch};
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
            Admission::Open { client } => {
                if !self.admit(client).await? {
                    return Ok(Stored::OverBudget);
                }
                self.limits.open_query_ttl
            }
        };
        let Some(epoch) = self.may_store(key, lookup, document).await? else {
            return Ok(Stored::Stale);
        };
        self.store(key, &epoch, lookup.seq, document, ttl).await?;
        Ok(Stored::Yes)
    }

    /// Counts one more open-ended document for `client`; false past its budget.
    async fn admit(&self, client: &str) -> Result<bool, RedisFailure> {
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
        Ok(admitted <= u64::from(self.limits.open_queries_per_client))
    }

    /// The epoch to store the document under, when nothing it depends on
    /// was written since the lookup.
    async fn may_store(
        &self,
        key: &CacheKey,
        lookup: &Lookup,
        document: &Document,
    ) -> Result<Option<String>, RedisFailure> {
        let names: Vec<&str> = key
            .depends_on
            .iter()
            .chain(&document.shows)
            .map(Namespace::name)
            .collect();
        let mut invocation = MAY_STORE.prepare_invoke();
        invocation.key(self.clock_key()).key(self.versions_key());
        for name in &names {
            invocation.key(self.pending_key(name));
        }
        invocation
            .arg(lookup.epoch.as_deref().unwrap_or(""))
            .arg(lookup.seq)
            .arg(fresh_epoch());
        for name in &names {
            invocation.arg(*name);
        }
        self.redis.script(&invocation).await
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
        let full_key = format!("{}{}", self.prefix, key.key);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
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
