//! What successful answers look like on the wire.
//!
//! Writes answer `{"data": ...}` ([`Envelope`]). Cacheable reads answer a
//! [`Document`] (see `cache::document`); this module names the shapes of
//! both for the OpenAPI document.

use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::cache::{DataSource, Document, Framing, X_DATA_SOURCE};

/// `{"data": ...}`: the body of every successful write.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// A cacheable read of one thing: `{"data": ..., "source": ...}` (schema only:
/// the bytes are made by [`Document::envelope`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct SourcedEnvelope<T> {
    pub data: T,
    pub source: DataSource,
}

/// A cacheable page of a list (schema only: see [`ListPage`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    pub data: Vec<T>,
    pub page: i64,
    pub limit: i64,
    /// Rows that match, or 10,000 when `total_capped` is true.
    pub total: i64,
    /// True when more than 10,000 rows match and counting stopped there.
    #[schema(default = false)]
    pub total_capped: Option<bool>,
    pub source: DataSource,
}

/// The members of a list page before `source` is appended.
#[derive(Debug, Serialize)]
pub struct ListPage<T> {
    pub data: Vec<T>,
    pub page: i64,
    pub limit: i64,
    pub total: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub total_capped: bool,
}

impl<T> ListPage<T> {
    /// A page of a list whose `total` is counted exactly.
    pub fn of(data: Vec<T>, page: crate::domain::Pagination, total: i64) -> Self {
        Self {
            data,
            page: page.page,
            limit: page.limit,
            total,
            total_capped: false,
        }
    }
}
