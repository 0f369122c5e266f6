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

/// The entry, then `HMGET clock epoch seq lsn` and the versions of the
/// key's own.
type LookupReply = (
    Option<Vec<u8>>,
    ((Option<String>, Option<u64>, Option<u64>), Vec<Option<u64>>),
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
        // pipeline), on their own on a cluster (another slot).
        let bookkeeping = |pipeline: &mut redis::Pipeline| {
            pipeline
                .cmd("HMGET")
                .arg(self.clock_key())
                .arg("epoch")
                .arg("seq")
                .arg("lsn");
            pipeline.cmd("HMGET").arg(self.versions_key()).arg(&names);
        };
        let (entry, ((epoch, seq, lsn), versions)): LookupReply = if self.redis.is_cluster() {
            let mut clock = redis::pipe();
            bookkeeping(&mut clock);
            tokio::try_join!(self.redis.query(&entry), self.redis.pipeline(&clock))?
        } else {
            let mut pipeline = redis::pipe();
            pipeline.add_command(entry);
            bookkeeping(&mut pipeline);
            let (entry, clock, versions) = self.redis.pipeline(&pipeline).await?;
            (entry, (clock, versions))
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
    /// it shows beyond its key's own cost a second round trip.
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
            let shown: Vec<Option<u64>> = self
                .redis
                .query(
                    redis::cmd("HMGET")
                        .arg(self.versions_key())
                        .arg(&header.shows),
                )
                .await?;
            if shown.iter().flatten().any(|version| *version > header.seq) {
                return Ok(None);
            }
        }
        let (etag, body_at) = (header.etag.to_owned(), header.body_at);
        // The body is a slice of the bytes Redis sent, not a copy.
        Ok(Some((etag, Bytes::from(entry).slice(body_at..))))
    }
}
