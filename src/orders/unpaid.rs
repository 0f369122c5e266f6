//! Orders left unpaid: an order still `placed` `UNPAID_ORDER_HOURS` after
//! it was placed is cancelled on its owner's behalf, so that its stock goes
//! back on sale instead of being held for good by an order nobody pays for
//! (a shopper who walked away, or one who orders a product's whole stock to
//! keep others from buying it). Each is cancelled as its owner would cancel
//! it, by [`service::change_status`] in a transaction of its own: an order
//! paid (or cancelled) since it was picked is left as it is, and two nodes
//! at once cancel each order once.

use std::time::Duration;

use super::domain::{Actor, Status};
use super::queries;
use super::service;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How many orders one query picks.
const BATCH: i64 = 100;

/// Cancels every order placed more than `life` ago and still `placed`;
/// answers how many it cancelled.
pub async fn cancel_unpaid(state: &AppState, life: Duration) -> AppResult<usize> {
    let mut cancelled = 0;
    let mut after = 0;
    loop {
        let picked = {
            let mut conn = state.conn().await?;
            queries::unpaid_for(&mut conn, life, after, BATCH).await?
        };
        for &(id, owner) in &picked {
            match service::change_status(state, Actor::Owner(owner), id, Status::Cancelled).await {
                Ok(_) => cancelled += 1,
                // Paid, cancelled or gone since it was picked.
                Err(AppError::Conflict { .. } | AppError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        match picked.last() {
            Some(&(last, _)) if picked.len() as i64 == BATCH => after = last,
            _ => return Ok(cancelled),
        }
    }
}
