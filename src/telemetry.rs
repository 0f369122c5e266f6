//! Logging: pretty lines by default, JSON with `LOG_FORMAT=json`; the level
//! comes from `RUST_LOG` (default `info`). One line per request, written by
//! [`crate::router`]'s trace layer with [`request_span`] and
//! [`log_response`], carries method, path, status, latency and the request id.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Response;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,diesel_async=warn"));
    install(
        format,
        filter,
        std::io::stdout,
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
    );
}

/// Installs the global subscriber, writing to `writer` (a test reads the
/// lines back); `ansi`: colour, only ever on a terminal.
pub fn install<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
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
/// request id (already made sane by [`crate::request_id::assign`]). At the
/// error level, so that it is kept whatever `RUST_LOG` keeps: under `warn`,
/// an info span would be off, and every warning and error a request logs
/// would lose its id.
pub fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::error_span!(
        "request",
        method = %request.method(),
        path = %logged_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// What a problem answer was (set on it by `AppError`'s answer), for the
/// request's log line.
#[derive(Debug, Clone)]
pub struct Answered {
    pub slug: &'static str,
    pub detail: String,
}

/// The one line a request's answer writes; for a problem, its type, and
/// for a 5xx its detail too (what made it: a lock's timeout, a deadlock, a
/// lost connection), which otherwise only the client would see.
pub fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    let status = response.status();
    let problem = response.extensions().get::<Answered>();
    tracing::info!(
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        problem = problem.map(|answered| answered.slug),
        detail = problem
            .filter(|_| status.is_server_error())
            .map(|answered| answered.detail.as_str()),
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

/// A warning said at most once an interval: during an outage every request
/// fails the same way, and each request's own line already carries its 503
/// and what made it ([`log_response`]), so the cause is said once every
/// [`Throttle::INTERVAL`] with how many times it went unsaid meanwhile.
#[derive(Debug, Default)]
pub struct Throttle {
    last_ms: AtomicU64,
    unsaid: AtomicU64,
}

impl Throttle {
    pub const INTERVAL: Duration = Duration::from_secs(10);

    pub const fn new() -> Self {
        Self {
            last_ms: AtomicU64::new(0),
            unsaid: AtomicU64::new(0),
        }
    }

    /// `Some(times unsaid since the last)` when the warning is to be said
    /// now, else `None` (and it is counted as unsaid).
    pub fn allow(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        let last = self.last_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(Self::INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= interval
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.unsaid.swap(0, Ordering::Relaxed))
        } else {
            self.unsaid.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::Throttle;

    #[test]
    fn a_warning_is_said_once_an_interval_with_the_times_it_went_unsaid() {
        let throttle = Throttle::new();
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        throttle
            .last_ms
            .store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(throttle.allow(), Some(2));
    }
}
