//! The whole URL space in one place, and the middleware every request passes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{
    DefaultPredicate, NotForContentType, Predicate, SizeAbove,
};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::error::AppError;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{auth, cart, catalog, catwalk, health, orders};

/// Every documented route, with the OpenAPI document built from their annotations.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api",
            catalog::router()
                .merge(auth::router())
                .merge(cart::router())
                .merge(orders::router()),
        )
        .nest("/catwalk", catwalk::router())
        .routes(utoipa_axum::routes!(crate::metrics::metrics_text))
        .merge(health::router())
}

/// The service: routes, fallbacks and middleware, bound to `state`.
pub fn build(state: AppState) -> Router {
    crate::metrics::handle();
    let (routes, openapi) = api_routes().split_for_parts();
    // (The Swagger UI's pages under /docs are left to it.)
    let query_free = crate::extract::QueryFreeRoutes::of(&openapi).and_gets(&[
        "/api/openapi.json",
        "/problems",
        "/problems/{slug}",
    ]);
    let openapi_json: Arc<[u8]> = serde_json::to_vec(&openapi)
        .expect("the OpenAPI document serializes")
        .into();
    let body_limit = state.config.body_limit_bytes;
    let cors_origins = state.config.cors_allowed_origins.clone();
    let request_timeout = state.config.request_timeout;
    let trusted_proxies = state.config.trusted_proxies.clone();
    let bodies = crate::arrival::BodyBudget::new(state.config.bodies_in_flight_bytes, body_limit);
    // Every middleware but the per-route metrics, in one `layer`: each
    // `Router::layer` wraps every route in one more boxed service, and every
    // request clones each box (an allocation a layer a request; see
    // docs/performance.md). Listed from the outside in: the peers that may
    // name the client (`ClientAddress`); request ids, then the request log
    // with the id (kept or replaced) known; CORS and compression; the
    // problem+json dressing of bare answers. (Panics, the timeout and the
    // body limit are per route, inside the metrics: `per_route`.)
    let around = ServiceBuilder::new()
        .layer(axum::Extension(trusted_proxies))
        .layer(axum::middleware::from_fn(crate::request_id::assign))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span)
                .on_request(())
                .on_response(crate::telemetry::log_response)
                .on_failure(()),
        )
        // Closed, it is not there at all: CORS would answer every OPTIONS
        // itself (an empty 200, on any path) and add its `Vary`.
        .option_layer((!cors_origins.is_empty()).then(|| cors_layer(&cors_origins)))
        // (tower's own `map_request`: it calls the service below as it is,
        // where axum's middleware clones it for every request.)
        .map_request(identity_when_refused)
        .map_request(move |request| crate::arrival::watch_body(request, &bodies))
        // Large JSON leaves compressed when the client asks (gzip or br);
        // small answers are not worth the CPU. Nor are the Swagger UI's
        // scripts and styles, served from the binary: a compressor's state
        // lives while a slow client reads (brotli's, for the 1.5 MB script:
        // some 4 MiB) where the answer costs nothing.
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(SizeAbove::new(1024))
                    .and(NotForContentType::const_new("text/javascript"))
                    .and(NotForContentType::const_new("application/javascript"))
                    .and(NotForContentType::const_new("text/css")),
            ),
        )
        .layer(axum::middleware::from_fn(dress_answer))
        // (axum's own body limit is off so that one setting rules: below.)
        .layer(DefaultBodyLimit::disable());
    // Per route, in one `layer`: the metrics, which need the matched route,
    // outside what answers for the handler (a panic, the timeout, the body
    // limit), so that those answers are counted too.
    let per_route = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(crate::metrics::track_requests))
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                // Its message goes to the log with the request's id.
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                AppError::Internal(anyhow::anyhow!("a handler panicked: {message}")).into_response()
            },
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        // tower-http's limit answers an oversized Content-Length at once and
        // caps streamed bodies.
        .layer(RequestBodyLimitLayer::new(body_limit));
    routes
        .route(
            "/api/openapi.json",
            get(move || {
                let body = openapi_json.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        body.to_vec(),
                    )
                }
            }),
        )
        // What each problem `type` means, so that following one resolves.
        .route("/problems", get(crate::error::pages::index))
        .route("/problems/{slug}", get(crate::error::pages::page))
        // Interactive docs, every asset served by this binary (no CDN), reading
        // the document above; no outside validator badge.
        .merge(
            SwaggerUi::new("/docs")
                .config(SwaggerConfig::from("/api/openapi.json").validator_url("none")),
        )
        .fallback(|| async { AppError::not_found("no route matches this path") })
        // Before the per-route layers, so that a 405 is counted and dressed
        // as any answer (set after them, it replaced each route's layered
        // default and went uncounted).
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        // Layered per route, so that they see the matched route template.
        .layer(axum::middleware::from_fn_with_state(
            query_free,
            crate::extract::refuse_query_where_none_is_taken,
        ))
        .layer(per_route)
        .layer(around)
        .with_state(state)
}

/// Every answer on its way out, in one layer (each axum middleware costs
/// every request a clone of the service below it): a layer's bare error as
/// problem+json ([`problem_for_bare_error`]), what caches may do with it
/// ([`cache_control`]), and a 304 with no body when the client's
/// `If-None-Match` names the ETag of the 200 it would get (weak comparison,
/// RFC 9110 13.1.2).
async fn dress_answer(request: Request, next: Next) -> axum::response::Response {
    // Several header lines are one list (RFC 9110 §5.3).
    let lines = request.headers().get_all(header::IF_NONE_MATCH).iter();
    let lines: Vec<&str> = lines.filter_map(|value| value.to_str().ok()).collect();
    let wanted = (!lines.is_empty()).then(|| lines.join(","));
    let signed_in = request.headers().contains_key(header::AUTHORIZATION);
    let safe = request.method().is_safe();
    let arrival = request
        .extensions()
        .get::<crate::arrival::BodyArrival>()
        .cloned();
    let response = next.run(request).await;
    let unread = arrival.is_some_and(|arrival| arrival.cut_short());
    let mut response = problem_for_bare_error(response, safe, unread);
    cache_control(response.headers_mut(), signed_in);
    if response.headers().contains_key(header::ETAG) {
        // The same `Vary` on the 200 and on the 304 that stands for it (RFC
        // 9110 §15.4.5), whether or not this answer was worth compressing.
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let Some(wanted) = wanted else {
        return response;
    };
    let Some(etag) = response
        .headers()
        .get(header::ETAG)
        .and_then(|value| value.to_str().ok())
    else {
        return response;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let matches = wanted.trim() == "*" || wanted.split(',').any(|tag| opaque(tag) == opaque(etag));
    if response.status() != StatusCode::OK || !matches {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::empty())
}

/// CORS to the origins of `CORS_ALLOWED_ORIGINS` (some: with none, no
/// layer at all).
fn cors_layer(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::PUT,
            axum::http::Method::PATCH,
            axum::http::Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-data-source"),
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

/// tower-http's timeout and body limit answer with their own bodies; every
/// error leaves as problem+json, so dress those here.
fn problem_for_bare_error(
    response: axum::response::Response,
    safe: bool,
    body_unread: bool,
) -> axum::response::Response {
    let status = response.status();
    // A layer's own answer has no body type (the timeout) or plain text (the
    // body limit, when the request declared its length); handlers answer
    // problem+json, or JSON (the readiness report).
    let is_bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !is_bare {
        return response;
    }
    match status {
        // A write cut off may have committed all the same (its transaction
        // is whole either way): retried blindly, a cart add would add twice.
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable {
            detail: if body_unread {
                // Its handler was still reading the body: it had not acted.
                "the request's body did not arrive in time: nothing was done; send it again".into()
            } else if safe {
                "the request took too long; retry it".into()
            } else {
                "the request took too long and may have taken effect all the same: check before \
                 retrying it (an order: retry it with the same Idempotency-Key)"
                    .into()
            },
            retry_after_seconds: 1,
        }
        .into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.into_response(),
        // The docs' own assets (Swagger UI) answer a bare 404.
        StatusCode::NOT_FOUND => AppError::not_found("no such document").into_response(),
        status if status.is_server_error() => {
            AppError::Internal(anyhow::anyhow!("a layer answered a bare {status}")).into_response()
        }
        _ => AppError::BadRequest("the request was refused".into()).into_response(),
    }
}

/// What caches may keep. A document (it says `no-cache`: keep it, but ask
/// before showing it) answered to a signed-in request is the user's alone:
/// `private`, so that no shared cache (a CDN, a proxy) keeps a cart, an
/// order or an admin's view. Every other answer (problems, tokens, writes'
/// answers, health) says `no-store`: a 404 is cacheable by default, and a
/// sign-in's token must not be kept anywhere.
fn cache_control(headers: &mut axum::http::HeaderMap, signed_in: bool) {
    match headers.get(header::CACHE_CONTROL) {
        Some(_) if !signed_in => {}
        Some(value) if value.as_bytes() == b"no-cache" => {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            );
        }
        Some(_) => {}
        None => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

/// A client that refuses unencoded answers (`identity;q=0`, `*;q=0`) and
/// accepts none of ours would be answered 406 by the compression layer
/// *after* the handler ran: an order placed, told it was not. RFC 9110
/// §12.5.3 lets a server disregard the preference instead, so those
/// refusals are dropped before anything runs: the answer is then encoded
/// as the client prefers among what it accepts, or not at all.
fn identity_when_refused(mut request: Request) -> Request {
    let values = request.headers().get_all(header::ACCEPT_ENCODING);
    // Most requests refuse nothing: no `q=0` anywhere, nothing to read.
    let zero_weight = |value: &HeaderValue| {
        value
            .as_bytes()
            .windows(3)
            .any(|window| window.eq_ignore_ascii_case(b"q=0"))
    };
    if !values.iter().any(zero_weight) {
        return request;
    }
    // Every line of the header, as one list (RFC 9110 §5.3).
    let joined: Vec<&str> = values
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let Some(kept) = without_identity_refusals(&joined.join(", ")) else {
        return request;
    };
    match HeaderValue::from_str(&kept) {
        Ok(kept) if !kept.is_empty() => {
            request.headers_mut().insert(header::ACCEPT_ENCODING, kept);
        }
        _ => {
            request.headers_mut().remove(header::ACCEPT_ENCODING);
        }
    }
    request
}

/// `accept` without its `identity;q=0` and `*;q=0` entries; `None` when it
/// has none.
fn without_identity_refusals(accept: &str) -> Option<String> {
    let refuses = |entry: &&str| {
        let mut parts = entry.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let zero = parts.any(|param| {
            param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
                .and_then(|q| q.parse::<f32>().ok())
                == Some(0.0)
        });
        zero && (coding == "*" || coding.eq_ignore_ascii_case("identity"))
    };
    let entries: Vec<&str> = accept.split(',').map(str::trim).collect();
    if !entries.iter().any(refuses) {
        return None;
    }
    let kept: Vec<&str> = entries
        .into_iter()
        .filter(|entry| !refuses(entry))
        .collect();
    Some(kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::without_identity_refusals;

    #[test]
    fn only_refusals_of_unencoded_answers_are_dropped() {
        assert_eq!(without_identity_refusals("gzip, br"), None);
        assert_eq!(
            without_identity_refusals("identity;q=0").as_deref(),
            Some("")
        );
        assert_eq!(
            without_identity_refusals("zstd, identity; q=0.0, *;Q=0").as_deref(),
            Some("zstd")
        );
        assert_eq!(
            without_identity_refusals("gzip;q=0.5, IDENTITY;q=0").as_deref(),
            Some("gzip;q=0.5")
        );
        assert_eq!(without_identity_refusals("identity;q=0.1"), None);
    }
}
