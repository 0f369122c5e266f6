//! Request extractors whose every rejection is an [`AppError`] (problem+json),
//! never axum's plain-text defaults.
//!
//! - [`Valid`]: a JSON body parsed into a domain value ([`ParseBody`]).
//!   Broken JSON is a 400; JSON of the wrong shape (a missing field, a wrong
//!   type, an unknown field) or with bad values is a 422 naming every bad
//!   field at once; a body over the limit is a 413; a body that says it is
//!   not JSON is a 415. [`Lenient`] is the same in two steps.
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
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("the request body could not be read".into())
            }
        })
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

/// Parses a JSON document, classifying failures the way [`Valid`] promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let (value, errors) = parse_json_leniently(bytes)?;
    errors.into_result(value)
}

/// Parses a JSON document into `T`, naming every field that does not fit
/// instead of stopping at the first: a field that fails is recorded and
/// taken out, and the rest is read again. What comes back is `T` without
/// the bad fields, and their errors. (Fields that a body needs are
/// `Option`s in its type, so that taking one out leaves a readable body;
/// its parser reports the ones missing.) Broken JSON is a 400, and so is a
/// body that is not the right kind of JSON value at all (a 422 naming `body`).
pub fn parse_json_leniently<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, FieldErrors), AppError> {
    // Syntax first: a truncated document is malformed (400) even when what
    // came before the cut would already be refused for its shape (422).
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        // Nesting past serde_json's limit is well-formed but no body of ours.
        if error.to_string().starts_with("recursion limit exceeded") {
            AppError::validation("body", "nested too deeply to be a body of this route")
        } else {
            json_error(".", &error)
        }
    })?;
    let mut errors = FieldErrors::new();
    for _ in 0..MAX_FIELD_ERRORS {
        let error = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(parsed) => return Ok((parsed, errors)),
            Err(error) => error,
        };
        let segments: Vec<String> = error.path().iter().map(segment_name).collect();
        let message = strip_position(error.inner());
        // An unknown or missing field is reported at its parent, naming it.
        let (target, message) = match (unknown_field(&message), missing_field(&message)) {
            (Some(field), _) => {
                // serde_path_to_error already names the unknown field.
                let mut target = segments.clone();
                if target.last().map(String::as_str) != Some(field) {
                    target.push(field.to_owned());
                }
                (target, "this field is not part of the body".to_owned())
            }
            (None, Some(field)) => {
                let mut target = segments.clone();
                target.push(field.to_owned());
                errors.add(field_name(&target), "is required");
                return Err(AppError::Validation(errors));
            }
            (None, None) => (segments, message),
        };
        if target.is_empty() || !take_out(&mut value, &target) {
            errors.add(field_name(&target), message);
            return Err(AppError::Validation(errors));
        }
        errors.add(field_name(&target), message);
    }
    Err(AppError::Validation(errors))
}

/// At most this many bad fields are named (each costs a re-read).
const MAX_FIELD_ERRORS: usize = 32;

fn segment_name(segment: &serde_path_to_error::Segment) -> String {
    use serde_path_to_error::Segment;
    match segment {
        Segment::Seq { index } => format!("[{index}]"),
        Segment::Map { key } => key.clone(),
        Segment::Enum { variant } => variant.clone(),
        Segment::Unknown => "?".to_owned(),
    }
}

/// `items`, `[2]`, `quantity` -> `items[2].quantity`; nothing -> `body`.
fn field_name(segments: &[String]) -> String {
    let mut name = String::new();
    for segment in segments {
        if !segment.starts_with('[') && !name.is_empty() {
            name.push('.');
        }
        name.push_str(segment);
    }
    if name.is_empty() {
        "body".to_owned()
    } else {
        name
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// Takes the value at `path` out of `value`; an element of a list takes the
/// whole list out (its other elements' errors are then not named).
fn take_out(value: &mut serde_json::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    if last.starts_with('[') {
        return take_out(value, parents);
    }
    let mut current = value;
    for segment in parents {
        current = match segment
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            Some(index) => match index.parse::<usize>().ok().and_then(|i| current.get_mut(i)) {
                Some(next) => next,
                None => return false,
            },
            None => match current.get_mut(segment.as_str()) {
                Some(next) => next,
                None => return false,
            },
        };
    }
    current
        .as_object_mut()
        .is_some_and(|members| members.remove(last.as_str()).is_some())
}

fn json_error(path: &str, error: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let field = if path == "." { "body" } else { path };
            AppError::Validation(FieldErrors::single(field, strip_position(error)))
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
    if let Ok(value) = serde_urlencoded::from_str::<T>(query) {
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
        if let Err(error) = serde_urlencoded::from_str::<T>(&alone) {
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
