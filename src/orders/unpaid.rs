//! Orders left unpaid: with `UNPAID_ORDER_HOURS` set (it is off unless
//! set: API.md names only the owner and an admin as those who cancel), an
//! order still `placed` that long after it was placed is cancelled on its
//! owner's behalf, so that its stock goes
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

/// Failures in a row that end a round (PostgreSQL or Redis is down, not
/// one order's lock held too long): the next round tries again.
const FAILURES_IN_A_ROW: usize = 3;

/// Cancels every order placed more than `life` ago and still `placed`,
/// each logged; answers how many it cancelled. An order that cannot be
/// cancelled now (its row held past the lock timeout) is logged and left
/// to the next round.
pub async fn cancel_unpaid(state: &AppState, life: Duration) -> AppResult<usize> {
    let mut cancelled = 0;
    let mut failures = 0;
    let mut after = 0;
    loop {
        let picked = {
            let mut conn = state.conn().await?;
            queries::unpaid_for(&mut conn, life, after, BATCH).await?
        };
        for &(id, owner) in &picked {
            match service::change_status(state, Actor::Owner(owner), id, Status::Cancelled).await {
                Ok(_) => {
                    tracing::info!(order_id = id, user_id = owner, "unpaid order cancelled");
                    cancelled += 1;
                    failures = 0;
                }
                // Paid, cancelled or gone since it was picked.
                Err(AppError::Conflict { .. } | AppError::NotFound(_)) => failures = 0,
                Err(error) => {
                    // Or cancelled it and could not finish its cache write.
                    tracing::warn!(
                        order_id = id,
                        error = %error,
                        "an unpaid order may not have been cancelled"
                    );
                    failures += 1;
                    if failures == FAILURES_IN_A_ROW {
                        return Err(error);
                    }
                }
            }
        }
        match picked.last() {
            Some(&(last, _)) if picked.len() as i64 == BATCH => after = last,
            _ => return Ok(cancelled),
        }
    }
}
