//! A cacheable answer: the serialized bytes, made once and then served as
//! they are (from PostgreSQL now, from Redis once cached), with `"source"`
//! and the `X-Data-Source` header added at the last moment, and a weak
//! `ETag` that identifies the data, not where it came from. A document also
//! names the namespaces of what it shows beyond its key's own (the products
//! on a list page), so that their writes retire it.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use utoipa::ToSchema;

use super::Namespace;

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
    /// Namespaces of what it shows beyond its key's own (for a list page,
    /// each product on it): a write to any of them retires it too.
    pub shows: Vec<Namespace>,
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
            shows: Vec::new(),
        }
    }

    /// The document, depending also on `namespaces` (what it shows).
    #[must_use]
    pub fn showing(mut self, namespaces: impl IntoIterator<Item = Namespace>) -> Self {
        self.shows.extend(namespaces);
        self
    }

    pub fn new(bytes: Bytes, framing: Framing) -> Self {
        let etag = format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
        Self {
            bytes,
            framing,
            etag,
            shows: Vec::new(),
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
