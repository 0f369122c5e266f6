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
        let mut load = Some(load);
        let mut own_error = None;
        let (load_slot, error_slot, flight_cell) = (&mut load, &mut own_error, &cell);
        let shared = cell
            .get_or_init(|| async move {
                // Whoever runs the load takes the flight off the board when
                // done (or dropped), so later requests load afresh.
                let _leave = LeaveFlight {
                    flights: self,
                    name: &name,
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

struct LeaveFlight<'a> {
    flights: &'a Flights,
    name: &'a str,
    cell: &'a Flight,
}

impl Drop for LeaveFlight<'_> {
    fn drop(&mut self) {
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
