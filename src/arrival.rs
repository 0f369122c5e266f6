//! Whether a request's body arrived whole: a request cut off by the
//! timeout while its handler was still reading its body had not been acted
//! on (a handler that takes a body reads it whole before it acts), so its
//! 503 can say that nothing was done, where a write cut off later may have
//! taken effect.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Frame, SizeHint};

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
pub fn watch_body(request: Request) -> Request {
    let has_body = request
        .headers()
        .contains_key(axum::http::header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return request;
    }
    let arrival = BodyArrival::default();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(arrival.clone());
    Request::from_parts(parts, Body::new(Watched { body, arrival }))
}

struct Watched {
    body: Body,
    arrival: BodyArrival,
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
        if matches!(polled, Poll::Ready(None)) {
            self.arrival.arrived();
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
