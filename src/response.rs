//! What successful answers look like on the wire.
//!
//! Writes answer `{"data": ...}` ([`Envelope`]). Cacheable reads answer a
//! [`Document`]: the serialized bytes, made once and then served as they are
//! (from PostgreSQL now, from Redis once cached), with `"source"` and the
//! `X-Data-Source` header added at the last moment, and a weak `ETag` that
//! identifies the data, not where it came from.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use utoipa::ToSchema;

/// The header naming where a cacheable answer came from.
pub static X_DATA_SOURCE: HeaderName = HeaderName::from_static("x-data-source");

/// Where a cacheable answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    Redis,
    Postgres,
}

impl DataSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Postgres => "postgres",
        }
    }
}

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

/// How a document is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An `/api` envelope: `"source"` is appended as its last member.
    Envelope,
    /// A bare document (the Catwalk shapes): only the header says the source.
    Bare,
}

/// A serialized cacheable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// For [`Framing::Envelope`], the object without its closing brace.
    pub bytes: Bytes,
    pub framing: Framing,
    /// A weak validator over the bytes, computed once when the document is made.
    pub etag: String,
}

impl Document {
    /// Serializes an envelope (an object whose members come before `source`).
    pub fn envelope<T: Serialize>(members: &T) -> Result<Self, serde_json::Error> {
        let mut bytes = serde_json::to_vec(members)?;
        debug_assert_eq!(bytes.last(), Some(&b'}'));
        bytes.pop();
        Ok(Self::new(bytes.into(), Framing::Envelope))
    }

    /// [`Document::envelope`] for handlers: a serialization failure is an
    /// internal error.
    pub fn envelope_of<T: Serialize>(members: &T) -> Result<Self, crate::error::AppError> {
        Ok(Self::envelope(members).map_err(anyhow::Error::from)?)
    }

    /// Serializes a bare document.
    pub fn bare<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::to_vec(value)?.into(), Framing::Bare))
    }

    /// A document whose ETag was computed when it was first made (a cache hit).
    pub fn with_etag(bytes: Bytes, framing: Framing, etag: String) -> Self {
        Self {
            bytes,
            framing,
            etag,
        }
    }

    pub fn new(bytes: Bytes, framing: Framing) -> Self {
        let etag = format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
        Self {
            bytes,
            framing,
            etag,
        }
    }

    /// The answer, saying it came from `source`.
    pub fn respond(&self, source: DataSource) -> Response {
        let body = match self.framing {
            Framing::Bare => self.bytes.clone(),
            Framing::Envelope => {
                let tail = match source {
                    DataSource::Redis => &b",\"source\":\"redis\"}"[..],
                    DataSource::Postgres => &b",\"source\":\"postgres\"}"[..],
                };
                let mut body = BytesMut::with_capacity(self.bytes.len() + tail.len());
                body.put_slice(&self.bytes);
                body.put_slice(tail);
                body.freeze()
            }
        };
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            X_DATA_SOURCE.clone(),
            HeaderValue::from_static(source.as_str()),
        );
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        // Clients may keep the answer but must revalidate it before showing it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::json;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_envelope_gets_its_source_appended() {
        let document = Document::envelope(&json!({"data": [1, 2], "page": 1})).unwrap();
        let response = document.respond(DataSource::Redis);
        assert_eq!(response.headers()["x-data-source"], "redis");
        assert_eq!(
            body(response).await,
            json!({"data": [1, 2], "page": 1, "source": "redis"})
        );
    }

    #[tokio::test]
    async fn the_etag_does_not_depend_on_the_source() {
        let document = Document::bare(&json!({"id": 1})).unwrap();
        let from_redis = document.respond(DataSource::Redis);
        let from_postgres = document.respond(DataSource::Postgres);
        assert_eq!(
            from_redis.headers()["etag"],
            from_postgres.headers()["etag"]
        );
        assert!(document.etag.starts_with("W/\""));
        assert_eq!(body(from_redis).await, json!({"id": 1}));
    }
}
