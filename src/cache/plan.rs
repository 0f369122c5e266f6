//! One write's scripts: its keys and arguments, the begin that retires
//! what it touches and sets its marker, and the finish that retires it
//! again and takes the marker away ([`super::write`] runs them around the
//! transaction).

use std::sync::OnceLock;
use std::time::Duration;

use super::fresh_epoch;
use super::scripts::{BEGIN_WRITE, FINISH_WRITE, UNCHANGED};
use crate::redis::{Redis, RedisFailure, Resend};
use crate::replicas::Lsn;

/// The keys and arguments of one write's scripts.
pub(super) struct Plan {
    /// `clock` and `versions`.
    pub(super) bookkeeping: [String; 2],
    /// This write's marker among each namespace's writers in flight.
    pub(super) id: String,
    pub(super) writers: Vec<String>,
    pub(super) namespaces: Vec<String>,
    pub(super) exact_keys: Vec<String>,
    pub(super) pending_ttl: Duration,
    /// `CACHE_MAX_VERSIONS`.
    pub(super) max_versions: u64,
    /// The epoch and `seq` the begin answered: where the clock holds no
    /// `lsn`, the finish makes one only from a write begun in this epoch
    /// (see `FINISH_WRITE`).
    pub(super) begun: OnceLock<(String, u64)>,
}

impl Plan {
    /// `script` with this write's keys: `clock`, `versions`, then its
    /// namespaces' writers in flight.
    fn invocation<'s>(&self, script: &'s redis::Script) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.bookkeeping[0])
            .key(&self.bookkeeping[1]);
        for key in &self.writers {
            invocation.key(key);
        }
        invocation
    }

    /// Answers whether the write must record its WAL position (some node
    /// reads replicas).
    pub(super) async fn begin(&self, redis: &Redis) -> Result<bool, RedisFailure> {
        let mut invocation = self.invocation(&BEGIN_WRITE);
        invocation
            .arg(u64::try_from(self.pending_ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(fresh_epoch())
            .arg(&self.id);
        // Sent again on a dropped connection: run twice, it sets the same
        // marker again.
        let (records, epoch, seq): (i64, String, u64) = self
            .run(redis, Resend::OnADroppedConnection, invocation)
            .await?;
        let _ = self.begun.set((epoch, seq));
        Ok(records == 1)
    }

    /// `wal`: the primary's WAL position after the commit, when replicas
    /// read what the cache serves.
    /// On a Redis Cluster, the new versions are waited for on a replica of
    /// the bookkeeping's master before the write is acknowledged, so that
    /// a failover does not roll them back under documents stored since;
    /// none in time is a warning, not a refusal (docs/scaling.md).
    pub(super) async fn finish(&self, redis: &Redis, wal: Option<Lsn>) -> Result<(), RedisFailure> {
        self.finish_at(redis, wal.map(|lsn| lsn.0.to_string()).unwrap_or_default())
            .await
    }

    /// [`Plan::finish`] for a write that changed nothing (its begin
    /// failed): where writes got to stays as it was, whether or not
    /// positions are recorded.
    pub(super) async fn finish_unchanged(&self, redis: &Redis) -> Result<(), RedisFailure> {
        self.finish_at(redis, UNCHANGED.to_owned()).await
    }

    async fn finish_at(&self, redis: &Redis, position: String) -> Result<(), RedisFailure> {
        let mut invocation = self.invocation(&FINISH_WRITE);
        let (epoch, seq) = self.begun.get().cloned().unwrap_or_default();
        invocation
            .arg(position)
            .arg(self.max_versions)
            .arg(&self.id)
            .arg(epoch)
            .arg(seq);
        // Sent again on a dropped connection: run twice, it takes away only
        // its own marker, and moves the clock once more.
        self.run::<i64>(redis, Resend::OnADroppedConnection, invocation)
            .await?;
        if !redis.replicated(&self.bookkeeping[0]).await? {
            tracing::warn!("a write's cache versions reached no replica in time");
        }
        Ok(())
    }

    /// Runs the script with the namespaces as its last arguments, and the
    /// exact keys' deletions, in one round trip; answers the script's answer.
    async fn run<T: redis::FromRedisValue>(
        &self,
        redis: &Redis,
        resend: Resend,
        mut invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisFailure> {
        for namespace in &self.namespaces {
            invocation.arg(namespace);
        }
        redis
            .script_then::<T>(resend, &invocation, &self.delete_exact_keys())
            .await
    }

    /// The documents live under keys of their own (other hash slots on a
    /// cluster): deleted with plain commands, after the script (in the same
    /// round trip on a single server).
    fn delete_exact_keys(&self) -> Vec<redis::Cmd> {
        self.exact_keys.iter().map(redis::Cmd::del).collect()
    }
}
