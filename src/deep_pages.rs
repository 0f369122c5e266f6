//! A bulkhead for pages read by `OFFSET` deep into a list.
//!
//! PostgreSQL reads every row an `OFFSET` skips: page 40,000 of the million
//! products takes about 3 s (docs/performance.md). Pages past the cached
//! ones are loaded afresh each time, so a handful of clients asking for
//! deep pages at once would hold every pooled connection, and every other
//! request (a product page, an order) would wait for one and then fail.
//! A read that skips more than [`DEEP_OFFSET`] rows therefore takes one of
//! a few slots first (a quarter of the pool): deep pages queue behind each
//! other, not in front of everyone else. One that gets no slot within the
//! pool's own wait is a 503 with `Retry-After`. A client that follows a
//! list's `next` cursor never skips rows, and never needs a slot.
//!
//! Name searches have slots of their own, as many ([`DeepPages::search_slot`]):
//! an uncached search of a common word (typos corrected) reads for hundreds
//! of milliseconds at a million products, and a flood of distinct ones would
//! otherwise hold every pooled connection. Only a search the cache misses
//! takes one; deep pages and searches never wait for each other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::config::Config;
use crate::error::AppError;

/// The rows a read may skip before it counts as deep: where a product
/// list's `total` stops counting (API.md), and where the skip starts to
/// cost tens of milliseconds at a million products.
pub const DEEP_OFFSET: i64 = 10_000;

/// The slots deep reads share, and those searches share.
#[derive(Debug, Clone)]
pub struct DeepPages {
    slots: Arc<Semaphore>,
    searches: Arc<Semaphore>,
    wait: Duration,
}

impl DeepPages {
    /// A quarter of the pool's connections (at least one) for each kind,
    /// waited for as long as a connection is.
    pub fn new(config: &Config) -> Self {
        let slots = (config.database_pool_size / 4).max(1) as usize;
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            searches: Arc::new(Semaphore::new(slots)),
            wait: config.database_connect_timeout,
        }
    }

    /// For a search the cache missed (`searched`), one of the searches'
    /// slots, held while the result lives (a 503 with `Retry-After` past
    /// the wait); nothing for any other list.
    pub async fn search_slot(
        &self,
        searched: bool,
    ) -> Result<Option<OwnedSemaphorePermit>, AppError> {
        if !searched {
            return Ok(None);
        }
        match tokio::time::timeout(self.wait, self.searches.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Some(slot)),
            _ => {
                metrics::counter!("searches_refused_total").increment(1);
                Err(AppError::unavailable(
                    "too many searches are being read at once; retry shortly",
                ))
            }
        }
    }

    /// Runs `read`, a read that skips `offset` rows. A deep one waits for a
    /// slot, then runs in a task of its own that holds the slot until the
    /// read ends, even when the request is dropped meanwhile (its client
    /// gone): PostgreSQL goes on reading the skipped rows after the drop,
    /// and the slot must go on counting them.
    pub async fn read<T: Send + 'static>(
        &self,
        offset: i64,
        read: impl Future<Output = Result<T, AppError>> + Send + 'static,
    ) -> Result<T, AppError> {
        if offset <= DEEP_OFFSET {
            return read.await;
        }
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                metrics::counter!("deep_pages_refused_total").increment(1);
                return Err(AppError::unavailable(format!(
                    "too many pages beyond row {DEEP_OFFSET} are being read at once; retry \
                     shortly (a list's `next` link, where it has one, skips no rows)"
                )));
            }
        };
        // (In the request's span: what the read logs names its request.)
        let read = async move {
            let _slot = slot;
            read.await
        };
        tokio::spawn(read.instrument(tracing::Span::current()))
            .await
            .map_err(|error| {
                AppError::Internal(anyhow::anyhow!("a deep page's read failed: {error}"))
            })?
    }
}
