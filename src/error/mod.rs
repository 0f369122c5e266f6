//! The one error type of the HTTP layer and its RFC 9457 problem+json rendering.
//!
//! Every handler returns `Result<_, AppError>`. Variants are named by meaning,
//! not by cause; what the client may see is decided here, once. Internal
//! errors are logged here with their cause and answered with a body that
//! tells the client nothing about SQL, stack traces or secrets.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::telemetry::Answered;

const DATABASE_UNAVAILABLE: &str = "the database is unavailable; retry shortly";

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

mod database;
mod fields;
pub mod pages;

pub use database::{is_lock_timeout, is_numeric_overflow};
pub use fields::FieldErrors;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request could not be read (bad JSON, bad path).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400: query parameters that do not parse or that the route does not
    /// take, each named in `errors`.
    #[error("bad query: {0}")]
    BadQuery(FieldErrors),
    /// 401: no valid session.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: the thing named does not exist (or is not the caller's).
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request is valid but clashes with the current state.
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        /// Extra members of the problem document (e.g. the short `lines` of a checkout).
        extensions: Map<String, Value>,
    },
    /// 413: the body is larger than the configured limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid input, per field.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// 429: too many attempts; retry after the given seconds.
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// 503: a dependency is down or the request took too long.
    #[error("unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after_seconds: u64,
    },
    /// 500: our fault. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    /// 503: PostgreSQL cannot be reached, or the connection was lost.
    pub fn database_unavailable() -> Self {
        Self::unavailable(DATABASE_UNAVAILABLE)
    }

    /// Whether this is the 503 of an unreachable database (a read that got
    /// it may be retried once on a fresh connection).
    pub fn is_database_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { detail, .. } if detail == DATABASE_UNAVAILABLE)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            detail: detail.into(),
            retry_after_seconds: 1,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, stable name of the kind of problem, used in the `type` URI.
    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::BadQuery(_) => "bad-query",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Validation(_) => "validation",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(detail)
            | Self::Unauthorized(detail)
            | Self::Forbidden(detail)
            | Self::NotFound(detail)
            | Self::UnsupportedMediaType(detail)
            | Self::Conflict { detail, .. }
            | Self::Unavailable { detail, .. } => detail.clone(),
            Self::MethodNotAllowed => "this path does not answer this method".into(),
            Self::PayloadTooLarge => "the request body is larger than the server accepts".into(),
            Self::Validation(_) => "the request has invalid fields; see `errors`".into(),
            Self::BadQuery(_) => {
                "the query has parameters that cannot be read; see `errors`".into()
            }
            Self::RateLimited {
                retry_after_seconds,
            } => format!("too many attempts; retry in {retry_after_seconds} s"),
            Self::Internal(_) => "the server failed to answer this request".into(),
        }
    }

    fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
            }
            | Self::Unavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    #[serde(flatten)]
    extensions: Option<&'a Map<String, Value>>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            // The one place an internal error is logged; the client gets no detail.
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let problem = Problem {
            kind: format!("/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            request_id: crate::request_id::current(),
            errors: match &self {
                Self::Validation(errors) | Self::BadQuery(errors) => Some(errors),
                _ => None,
            },
            extensions: match &self {
                Self::Conflict { extensions, .. } if !extensions.is_empty() => Some(extensions),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(self, Self::Unauthorized(_)) {
            // RFC 6750: tell the client which scheme would have worked.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after_seconds() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(Answered {
            slug: self.slug(),
            detail: problem.detail,
        });
        response
    }
}

/// Shorthand for handler results.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(error: AppError) -> (StatusCode, Option<String>, Value) {
        let response = error.into_response();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry_after, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn validation_errors_carry_their_fields() {
        let mut errors = FieldErrors::new();
        errors.add("price", "must not be negative");
        errors.add("price", "at most two decimal places");
        let (status, _, body) = body_of(AppError::Validation(errors)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["status"], 422);
        assert_eq!(body["title"], "Unprocessable Entity");
        assert_eq!(body["errors"]["price"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let cause = anyhow::anyhow!("relation \"secret_table\" does not exist");
        let (status, _, body) = body_of(AppError::Internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret_table"));
    }

    #[tokio::test]
    async fn rate_limits_and_outages_say_when_to_retry() {
        let (status, retry, _) = body_of(AppError::RateLimited {
            retry_after_seconds: 42,
        })
        .await;
        assert_eq!((status.as_u16(), retry.as_deref()), (429, Some("42")));
        let (status, retry, _) = body_of(AppError::unavailable("redis")).await;
        assert_eq!((status.as_u16(), retry.as_deref()), (503, Some("1")));
    }

    #[test]
    fn every_kind_of_problem_has_a_page_with_its_status() {
        let every_kind = [
            AppError::BadRequest(String::new()),
            AppError::BadQuery(FieldErrors::new()),
            AppError::Unauthorized(String::new()),
            AppError::Forbidden(String::new()),
            AppError::not_found(""),
            AppError::MethodNotAllowed,
            AppError::conflict(""),
            AppError::PayloadTooLarge,
            AppError::UnsupportedMediaType(String::new()),
            AppError::Validation(FieldErrors::new()),
            AppError::RateLimited {
                retry_after_seconds: 1,
            },
            AppError::unavailable(""),
            AppError::Internal(anyhow::anyhow!("")),
        ];
        assert_eq!(every_kind.len(), pages::KINDS.len());
        for error in every_kind {
            let page = pages::KINDS
                .iter()
                .find(|(slug, _, _)| *slug == error.slug());
            assert_eq!(
                page.map(|(_, status, _)| *status),
                Some(error.status().as_u16()),
                "{}",
                error.slug()
            );
        }
    }

    #[tokio::test]
    async fn conflicts_can_carry_extension_members() {
        let mut extensions = Map::new();
        extensions.insert("lines".into(), serde_json::json!([{"product_id": 1}]));
        let error = AppError::Conflict {
            detail: "not enough stock".into(),
            extensions,
        };
        let (_, _, body) = body_of(error).await;
        assert_eq!(body["lines"][0]["product_id"], 1);
    }
}

/// An RFC 9457 problem document, as the OpenAPI document describes it.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[expect(
    dead_code,
    reason = "documentation only; AppError renders the real body"
)]
pub struct ProblemSchema {
    /// A URI reference naming the kind of problem.
    #[schema(rename = "type", example = "/problems/validation")]
    kind: String,
    #[schema(example = "Unprocessable Entity")]
    title: String,
    #[schema(example = 422)]
    status: u16,
    detail: String,
    /// The request's `X-Request-Id`, to quote when reporting a problem.
    request_id: Option<String>,
    /// On a 422 (and a 400 for query parameters): messages per field or parameter.
    errors: Option<BTreeMap<String, Vec<String>>>,
}
