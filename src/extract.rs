//! Request extractors whose every rejection is an [`AppError`] (problem+json),
//! never axum's plain-text defaults.
//!
//! - [`ApiJson`]: a JSON body. Broken JSON is a 400; JSON of the wrong shape
//!   (a missing field, a wrong type, an unknown field) is a 422 naming the field;
//!   a body over the limit is a 413; a body that says it is not JSON is a 415.
//! - [`ApiQuery`]: a query string; a value that does not parse, or a
//!   parameter the route does not take, is a 400 naming every such
//!   parameter in `errors`.
//! - [`ResourceId`]: a path id; anything but a positive 32-bit integer is a 400.
//! - [`ClientAddress`]: the peer's IP address, for rate limits.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldErrors};

/// A JSON request body of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::BadRequest("the request body could not be read".into())
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
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

/// Parses a JSON document, classifying failures the way [`ApiJson`] promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Syntax first: a truncated document is malformed (400) even when what
    // came before the cut would already be refused for its shape (422).
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|error| json_error(".", &error))?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer
        .end()
        .map_err(|error| json_error(".", &error))?;
    Ok(value)
}

fn json_error(path: &str, error: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let message = strip_position(error);
            let parent = if path == "." { "" } else { path };
            // serde reports a missing field at its parent's path; name the field itself.
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(name, _)| name);
            let field = match (parent, missing) {
                ("", Some(name)) => name.to_owned(),
                (parent, Some(name)) => format!("{parent}.{name}"),
                ("", None) => "body".to_owned(),
                (parent, None) => parent.to_owned(),
            };
            AppError::Validation(FieldErrors::single(field, message))
        }
        Category::Eof if error.line() == 1 && error.column() == 0 => {
            AppError::BadRequest("the request body is empty; send a JSON document".into())
        }
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::BadRequest(format!("the body is not valid JSON: {error}"))
        }
    }
}

/// serde_json appends " at line L column C"; a field error reads better without it.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// A query string of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Reads a query string into `T`, whose fields must all be optional (every
/// query struct's are). On failure every bad parameter is named at once:
/// each parameter is read alone into `T`, so that its own error (unknown,
/// or a value that does not parse) is known without the others'.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    if let Ok(value) = serde_html_form::from_str::<T>(query) {
        return Ok(value);
    }
    let mut errors = FieldErrors::new();
    let mut names: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let alone: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(query.as_bytes()).filter(|(other, _)| *other == name),
            )
            .finish();
        if let Err(error) = serde_html_form::from_str::<T>(&alone) {
            let message = error.to_string();
            let message = if message.starts_with("unknown field") {
                "this route takes no such parameter".to_owned()
            } else if message.starts_with("duplicate field") {
                "may be given only once".to_owned()
            } else {
                format!("does not parse: {message}")
            };
            errors.add(name, message);
        }
    }
    if errors.is_empty() {
        // Each parameter reads alone but not together: name the query.
        errors.add("query", "the parameters do not fit together");
    }
    Err(AppError::BadQuery(errors))
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

/// The address of the client, as the TCP peer (the server is started with
/// connect info). A proxy in front would make every client look alike; this
/// service is meant to be reached directly or through a proxy that limits on
/// its own side. Requests that carry no connect info (in-process tests) share
/// the address `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(Self(address))
    }
}

/// Ids are positive integers that fit PostgreSQL's `integer`.
pub fn parse_id(raw: &str) -> Result<i32, AppError> {
    match raw.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
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
        for raw in ["0", "-1", "abc", "1.5", "2147483648", "", "1e3"] {
            assert!(parse_id(raw).is_err(), "{raw}");
        }
    }
}
