//! The log, in a test binary of its own: the subscriber is process-wide.
//! An operator on call finds a request's lines by its id, and learns from
//! them what made a 5xx and which requests their clients gave up on.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use emporium::config::LogFormat;
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use crate::helpers::TestApp;

/// Where the subscriber writes: every line kept, to be read back.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<u8>>>);

impl Write for Kept {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Kept {
    /// The JSON lines written for the request `id`.
    fn lines_of(&self, id: &str) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["span"]["request_id"] == id)
            .collect()
    }
}

/// A request whose body never comes.
fn never_ending(id: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/auth/signin")
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .body(Body::from_stream(futures_util::stream::pending::<
            Result<Vec<u8>, std::io::Error>,
        >()))
        .unwrap()
}

#[tokio::test]
async fn a_requests_lines_carry_its_id_say_what_made_a_5xx_and_which_clients_gave_up() {
    let kept = Kept::default();
    let writer = kept.clone();
    emporium::telemetry::install(
        LogFormat::Json,
        EnvFilter::new("info"),
        move || writer.clone(),
        false,
    );
    let app = TestApp::with_config(|config| {
        config.request_timeout = Duration::from_millis(200);
    })
    .await;

    // A 5xx's line names its problem and what made it.
    let timed_out = app.anon().send_request(never_ending("log-5xx")).await;
    assert_eq!(timed_out.status, StatusCode::SERVICE_UNAVAILABLE);
    let lines = kept.lines_of("log-5xx");
    let finished = lines
        .iter()
        .find(|line| line["message"] == "request finished")
        .unwrap_or_else(|| {
            panic!(
                "no line for the request: {lines:?}\n{}",
                String::from_utf8_lossy(&kept.0.lock().unwrap())
            )
        });
    assert_eq!(finished["status"], 503);
    assert_eq!(finished["problem"], "unavailable");
    assert!(
        finished["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "{finished}"
    );

    // A 4xx's names its problem, and keeps its detail to the client.
    let missing = app
        .anon()
        .send(
            Method::GET,
            "/api/products/999999",
            None,
            &[("x-request-id", "log-4xx")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let lines = kept.lines_of("log-4xx");
    let finished = lines
        .iter()
        .find(|line| line["message"] == "request finished")
        .unwrap_or_else(|| panic!("no line for the request: {lines:?}"));
    assert_eq!(finished["problem"], "not-found");
    assert!(finished.get("detail").is_none(), "{finished}");

    // A client that hung up before its answer leaves a line too (on an app
    // whose own timeout is far off).
    let patient = TestApp::spawn().await;
    let gone = tokio::time::timeout(
        Duration::from_millis(200),
        patient.anon().send_request(never_ending("log-gone")),
    )
    .await;
    assert!(gone.is_err(), "the request was answered");
    let lines = kept.lines_of("log-gone");
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "request dropped before its answer"),
        "{lines:?}"
    );

    // An outage fails every request the same way: its cause is said once
    // (every 10 s), while each request's own line says its 503.
    let no_postgres = TestApp::with_config(|config| {
        config.database_url = "postgres://postgres@127.0.0.1:1/nothing".to_owned().into();
        config.database_connect_timeout = Duration::from_millis(300);
    })
    .await;
    for n in 0..6 {
        let id = format!("log-outage-{n}");
        let read = no_postgres
            .anon()
            .send(
                Method::GET,
                "/api/products?limit=3",
                None,
                &[("x-request-id", &id)],
            )
            .await;
        assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            kept.lines_of(&id)
                .iter()
                .any(|line| line["message"] == "request finished" && line["status"] == 503)
        );
    }
    let all = String::from_utf8_lossy(&kept.0.lock().unwrap()).into_owned();
    for cause in [
        "no PostgreSQL connection",
        "cannot open a PostgreSQL connection",
    ] {
        let said = all
            .lines()
            .filter(|line| line.contains(&format!("\"message\":\"{cause}\"")))
            .count();
        assert!(said <= 1, "{cause:?} said {said} times for one outage");
    }
    // ...and is said: the request that met the outage first said it.
    assert!(all.contains("\"message\":\"no PostgreSQL connection\""));
}
