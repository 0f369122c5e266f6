//! Whether a request's body arrived whole: a request cut off by the
//! timeout while its body was still on its way never reached its handler
//! (every body is read whole before a handler acts), so its 503 can say
//! that nothing was done, where a write cut off later may have taken
//! effect.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Frame, SizeHint};

/// Set once the request's body has been read to its end.
#[derive(Debug, Clone, Default)]
pub struct BodyArrival(Arc<AtomicBool>);

impl BodyArrival {
    pub fn arrived(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.arrival.0.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.body.is_end_stream();
        if ended {
            self.arrival.0.store(true, Ordering::Relaxed);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
