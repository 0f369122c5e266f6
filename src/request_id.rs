//! The request id: `X-Request-Id` as the client sent it when it is a sane
//! token (at most [`MAX_REQUEST_ID_CHARS`] of letters, digits and `-_.:`),
//! otherwise a fresh UUID; echoed on the response, logged with the request,
//! and put in every problem body. A client cannot make us echo or log
//! kilobytes of header, or control characters. Beside it, when the
//! request arrived ([`Arrived`]): what is left of its time.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

/// The header's name.
pub const X_REQUEST_ID: &str = "x-request-id";
/// The longest id kept as sent.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being answered, if any (problem bodies quote it).
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_CHARS
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
}

/// When the request arrived (its head read), before its body and before
/// the request timeout began to count.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub Instant);

impl<S: Send + Sync> FromRequestParts<S> for Arrived {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // (Only a router without `assign` has none: now is the best guess.)
        Ok(parts
            .extensions
            .get::<Self>()
            .copied()
            .unwrap_or_else(|| Self(Instant::now())))
    }
}

/// Keeps a sane incoming id or replaces it with a new one, notes when the
/// request arrived, and runs the rest of the request with both known
/// (outermost layer but the log).
pub async fn assign(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Arrived(Instant::now()));
    let id = match request.headers().get(X_REQUEST_ID) {
        Some(value) if is_sane(value) => value.clone(),
        _ => {
            let fresh = uuid::Uuid::new_v4().to_string();
            let value = HeaderValue::from_str(&fresh).expect("a UUID is a valid header value");
            request.headers_mut().insert(X_REQUEST_ID, value.clone());
            value
        }
    };
    let text = id.to_str().unwrap_or_default().to_owned();
    let mut response = CURRENT.scope(text, next.run(request)).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_kept() {
        assert!(is_sane(&HeaderValue::from_static("abc-123_x.y:z")));
        assert!(!is_sane(&HeaderValue::from_static("")));
        assert!(!is_sane(&HeaderValue::from_static("has space")));
        assert!(!is_sane(&HeaderValue::from_str(&"a".repeat(129)).unwrap()));
    }
}
