//! How a request's body arrives. Whether it arrived whole: a request cut
//! off by the timeout while its handler was still reading its body had not
//! been acted on (a handler that takes a body reads it whole before it
//! acts), so its 503 can say that nothing was done, where a write cut off
//! later may have taken effect. And what bodies being read hold at once
//! ([`BodyBudget`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bytes of request bodies received and not yet let go, over every
/// connection (`BODIES_IN_FLIGHT_BYTES`): a body holds its share from
/// each frame's arrival until it is dropped, after its handler read it. A
/// frame past the budget ends its body with [`BodiesInFlightSpent`], a
/// 503: without it, each of a thousand clients trickling a body just under
/// the limit held a megabyte until the request timed out. The first
/// [`BODY_BYTES_OUTSIDE_THE_BUDGET`] of each body are not counted, so that
/// a few clients holding the budget with large bodies refuse no everyday
/// request (a sign-in, a cart line, an order are far smaller).
#[derive(Debug, Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    /// `bytes` at once, and never less than one body of `body_limit`.
    pub fn new(bytes: usize, body_limit: usize) -> Self {
        let bytes = bytes.max(body_limit).min(Semaphore::MAX_PERMITS);
        Self(Arc::new(Semaphore::new(bytes)))
    }

    /// What the budget has left.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// What each body holds outside the [`BodyBudget`]: at most
/// `MAX_CONNECTIONS` times this (8 MiB at 1,024) beside the budget.
pub const BODY_BYTES_OUTSIDE_THE_BUDGET: usize = 8 * 1024;

/// The error that ends a body past the [`BodyBudget`].
#[derive(Debug, thiserror::Error)]
#[error("too many request bodies are being received at once")]
pub struct BodiesInFlightSpent;

/// Whether the request's body was being read, and whether it arrived.
#[derive(Debug, Clone, Default)]
pub struct BodyArrival(Arc<(AtomicBool, AtomicBool)>);

impl BodyArrival {
    /// Its handler began to read it and it never came whole: the handler
    /// was still waiting for it. (A handler that takes no body never reads
    /// it, and may have acted: that is not this.)
    pub fn cut_short(&self) -> bool {
        self.0.0.load(Ordering::Relaxed) && !self.0.1.load(Ordering::Relaxed)
    }

    fn reading(&self) {
        self.0.0.store(true, Ordering::Relaxed);
    }

    fn arrived(&self) {
        self.0.1.store(true, Ordering::Relaxed);
    }
}

/// Wraps the body of a request that has one (a length above zero, or
/// chunks), noting in its extensions when it has arrived. A request
/// without a body is left as it is (no allocation on a plain GET).
pub fn watch_body(request: Request, budget: &BodyBudget) -> Request {
    // hyper's body knows from the head whether one follows (a length above
    // zero, or chunks); one built in the process, from what it holds.
    let has_body = !http_body::Body::is_end_stream(request.body());
    if !has_body {
        return request;
    }
    let arrival = BodyArrival::default();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(arrival.clone());
    let watched = Watched {
        body,
        arrival,
        budget: budget.clone(),
        received: 0,
        held: None,
    };
    Request::from_parts(parts, Body::new(watched))
}

struct Watched {
    body: Body,
    arrival: BodyArrival,
    budget: BodyBudget,
    /// The bytes of this body received so far.
    received: usize,
    /// The budget's bytes this body's frames took, given back with it.
    held: Option<OwnedSemaphorePermit>,
}

impl Watched {
    /// Takes `bytes` of the budget for a frame, or says it is spent.
    fn take(&mut self, bytes: usize) -> Result<(), BodiesInFlightSpent> {
        let outside = BODY_BYTES_OUTSIDE_THE_BUDGET.saturating_sub(self.received);
        self.received = self.received.saturating_add(bytes);
        let Ok(bytes) = u32::try_from(bytes.saturating_sub(outside)) else {
            return Err(BodiesInFlightSpent);
        };
        if bytes == 0 {
            return Ok(());
        }
        let permit = Arc::clone(&self.budget.0)
            .try_acquire_many_owned(bytes)
            .map_err(|_| BodiesInFlightSpent)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.arrival.reading();
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.arrival.arrived(),
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, Bytes::len);
                if let Err(spent) = self.take(bytes) {
                    return Poll::Ready(Some(Err(axum::Error::new(spent))));
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.body.is_end_stream();
        if ended {
            self.arrival.arrived();
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn watched(budget: &BodyBudget, size: usize) -> Body {
        watch_body(Request::new(Body::from(vec![b'x'; size])), budget).into_body()
    }

    #[tokio::test]
    async fn a_body_takes_from_the_budget_past_its_first_bytes_while_it_lives() {
        let budget = BodyBudget::new(1000, 1000);
        // (As documented: 8 KiB, more than any everyday body.)
        let outside = 8 * 1024;
        // An everyday body takes nothing; a larger one, what is past that.
        let mut held = watched(&budget, outside + 600);
        held.frame().await.unwrap().unwrap();
        assert_eq!(budget.available(), 400);
        assert!(watched(&budget, outside).collect().await.is_ok());
        assert!(watched(&budget, outside + 400).collect().await.is_ok());
        // Past what is left, the body ends with the budget's error.
        let refused = watched(&budget, outside + 401).collect().await.unwrap_err();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&refused);
        while let Some(error) = cause.filter(|error| !error.is::<BodiesInFlightSpent>()) {
            cause = error.source();
        }
        assert!(cause.is_some(), "{refused}");
        // What a body took comes back with it.
        drop(held);
        assert_eq!(budget.available(), 1000);
    }

    #[tokio::test]
    async fn a_body_in_many_frames_has_its_first_bytes_outside_the_budget_once() {
        let budget = BodyBudget::new(10_000, 10_000);
        let frames = [5000, 5000, 0, 5000].map(|size| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![b'x'; size])))
        });
        let body = Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )));
        let mut body = watch_body(Request::new(body), &budget).into_body();
        // 8 KiB outside the budget in all, not in each frame.
        for taken in [0, 1808, 1808, 6808] {
            body.frame().await.unwrap().unwrap();
            assert_eq!(10_000 - budget.available(), taken);
        }
    }
}
