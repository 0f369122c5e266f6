//! Single flight: concurrent misses of the same document, with the same
//! view of the versions, share one load from PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OnceCell;

use super::Document;
use super::stats::{CacheStats, KindCounters};
use crate::error::{AppError, AppResult};

type Flight = Arc<OnceCell<Option<Document>>>;

/// The loads in flight, by name, with when each began.
#[derive(Default)]
pub(super) struct Flights(Mutex<HashMap<String, (Instant, Flight)>>);

impl Flights {
    /// Runs `load` under `name`, unless an identical load is running: then
    /// waits for it and shares its document. With `begun_after`, only a
    /// load begun since then is shared (else this one begins, and later
    /// readers share it instead). A load that fails gives its error to its
    /// own request only; the others try for themselves.
    pub(super) async fn load_once<F, Fut>(
        &self,
        name: String,
        begun_after: Option<Instant>,
        load: F,
        counters: &KindCounters,
    ) -> AppResult<Document>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<Document>>,
    {
        let cell = {
            let mut flights = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
            match flights.get(&name) {
                Some((begun, cell)) if begun_after.is_none_or(|after| *begun >= after) => {
                    cell.clone()
                }
                _ => {
                    let cell = Flight::default();
                    flights.insert(name.clone(), (Instant::now(), cell.clone()));
                    cell
                }
            }
        };
        // A request dropped before any load ran on its flight (its first
        // wait for the cell was pending: a busy task's budget spent) and
        // that no other request shares leaves no flight behind; its name
        // holds versions that may never come again.
        let _unshared = OffTheBoard {
            flights: self,
            name: &name,
            cell: &cell,
            unshared_only: true,
        };
        let mut load = Some(load);
        let mut own_error = None;
        let (load_slot, error_slot, flight_cell, flight_name) =
            (&mut load, &mut own_error, &cell, name.as_str());
        let shared = cell
            .get_or_init(|| async move {
                // Whoever runs the load takes the flight off the board when
                // done (or dropped), so later requests load afresh.
                let _leave = OffTheBoard {
                    flights: self,
                    name: flight_name,
                    cell: flight_cell,
                    unshared_only: false,
                };
                let load = load_slot.take().expect("the load runs once");
                match load().await {
                    Ok(document) => Some(document),
                    Err(error) => {
                        *error_slot = Some(error);
                        None
                    }
                }
            })
            .await
            .clone();
        match (shared, own_error, load) {
            (_, Some(error), _) => Err(error),
            (Some(document), None, Some(_)) => {
                CacheStats::bump(&counters.coalesced);
                Ok(document)
            }
            (Some(document), None, None) => Ok(document),
            (None, None, Some(load)) => load().await,
            (None, None, None) => Err(AppError::Internal(anyhow::anyhow!(
                "a cache load failed without an error"
            ))),
        }
    }
}

/// Takes a flight off the board when dropped (if the board still holds
/// this one): always, for the request that ran its load; for any other
/// request, only when the flight never began its load and no other request
/// holds it (the board's own hold aside).
struct OffTheBoard<'a> {
    flights: &'a Flights,
    name: &'a str,
    cell: &'a Flight,
    unshared_only: bool,
}

impl Drop for OffTheBoard<'_> {
    fn drop(&mut self) {
        if self.unshared_only && (self.cell.initialized() || Arc::strong_count(self.cell) > 2) {
            return;
        }
        let mut flights = self
            .flights
            .0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if flights
            .get(self.name)
            .is_some_and(|(_, current)| Arc::ptr_eq(current, self.cell))
        {
            flights.remove(self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;

    fn on_the_board(flights: &Flights) -> usize {
        flights.0.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_request_dropped_before_its_load_began_leaves_no_flight_behind() {
        let flights = Flights::default();
        let counters = KindCounters::default();
        let mut request = Box::pin(flights.load_once(
            "product:1@7".into(),
            None,
            || async { unreachable!("dropped before it loads") },
            &counters,
        ));
        std::future::poll_fn(|cx| {
            // The task's budget spent, the wait for the flight's cell is
            // pending: the flight is on the board, its load not begun.
            while let Poll::Ready(progress) = tokio::task::coop::poll_proceed(cx) {
                progress.made_progress();
            }
            assert!(request.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(on_the_board(&flights), 1);
        drop(request);
        assert_eq!(on_the_board(&flights), 0);
    }

    #[tokio::test]
    async fn a_flight_shared_by_a_waiting_request_stays_when_another_is_dropped() {
        let flights = Flights::default();
        let counters = KindCounters::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let loader = flights.load_once(
            "product:1@7".into(),
            None,
            || async {
                released.await.ok();
                Err(AppError::Internal(anyhow::anyhow!("not this time")))
            },
            &counters,
        );
        let mut loader = Box::pin(loader);
        assert!(futures_util::poll!(loader.as_mut()).is_pending());
        let mut waiter = Box::pin(flights.load_once(
            "product:1@7".into(),
            None,
            || async { Err(AppError::Internal(anyhow::anyhow!("its own"))) },
            &counters,
        ));
        assert!(futures_util::poll!(waiter.as_mut()).is_pending());
        drop(waiter);
        assert_eq!(on_the_board(&flights), 1, "the loader's flight stays");
        release.send(()).unwrap();
        assert!(loader.await.is_err());
        assert_eq!(on_the_board(&flights), 0);
    }
}
