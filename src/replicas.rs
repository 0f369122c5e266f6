//! PostgreSQL streaming replicas for cacheable reads, with no stale read.
//!
//! Every write through the cache records the primary's WAL position after
//! its commit (`pg_current_wal_insert_lsn()`) with the cache's clock, before the
//! write is acknowledged (see `cache::write`). A read that misses the cache
//! knows from its lookup the position of the last acknowledged write, and
//! reads a replica only once that replica has replayed it
//! (`pg_last_wal_replay_lsn()`, asked on the very connection the read then
//! uses: replay only moves forward while the replica runs). A replica that
//! is behind is given up to `REPLICA_WAIT_MS`; one that is down or still
//! behind is skipped, and the read goes to the primary. See
//! `docs/scaling.md`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::Config;
use crate::db::{Database, DbConn};

/// A replica is asked again this often while it catches up.
const CATCH_UP_POLL: Duration = Duration::from_millis(2);
/// A checkout from a replica's pool waits at most this long.
const CHECKOUT_WAIT: Duration = Duration::from_millis(200);

/// A position in PostgreSQL's write-ahead log (`pg_lsn`), as a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Larger than any real position: "no replica can be trusted" (a write
    /// whose position could not be learnt; Lua's numbers are exact to 2^53).
    pub const UNKNOWN: Lsn = Lsn((1 << 53) - 1);
}

impl FromStr for Lsn {
    type Err = String;

    /// `16/B374D848` (PostgreSQL's text form: two hex halves).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (high, low) = text
            .split_once('/')
            .ok_or_else(|| format!("not a WAL position: {text:?}"))?;
        let part = |half: &str| {
            u64::from_str_radix(half, 16).map_err(|_| format!("not a WAL position: {text:?}"))
        };
        Ok(Lsn((part(high)? << 32) | part(low)?))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    lsn: Option<String>,
}

async fn position(conn: &mut AsyncPgConnection, sql: &str) -> Option<Lsn> {
    let row: Position = diesel::sql_query(sql).get_result(conn).await.ok()?;
    row.lsn?.parse().ok()
}

/// The primary's WAL position now: at or past every commit it has
/// acknowledged. The insert position, not the write position: with
/// `synchronous_commit = off` a commit's record may not be written yet.
pub async fn primary_position(conn: &mut AsyncPgConnection) -> Option<Lsn> {
    position(conn, "SELECT pg_current_wal_insert_lsn()::text AS lsn").await
}

/// What a replica has replayed (`None` when the server is not a standby).
pub async fn replayed(conn: &mut AsyncPgConnection) -> Option<Lsn> {
    position(conn, "SELECT pg_last_wal_replay_lsn()::text AS lsn").await
}

/// One replica: its pool, and what was last seen of it.
struct Replica {
    /// `host:port/database`, for `/health/ready` (no credentials).
    name: String,
    db: Database,
}

/// The replicas, taken in turn.
pub struct Replicas {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    wait: Duration,
    /// Reads answered by a replica, and by the primary instead of one.
    served: AtomicU64,
    passed_over: AtomicU64,
}

/// A replica as `/health/ready` reports it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReplicaHealth {
    /// `host:port/database`.
    pub name: String,
    /// `ok`, `behind` (by more than the wait allows) or `down`.
    pub status: &'static str,
    /// Bytes of WAL it has still to replay, when it answers.
    pub lag_bytes: Option<u64>,
}

impl Replicas {
    /// The replicas `DATABASE_REPLICA_URLS` names (none: an empty set).
    pub fn new(config: &Config) -> Self {
        Self {
            replicas: config
                .database_replica_urls()
                .map(|url| Replica {
                    name: crate::db::public_name(url),
                    db: Database::at(url, config),
                })
                .collect(),
            next: AtomicUsize::new(0),
            wait: config.replica_wait,
            served: AtomicU64::new(0),
            passed_over: AtomicU64::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Reads served by a replica, and reads passed to the primary, so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            AtomicU64::load(&self.served, Ordering::Relaxed),
            AtomicU64::load(&self.passed_over, Ordering::Relaxed),
        )
    }

    /// A connection to a replica that has replayed `at`, or `None`: read
    /// the primary. Replicas are tried in turn; one that cannot be reached
    /// lately is skipped at once, one that is behind is waited for up to the
    /// configured wait (all of them together).
    pub async fn at_least(&self, at: Lsn) -> Option<DbConn<'_>> {
        if self.replicas.is_empty() {
            return None;
        }
        if at >= Lsn::UNKNOWN {
            self.passed_over.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let deadline = Instant::now() + self.wait;
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for turn in 0..self.replicas.len() {
            let replica = &self.replicas[(first + turn) % self.replicas.len()];
            if let Some(conn) = replica.caught_up(at, deadline).await {
                return Some(conn);
            }
        }
        self.passed_over.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Counts a read a replica answered ([`Replicas::at_least`] gave it
    /// one): counted once it answered, so that the exported counter, which
    /// only grows, never needs taking back.
    pub fn answered(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// A read [`Replicas::at_least`] gave a replica failed there and goes
    /// to the primary after all: counted as the primary's.
    pub fn fell_back(&self) {
        self.passed_over.fetch_add(1, Ordering::Relaxed);
    }

    /// Each replica's state, measured against the primary's position `now`.
    pub async fn health(&self, now: Option<Lsn>) -> Vec<ReplicaHealth> {
        // Asked at once: a replica that does not answer takes its whole
        // wait, and the probe's own time is bounded.
        let positions = futures_util::future::join_all(self.replicas.iter().map(async |replica| {
            match tokio::time::timeout(CHECKOUT_WAIT, replica.db.get()).await {
                Ok(Ok(mut conn)) => answered(replayed(&mut conn)).await,
                _ => None,
            }
        }))
        .await;
        let mut report = Vec::new();
        for (replica, replayed) in self.replicas.iter().zip(positions) {
            let lag_bytes = replayed
                .zip(now)
                .map(|(seen, now)| now.0.saturating_sub(seen.0));
            report.push(ReplicaHealth {
                name: replica.name.clone(),
                status: match (replayed, lag_bytes) {
                    (None, _) => "down",
                    // More than 16 MB of WAL behind: a read would rarely
                    // find it current.
                    (Some(_), Some(lag)) if lag > 16 << 20 => "behind",
                    _ => "ok",
                },
                lag_bytes,
            });
        }
        report
    }
}

impl Replica {
    async fn caught_up(&self, at: Lsn, deadline: Instant) -> Option<DbConn<'_>> {
        if self.db.unreachable_lately() {
            return None;
        }
        let mut conn = tokio::time::timeout(CHECKOUT_WAIT, self.db.get())
            .await
            .ok()?
            .ok()?;
        loop {
            let Some(replayed) = answered(replayed(&mut conn)).await else {
                // Passed over by the reads of the next second too.
                self.db.note_unanswered();
                return None;
            };
            if replayed >= at {
                return Some(conn);
            }
            if Instant::now() + CATCH_UP_POLL > deadline {
                return None;
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }
}

/// What a replica answered within [`CHECKOUT_WAIT`]: one that holds its
/// connections open and answers nothing (frozen, its host gone quiet) is
/// passed over as one that is down, instead of holding the read until the
/// request's own timeout. (The connection's late answer is dropped by the
/// driver, which matches each answer to its question.)
async fn answered<T>(question: impl Future<Output = Option<T>>) -> Option<T> {
    tokio::time::timeout(CHECKOUT_WAIT, question)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_read_and_print_as_postgres_writes_them() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert!("0/0".parse::<Lsn>().unwrap() < lsn);
        assert!("16".parse::<Lsn>().is_err());
        assert!("x/1".parse::<Lsn>().is_err());
    }

    #[test]
    fn a_replica_is_named_without_its_credentials() {
        assert_eq!(
            crate::db::public_name("postgres://u:secret@127.0.0.1:5433/shop?sslmode=disable"),
            "127.0.0.1:5433/shop"
        );
        assert_eq!(
            crate::db::public_name("host=db port=5432 user=u password=secret dbname=shop"),
            "host=db port=5432 dbname=shop"
        );
    }
}
