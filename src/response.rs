//! What successful answers look like on the wire.
//!
//! Writes answer `{"data": ...}` ([`Envelope`]). Cacheable reads answer a
//! [`Document`] (see `cache::document`); this module names the shapes of
//! both for the OpenAPI document.

use axum::http::{HeaderValue, StatusCode, header};
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

/// A 201 that says where what it created can be read (`Location`, a path
/// of this server), with `body` (an [`Envelope`], or an order's bytes).
#[derive(Debug)]
pub struct Created<T> {
    location: Option<String>,
    body: T,
}

impl<T> Created<T> {
    pub fn at(location: impl Into<Option<String>>, body: T) -> Self {
        Self {
            location: location.into(),
            body,
        }
    }
}

impl<T: IntoResponse> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::CREATED, self.body).into_response();
        // A path made of ASCII and digits always makes a header value.
        if let Some(Ok(location)) = self.location.map(HeaderValue::try_from) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
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
    /// Whether rows follow this page.
    pub has_next: bool,
    /// The relative URL of the next page, carrying an opaque `after`
    /// cursor (no OFFSET), or null on the last page.
    #[schema(
        example = "/api/products?sortBy=createdAt&order=DESC&limit=20&after=eyJvIjoiY3JlYXRlZEF0OkRFU0MiLCJ2IjoiMjAyNi0xMi0wMVQxMDowMDowMC4wMDAwMDBaIiwiaSI6NDIsInAiOjJ9"
    )]
    pub next: Option<String>,
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
    /// Whether rows follow this page.
    pub has_next: bool,
    /// The relative URL of the next page (with an `after` cursor), or null.
    pub next: Option<String>,
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
            has_next: false,
            next: None,
        }
    }

    /// The same page with each row made into another.
    pub fn map<U>(mut self, row: impl FnMut(T) -> U) -> ListPage<U> {
        let data = std::mem::take(&mut self.data)
            .into_iter()
            .map(row)
            .collect();
        self.with_data(data)
    }

    /// The same page holding `data` instead (its rows made into others).
    pub fn with_data<U>(self, data: Vec<U>) -> ListPage<U> {
        ListPage {
            data,
            page: self.page,
            limit: self.limit,
            total: self.total,
            total_capped: self.total_capped,
            has_next: self.has_next,
            next: self.next,
        }
    }

    /// The page of `rows` loaded one past `limit` (the extra row only says
    /// that more follow), with `next` made from the last row kept.
    pub fn from_rows(
        mut rows: Vec<T>,
        page: crate::domain::Pagination,
        total: i64,
        next: impl FnOnce(&T) -> String,
    ) -> Self {
        let has_next = rows.len() as i64 > page.limit;
        rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
        let next = if has_next {
            rows.last().map(next)
        } else {
            None
        };
        Self {
            has_next,
            next,
            ..Self::of(rows, page, total)
        }
    }
}
