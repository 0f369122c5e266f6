//! A lookup: the entry and the clock in one round trip, and whether the
//! entry is current.

use bytes::Bytes;

use super::entry::Header;
use super::{Cache, CacheKey, Namespace, fresh_epoch};
use crate::redis::RedisFailure;
use crate::replicas::Lsn;

/// What Redis said at a lookup: the entry, and the clock (to store with).
pub(super) struct Lookup {
    pub(super) entry: Option<Vec<u8>>,
    pub(super) epoch: Option<String>,
    pub(super) seq: u64,
    /// The primary's WAL position after the last acknowledged write;
    /// `None` when no write recorded one since Redis last lost its data
    /// (then only the primary is sure to be current).
    pub(super) lsn: Option<Lsn>,
    /// The versions of the key's own namespaces.
    pub(super) versions: Vec<u64>,
}

/// The entry, then the versions of the key's own and `HMGET clock epoch
/// seq lsn`.
type LookupReply = (
    Option<Vec<u8>>,
    (Vec<Option<u64>>, (Option<String>, Option<u64>, Option<u64>)),
);

impl Cache {
    /// One round trip: the entry, the clock, and the key's own versions (on
    /// a cluster, the entry and the bookkeeping live in different slots:
    /// two calls, at once).
    pub(super) async fn lookup(&self, key: &CacheKey) -> Result<Lookup, RedisFailure> {
        let full_key = self.entry_key(key);
        let entry = match key.field {
            Some(field) => redis::Cmd::hget(&full_key, field),
            None => redis::Cmd::get(&full_key),
        };
        let names: Vec<&str> = key.depends_on.iter().map(Namespace::name).collect();
        // The bookkeeping's reads, after the entry's on a single server (one
        // pipeline), on their own on a cluster (another slot). The versions
        // are read before the clock: when the record of versions starts
        // anew between the two (a write's finish past its bound deletes
        // them with the epoch), the clock read after shows another epoch,
        // and versions read as 0 can never pass for current.
        let bookkeeping = |pipeline: &mut redis::Pipeline| {
            pipeline.cmd("HMGET").arg(self.versions_key()).arg(&names);
            pipeline
                .cmd("HMGET")
                .arg(self.clock_key())
                .arg("epoch")
                .arg("seq")
                .arg("lsn");
        };
        let (entry, (versions, (epoch, seq, lsn))): LookupReply = if self.redis.is_cluster() {
            let mut clock = redis::pipe();
            bookkeeping(&mut clock);
            tokio::try_join!(self.redis.query(&entry), self.redis.pipeline(&clock))?
        } else {
            let mut pipeline = redis::pipe();
            pipeline.add_command(entry);
            bookkeeping(&mut pipeline);
            let (entry, versions, clock) = self.redis.pipeline(&pipeline).await?;
            (entry, (versions, clock))
        };
        let epoch = match epoch {
            Some(epoch) => epoch,
            None => self.settle_epoch().await?,
        };
        Ok(Lookup {
            entry,
            epoch: Some(epoch),
            seq: seq.unwrap_or(0),
            lsn: lsn.map(Lsn),
            versions: versions
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
        })
    }

    /// The clock's epoch, set first if it has none (Redis lost its data, or
    /// an operator deleted it): a lookup always names a concrete epoch, so
    /// readers that met the loss together store under one epoch, and a
    /// second loss while they load (a new epoch) keeps them from storing.
    /// (One more round trip, only after a loss.)
    async fn settle_epoch(&self) -> Result<String, RedisFailure> {
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("HSETNX")
            .arg(self.clock_key())
            .arg("epoch")
            .arg(fresh_epoch())
            .ignore()
            .cmd("HGET")
            .arg(self.clock_key())
            .arg("epoch");
        let (epoch,): (String,) = self.redis.pipeline(&pipeline).await?;
        Ok(epoch)
    }

    /// The entry's ETag and body when it is current: same epoch, and no
    /// namespace it depends on written since it was loaded. The namespaces
    /// it shows beyond its key's own cost a second round trip, which reads
    /// the epoch again after their versions: a record of versions started
    /// anew since the lookup reads as versions 0, and only the epoch then
    /// tells that they are not.
    pub(super) async fn valid_body(
        &self,
        lookup: &mut Lookup,
    ) -> Result<Option<(String, Bytes)>, RedisFailure> {
        let Some(entry) = lookup.entry.take() else {
            return Ok(None);
        };
        let Some(header) = Header::parse(&entry) else {
            return Ok(None);
        };
        if Some(header.epoch) != lookup.epoch.as_deref()
            || lookup.versions.iter().any(|version| *version > header.seq)
        {
            return Ok(None);
        }
        if !header.shows.is_empty() {
            let mut pipeline = redis::pipe();
            pipeline
                .cmd("HMGET")
                .arg(self.versions_key())
                .arg(&header.shows)
                .cmd("HGET")
                .arg(self.clock_key())
                .arg("epoch");
            let (shown, epoch): (Vec<Option<u64>>, Option<String>) =
                self.redis.pipeline(&pipeline).await?;
            if epoch.as_deref() != Some(header.epoch)
                || shown.iter().flatten().any(|version| *version > header.seq)
            {
                return Ok(None);
            }
        }
        let (etag, body_at) = (header.etag.to_owned(), header.body_at);
        // The body is a slice of the bytes Redis sent, not a copy.
        Ok(Some((etag, Bytes::from(entry).slice(body_at..))))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cache::testing::{cache, forget, prefix};
    use crate::cache::{Document, Retirement, Stored};

    async fn write(cache: &Cache, namespace: &str) {
        let retired = Retirement::of([Namespace::named(namespace.to_owned())]);
        let write = cache.begin_write(retired).await.expect("the write began");
        write.finish().await.expect("the write finished");
    }

    async fn is_hit(cache: &Cache, key: &CacheKey) -> bool {
        let mut lookup = cache.lookup(key).await.expect("Redis answers");
        let body = cache.valid_body(&mut lookup).await.expect("Redis answers");
        body.is_some()
    }

    #[tokio::test]
    async fn a_hit_is_refused_when_the_record_of_versions_starts_anew_between_its_reads() {
        let prefix = prefix();
        let reader = cache(&prefix, "250000");
        // Another node's writes, whose finish takes the record past one.
        let bounded = cache(&prefix, "1");
        let key = CacheKey::new(
            "products:page:1".to_owned(),
            "products",
            vec![Namespace::fixed("products")],
        );
        // A page that shows product 7, stored and served.
        let lookup = reader.lookup(&key).await.unwrap();
        let page = Document::envelope(&json!({"data": [{"id": 7, "stock": 5}]}))
            .unwrap()
            .showing([Namespace::named("product:7".to_owned())]);
        let stored = reader.admit_and_store(&key, &lookup, &page).await.unwrap();
        assert!(matches!(stored, Stored::Yes));
        assert!(is_hit(&reader, &key).await);
        // An order of product 7, acknowledged: the page is retired.
        write(&reader, "product:7").await;
        assert!(!is_hit(&reader, &key).await);
        // A reader's first round trip; then, before it reads the versions of
        // what the page shows, the record of versions starts anew.
        let mut lookup = reader.lookup(&key).await.unwrap();
        write(&bounded, "product:8").await;
        let served = reader.valid_body(&mut lookup).await.unwrap();
        forget(&reader, &prefix).await;
        assert!(
            served.is_none(),
            "a page older than an acknowledged order was served"
        );
    }
}
