//! The request id: `X-Request-Id` as the client sent it when it is a sane
//! token (at most [`MAX_REQUEST_ID_CHARS`] of letters, digits and `-_.:`),
//! otherwise a fresh UUID; echoed on the response, logged with the request,
//! and put in every problem body. A client cannot make us echo or log
//! kilobytes of header, or control characters.

use axum::extract::Request;
use axum::http::HeaderValue;
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

/// Keeps a sane incoming id or replaces it with a new one, and runs the
/// rest of the request with it known (outermost layer but the log).
pub async fn assign(mut request: Request, next: Next) -> Response {
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
