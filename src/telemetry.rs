//! Logging: pretty lines by default, JSON with `LOG_FORMAT=json`; the level
//! comes from `RUST_LOG` (default `info`). One line per request, written by
//! [`crate::router`]'s trace layer with [`request_span`] and
//! [`log_response`], carries method, path, status, latency and the request id.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::Request;
use axum::http::Response;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,diesel_async=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(false)
        // Colour only on a terminal: never ANSI codes in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
}

/// The span of one request: method, path (see [`logged_path`]) and the
/// request id (already made sane by [`crate::request_id::assign`]).
pub fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %logged_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// The one line a request's answer writes.
pub fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// The longest path logged as it is.
const MAX_LOGGED_PATH: usize = 256;

/// A path as the log shows it: past [`MAX_LOGGED_PATH`] bytes, its start and
/// its length (a client cannot make each line of a request carry a path of
/// hundreds of kilobytes, as it cannot with the request id).
fn logged_path(path: &str) -> Cow<'_, str> {
    if path.len() <= MAX_LOGGED_PATH {
        return path.into();
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &path[..end], path.len()).into()
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn a_long_path_is_logged_as_its_start_and_its_length() {
        assert_eq!(logged_path("/api/products/1"), "/api/products/1");
        let long = format!("/{}", "a".repeat(300_000));
        let logged = logged_path(&long);
        assert!(logged.len() < 300, "{}", logged.len());
        assert!(logged.starts_with("/aaa"));
        assert!(logged.ends_with("a... (300001 bytes)"), "{logged}");
        // Never cut inside a character.
        let wide = format!("/{}", "é".repeat(200));
        assert!(logged_path(&wide).ends_with("é... (401 bytes)"));
    }
}
