//! The whole URL space in one place, and the middleware every request passes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

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
        .merge(health::router())
}

/// The service: routes, fallbacks and middleware, bound to `state`.
pub fn build(state: AppState) -> Router {
    let (routes, openapi) = api_routes().split_for_parts();
    let openapi_json: Arc<[u8]> = serde_json::to_vec(&openapi)
        .expect("the OpenAPI document serializes")
        .into();
    let body_limit = state.config.body_limit_bytes;
    let request_timeout = state.config.request_timeout;
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
        .fallback(|| async { AppError::not_found("no route matches this path") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        // Router::layer wraps what came before, so the innermost layers come
        // first here: body limit and timeout next to the handlers, then the
        // problem+json dressing of their bare answers, then request ids and
        // the request log around everything.
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    AppError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    request_timeout,
                ))
                // tower-http's limit answers an oversized Content-Length at
                // once and caps streamed bodies; axum's own default is off so
                // that one setting rules.
                .layer(RequestBodyLimitLayer::new(body_limit))
                .layer(DefaultBodyLimit::disable()),
        )
        .layer(axum::middleware::map_response(problem_for_bare_error))
        .layer(
            // Listed outermost first: the id is set before the request is
            // logged, and copied to the response on the way out.
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(log_response)
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// tower-http's timeout and body limit answer with an empty body; every
/// error leaves as problem+json, so dress those here.
async fn problem_for_bare_error(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    match status {
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable {
            detail: "the request took too long; retry it".into(),
            retry_after_seconds: 1,
        }
        .into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.into_response(),
        _ => AppError::BadRequest("the request was refused".into()).into_response(),
    }
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}
