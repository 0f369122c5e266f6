//! Request extractors whose every rejection is an [`AppError`] (problem+json),
//! never axum's plain-text defaults.
//!
//! - [`Valid`]: a JSON body parsed into a domain value ([`ParseBody`]).
//!   Broken JSON is a 400; JSON of the wrong shape (a missing field, a wrong
//!   type, an unknown field) or with bad values is a 422 naming every bad
//!   field at once; a body over the limit is a 413; a body that says it is
//!   not JSON is a 415. [`Lenient`] is the same in two steps. [`Checked`]
//!   is [`Valid`] for a body that names other rows by id ([`NamesRows`]):
//!   its 422 names the ids that name nothing too.
//! - [`ApiQuery`]: a query string; a value that does not parse, or a
//!   parameter the route does not take, is a 400 naming every such
//!   parameter in `errors`. A route that takes no query at all (by its
//!   OpenAPI operation) refuses any the same way, before its handler
//!   ([`refuse_query_where_none_is_taken`]).
//! - [`ResourceId`]: a path id; anything but a positive 32-bit integer is a 400.
//! - [`ClientAddress`]: the client's IP address (the peer's, or behind a
//!   trusted proxy the one it forwards), for rate limits and the cache's
//!   budgets.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts};
use bytes::BytesMut;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

mod json;
mod query;

pub use json::{parse_json, parse_json_leniently, present};
pub use query::{
    ApiQuery, QueryFreeRoutes, REPEAT_SEPARATOR, any_case_bool, parse_query,
    refuse_query_where_none_is_taken,
};

use crate::error::{AppError, FieldErrors};

/// A request body that parses into a domain value. Its fields are read
/// leniently ([`parse_json_leniently`]), then `parse` checks them and
/// reports what is wrong or missing, so that one 422 names every bad field.
pub trait ParseBody: DeserializeOwned {
    type Parsed;
    /// Checks the fields that were read; `errors` already holds those that
    /// could not be. `None` when anything is wrong (recorded in `errors`).
    fn parse(self, errors: &mut FieldErrors) -> Option<Self::Parsed>;
}

/// A JSON body of type `T`, parsed into `T::Parsed` (see [`ParseBody`]).
#[derive(Debug)]
pub struct Valid<T: ParseBody>(pub T::Parsed);

impl<T, S> FromRequest<S> for Valid<T>
where
    T: ParseBody,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Lenient::<T>::from_request(request, state).await?;
        body.parse().map(Valid)
    }
}

/// A body whose fields name other rows by id (a category, tags, a product,
/// a SKU), which only the store can check. When another field is bad, the
/// ids that were read are checked too, so that the one 422 names every bad
/// field at once (API.md), an id that names nothing among them; a body
/// whose fields are all good has its ids checked by the write that uses
/// them, as before.
pub trait NamesRows<S>: ParseBody + Send {
    /// The ids as sent, where they read.
    type Rows: Send;
    fn rows(&self) -> Self::Rows;
    /// Records an error for each of `rows` that names nothing, under a
    /// field that has none yet. A store that cannot answer records nothing
    /// (the 422 names what it can).
    fn name_unknown(
        state: &S,
        rows: Self::Rows,
        errors: &mut FieldErrors,
    ) -> impl Future<Output = ()> + Send;
}

/// [`Valid`] for a body that names rows ([`NamesRows`]).
#[derive(Debug)]
pub struct Checked<T: ParseBody>(pub T::Parsed);

impl<T, S> FromRequest<S> for Checked<T>
where
    T: NamesRows<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Lenient::<T>::from_request(request, state).await?;
        body.parse_naming_rows(state).await.map(Checked)
    }
}

/// A JSON body read leniently but not yet checked: for a handler that must
/// look at a field before the checks (the rate limit of sign-in counts the
/// email as sent). [`Lenient::parse`] finishes the job.
#[derive(Debug)]
pub struct Lenient<T>(pub T, FieldErrors);

impl<T: ParseBody> Lenient<T> {
    /// A body read leniently, with the errors of the fields that were not.
    pub fn new(body: T, errors: FieldErrors) -> Self {
        Self(body, errors)
    }

    /// The parsed body, or a 422 naming every bad field.
    pub fn parse(self) -> Result<T::Parsed, AppError> {
        let Lenient(body, mut errors) = self;
        match body.parse(&mut errors) {
            Some(parsed) if errors.is_empty() => Ok(parsed),
            _ => Err(AppError::Validation(errors)),
        }
    }

    /// [`Lenient::parse`], the 422 naming the ids that name nothing too
    /// ([`NamesRows`]).
    pub async fn parse_naming_rows<S>(self, state: &S) -> Result<T::Parsed, AppError>
    where
        T: NamesRows<S>,
    {
        let rows = self.0.rows();
        let mut errors = match self.parse() {
            Err(AppError::Validation(errors)) => errors,
            parsed => return parsed,
        };
        T::name_unknown(state, rows, &mut errors).await;
        Err(AppError::Validation(errors))
    }
}

impl<T, S> FromRequest<S> for Lenient<T>
where
    T: ParseBody,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json_content_type(request.headers())?;
        let bytes = read_body(request, state).await?;
        let (body, errors) = parse_json_leniently::<T>(&bytes)?;
        Ok(Lenient(body, errors))
    }
}

/// The body's bytes, or a 413 (over the limit) or a 400 (unreadable).
///
/// Each frame is copied as it comes and let go: a body sent as many small
/// chunks, or a byte at a time, holds one buffer of its length, not a list
/// of frames each keeping a read buffer of the connection's alive (many
/// times the body's length, for as long as the body takes to arrive).
pub async fn read_body<S: Send + Sync>(request: Request, _state: &S) -> Result<Bytes, AppError> {
    let mut body = request.into_body();
    // As much as the body says it holds (up to 64 KiB; past that, it grows).
    let declared = http_body::Body::size_hint(&body).lower();
    let declared = usize::try_from(declared).unwrap_or(usize::MAX);
    let mut bytes = BytesMut::with_capacity(declared.min(64 * 1024));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(unreadable)?;
        if let Some(data) = frame.data_ref() {
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes.freeze())
}

/// A body past the limit (`RequestBodyLimitLayer`'s error, however deep
/// the bodies around it wrap it) is a 413; one past what bodies may hold
/// at once (`BodyBudget`), a 503 to retry; anything else, a 400.
fn unreadable(error: axum::Error) -> AppError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return AppError::PayloadTooLarge;
        }
        if error.is::<crate::arrival::BodiesInFlightSpent>() {
            return AppError::unavailable(
                "too many request bodies are being received at once; nothing was done",
            );
        }
        cause = error.source();
    }
    AppError::BadRequest("the request body could not be read".into())
}

/// A body that names a content type must name JSON (`application/json` or
/// any `+json` type); one that names none is read as JSON.
pub fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .ok()
            .and_then(|value| value.split(';').next())
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
    }
    Ok(())
}

/// The id of a resource in a path (`/api/products/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceId(pub i32);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::BadRequest("the path has no id".into()))?;
        parse_id(&raw).map(ResourceId)
    }
}

/// Declares a resource's `{id}` path parameter for OpenAPI, named as
/// `#[utoipa::path(params(ProductPath))]` names it: what [`ResourceId`]
/// accepts (a positive 32-bit integer), with the field's name and
/// description.
macro_rules! path_id {
    ($(#[$doc:meta])* $name:ident($field:ident)) => {
        #[derive(utoipa::IntoParams)]
        #[into_params(parameter_in = Path)]
        pub struct $name {
            $(#[$doc])*
            #[param(minimum = 1, maximum = 2147483647)]
            pub $field: i32,
        }
    };
}
pub(crate) use path_id;

/// The address of the client, as the TCP peer (the server is started with
/// connect info). A proxy in front would make every client look alike; this
/// service is meant to be reached directly or through a proxy that limits on
/// its own side. Requests that carry no connect info (in-process tests) share
/// the address `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    /// The TCP peer; behind a trusted proxy (`TRUSTED_PROXIES`, put into the
    /// request by the router), the client its `X-Forwarded-For` names.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
        else {
            return Ok(Self("unknown".to_owned()));
        };
        let client = match parts.extensions.get::<crate::config::TrustedProxies>() {
            Some(proxies) => {
                let forwarded: Vec<&[u8]> = parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .map(axum::http::HeaderValue::as_bytes)
                    .collect();
                proxies.client(peer, &forwarded)
            }
            None => peer,
        };
        Ok(Self(client.to_string()))
    }
}

/// Ids are positive integers that fit PostgreSQL's `integer`, written as
/// an id is written (no sign, no leading zero): one URL for one resource.
pub fn parse_id(raw: &str) -> Result<i32, AppError> {
    let canonical = raw.bytes().all(|byte| byte.is_ascii_digit()) && !raw.starts_with('0');
    match raw.parse::<i32>() {
        Ok(id) if id > 0 && canonical => Ok(id),
        _ => Err(AppError::BadRequest(format!(
            "{raw:?} is not an id: ids are positive integers up to {}",
            i32::MAX
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[tokio::test]
    async fn a_body_arriving_in_many_frames_holds_none_of_them_while_it_is_read() {
        // Frames as a connection hands over a body trickled a byte at a
        // time: each one byte of a read buffer of its own.
        let buffers: Vec<Bytes> = (0..100u8)
            .map(|i| Bytes::from(vec![b'a' + i % 26; 8192]))
            .collect();
        let (send, receive) = tokio::sync::mpsc::channel::<Bytes>(1);
        let frames = futures_util::stream::unfold(receive, async |mut receive| {
            let data = receive.recv().await?;
            Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(data)),
                receive,
            ))
        });
        let body = axum::body::Body::new(http_body_util::StreamBody::new(frames));
        let reading = tokio::spawn(read_body(Request::new(body), &()));
        for buffer in &buffers {
            send.send(buffer.slice(0..1)).await.unwrap();
        }
        // Every frame taken (on this one thread, the reader is between two
        // polls), the body not yet ended: none is still held.
        while send.capacity() < send.max_capacity() {
            tokio::task::yield_now().await;
        }
        assert!(
            buffers.iter().all(Bytes::is_unique),
            "the body being read holds the buffers its frames came in"
        );
        drop(send);
        let read = reading.await.unwrap().unwrap();
        let expected: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        assert_eq!(&read[..], &expected[..]);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the parse outcome matters here")]
    struct Body {
        name: String,
        count: i32,
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        for input in [
            &b"{"[..],
            b"{\"name\": }",
            b"",
            br#"{"name": "x", "count": 1} trailing"#,
        ] {
            let error = parse_json::<Body>(input).unwrap_err();
            assert!(
                matches!(error, AppError::BadRequest(_)),
                "{input:?}: {error:?}"
            );
        }
    }

    #[test]
    fn the_wrong_shape_is_a_validation_error_naming_the_field() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"name": "x", "count": "three"}"#, "count"),
            (br#"{"name": "x"}"#, "count"),
            (br#"{"name": "x", "count": 1, "extra": true}"#, "extra"),
            (b"true", "body"),
        ];
        for (input, field) in cases {
            match parse_json::<Body>(input) {
                Err(AppError::Validation(errors)) => {
                    let json = serde_json::to_value(&errors).unwrap();
                    assert!(json.get(field).is_some(), "{json}");
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn ids_are_positive_32_bit_integers() {
        assert_eq!(parse_id("7").unwrap(), 7);
        for raw in [
            "0",
            "-1",
            "abc",
            "1.5",
            "2147483648",
            "",
            "1e3",
            "+1",
            "007",
            " 1",
        ] {
            assert!(parse_id(raw).is_err(), "{raw}");
        }
    }
}
