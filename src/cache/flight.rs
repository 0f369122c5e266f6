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
        let holding = HoldFlight {
            flights: self,
            name: &name,
            cell: Some(cell),
        };
        let cell = holding.cell();
        let mut load = Some(load);
        let mut own_error = None;
        let (load_slot, error_slot, flight_cell, flight_name) =
            (&mut load, &mut own_error, cell, name.as_str());
        let shared = cell
            .get_or_init(|| async move {
                // Whoever runs the load takes the flight off the board when
                // done (or dropped), so later requests load afresh.
                let _leave = LeaveFlight {
                    flights: self,
                    name: flight_name,
                    cell: flight_cell,
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

impl Flights {
    /// With the board locked: lets go of `let_go` (a request's own hold),
    /// then takes `name` off the board if the board holds `cell` under it
    /// and `also` says so of the board's entry.
    fn take_off(
        &self,
        name: &str,
        cell: *const OnceCell<Option<Document>>,
        let_go: Option<Flight>,
        also: impl FnOnce(&Flight) -> bool,
    ) {
        let mut flights = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        drop(let_go);
        if flights
            .get(name)
            .is_some_and(|(_, current)| std::ptr::eq(Arc::as_ptr(current), cell) && also(current))
        {
            flights.remove(name);
        }
    }
}

/// The loader's: takes its flight off the board when the load is done or
/// dropped, so later requests load afresh.
struct LeaveFlight<'a> {
    flights: &'a Flights,
    name: &'a str,
    cell: &'a Flight,
}

impl Drop for LeaveFlight<'_> {
    fn drop(&mut self) {
        self.flights
            .take_off(self.name, Arc::as_ptr(self.cell), None, |_| true);
    }
}

/// A request's hold on its flight. The last request to let go of a flight
/// whose load never ran takes it off the board: each lets go with the
/// board locked, so of two let go at once the second sees itself last.
struct HoldFlight<'a> {
    flights: &'a Flights,
    name: &'a str,
    cell: Option<Flight>,
}

impl HoldFlight<'_> {
    fn cell(&self) -> &Flight {
        self.cell.as_ref().expect("held until dropped")
    }
}

impl Drop for HoldFlight<'_> {
    fn drop(&mut self) {
        // A flight that loaded was taken off by its loader: nothing to do,
        // and no lock to take on every miss.
        let Some(cell) = self.cell.take().filter(|cell| !cell.initialized()) else {
            return;
        };
        let at = Arc::as_ptr(&cell);
        // Once this hold is let go, the board's own is the only one left:
        // nobody else waits on it.
        self.flights.take_off(self.name, at, Some(cell), |current| {
            Arc::strong_count(current) == 1
        });
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;

    fn on_the_board(flights: &Flights) -> usize {
        flights.0.lock().unwrap().len()
    }

    /// Requests dropped before any load ran on their flight (each one's
    /// wait for the cell pending: the task's budget spent): the flight
    /// stays while one still waits on it, and goes with the last.
    #[tokio::test]
    async fn requests_dropped_before_their_flight_loaded_leave_nothing_behind() {
        let flights = Flights::default();
        let counters = KindCounters::default();
        let pending = || {
            Box::pin(flights.load_once(
                "product:1@7".into(),
                None,
                || async { unreachable!("dropped before it loads") },
                &counters,
            ))
        };
        let (mut first, mut second) = (pending(), pending());
        std::future::poll_fn(|cx| {
            while let Poll::Ready(progress) = tokio::task::coop::poll_proceed(cx) {
                progress.made_progress();
            }
            assert!(first.as_mut().poll(cx).is_pending());
            assert!(second.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(first);
        assert_eq!(on_the_board(&flights), 1, "the second still waits on it");
        drop(second);
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
