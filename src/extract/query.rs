//! Query strings: every bad or unknown parameter named at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

use crate::error::{AppError, FieldErrors};

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

/// A boolean query value, `true` or `false` in any case (Python's
/// `requests` sends `True`); anything else does not parse (a 400 naming
/// it). For `#[serde(default, deserialize_with = "any_case_bool")]`.
pub fn any_case_bool<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    if text.eq_ignore_ascii_case("true") {
        Ok(Some(true))
    } else if text.eq_ignore_ascii_case("false") {
        Ok(Some(false))
    } else {
        Err(serde::de::Error::custom("must be true or false"))
    }
}

/// Reads a query string into `T`, whose fields must all be optional (every
/// query struct's are). On failure every bad parameter is named at once:
/// each parameter is read alone into `T`, so that its own error (unknown,
/// or a value that does not parse) is known without the others'.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let not_text = names_not_text(query);
    let joined = join_repeated(query);
    let query = joined.as_str();
    if not_text.is_empty()
        && let Ok(value) = serde_urlencoded::from_str::<T>(query)
    {
        return Ok(value);
    }
    let mut errors = FieldErrors::new();
    // Each name with its pairs, in one pass over the query.
    let mut by_name: BTreeMap<String, form_urlencoded::Serializer<'static, String>> =
        BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if !by_name.contains_key(name.as_ref()) && by_name.len() == MAX_NAMES_READ {
            // No route takes a tenth as many: no need to read each one.
            errors.add(
                "query",
                format!("names more than {MAX_NAMES_READ} parameters; no route takes as many"),
            );
            return Err(AppError::BadQuery(errors));
        }
        by_name
            .entry(name.to_string())
            .or_insert_with(|| form_urlencoded::Serializer::new(String::new()))
            .append_pair(&name, &value);
    }
    for (name, mut alone) in by_name {
        if not_text.contains(&name) {
            errors.add(name, "is not UTF-8 text once percent-decoded");
            continue;
        }
        if let Err(error) = serde_urlencoded::from_str::<T>(&alone.finish()) {
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

/// A query naming more parameters than this is refused whole, unread.
const MAX_NAMES_READ: usize = 64;

/// The routes that take no query parameter at all, read off the OpenAPI
/// document (route template -> methods): the routes that take some read
/// their query with [`ApiQuery`], which refuses the others.
#[derive(Debug, Clone, Default)]
pub struct QueryFreeRoutes(Arc<HashMap<String, Vec<Method>>>);

impl QueryFreeRoutes {
    pub fn of(openapi: &OpenApi) -> Self {
        let takes_query = |operation: &Operation| {
            operation.parameters.iter().flatten().any(|parameter| {
                matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query)
            })
        };
        let mut routes: HashMap<String, Vec<Method>> = HashMap::new();
        for (path, item) in &openapi.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, operation) in operations {
                if operation
                    .as_ref()
                    .is_some_and(|operation| !takes_query(operation))
                {
                    routes.entry(path.clone()).or_default().push(method);
                }
            }
        }
        Self(Arc::new(routes))
    }

    /// These GET routes, served outside the document, take no query either.
    pub fn and_gets(mut self, paths: &[&str]) -> Self {
        let routes = Arc::make_mut(&mut self.0);
        for path in paths {
            routes
                .entry((*path).to_owned())
                .or_default()
                .push(Method::GET);
        }
        self
    }

    fn takes_none(&self, route: &str, method: &Method) -> bool {
        // (A HEAD is answered by the GET route.)
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0
            .get(route)
            .is_some_and(|methods| methods.contains(method))
    }
}

/// A query parameter on a route that takes none is a 400 naming every
/// such parameter (API.md), before the handler runs.
pub async fn refuse_query_where_none_is_taken(
    State(routes): State<QueryFreeRoutes>,
    request: Request,
    next: Next,
) -> Response {
    let refused = match (
        request.uri().query(),
        request.extensions().get::<MatchedPath>(),
    ) {
        (Some(query), Some(route)) if routes.takes_none(route.as_str(), request.method()) => {
            let mut names: Vec<String> = form_urlencoded::parse(query.as_bytes())
                .map(|(name, _)| name.into_owned())
                .collect();
            names.sort();
            names.dedup();
            let mut errors = FieldErrors::new();
            if names.len() > MAX_NAMES_READ {
                errors.add(
                    "query",
                    format!("names more than {MAX_NAMES_READ} parameters; this route takes none"),
                );
                return AppError::BadQuery(errors).into_response();
            }
            for name in names {
                errors.add(name, "this route takes no such parameter");
            }
            (!errors.is_empty()).then_some(errors)
        }
        _ => None,
    };
    match refused {
        Some(errors) => AppError::BadQuery(errors).into_response(),
        None => next.run(request).await,
    }
}

/// The names (as read) whose name or value is not UTF-8 once
/// percent-decoded (`%FF`): read leniently, its bytes would be replaced
/// (`U+FFFD`), a value the client never sent; API.md makes a value that
/// does not parse a 400.
fn names_not_text(query: &str) -> Vec<String> {
    // The query is text already: only an escape can make bytes that are
    // not (`+` for a space changes nothing of that), so a query without one
    // costs a scan and no allocation.
    let is_text = |raw: &str| {
        !raw.contains('%')
            || percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .is_ok()
    };
    if !query.contains('%') {
        return Vec::new();
    }
    query
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (!is_text(name) || !is_text(value)).then(|| {
                let spaced = name.replace('+', " ");
                percent_encoding::percent_decode_str(&spaced)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .collect()
}

/// Between the values of a repeated parameter once joined: a control
/// character, which no name may hold (a name may hold a comma).
pub const REPEAT_SEPARATOR: char = '\u{1f}';

/// Parameters that may be repeated, each time naming one more value
/// (`tag=a&tag=b` is one `tag` holding both, apart); every other parameter
/// may be given once.
const REPEATABLE: [&str; 2] = ["category", "tag"];

/// The query with each repeatable parameter given once, its values joined
/// with [`REPEAT_SEPARATOR`] in the order sent.
fn join_repeated(query: &str) -> String {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let repeated = REPEATABLE
        .iter()
        .any(|name| pairs.iter().filter(|(key, _)| key == name).count() > 1);
    let holds_separator = pairs.iter().any(|(name, value)| {
        REPEATABLE.contains(&name.as_str()) && value.contains(REPEAT_SEPARATOR)
    });
    if !repeated && !holds_separator {
        return query.to_owned();
    }
    let mut merged: Vec<(String, String)> = Vec::new();
    // Where each repeatable name stands in `merged`, once there.
    let mut at: [Option<usize>; REPEATABLE.len()] = [None; REPEATABLE.len()];
    for (name, value) in pairs {
        let Some(kind) = REPEATABLE.iter().position(|repeatable| *repeatable == name) else {
            merged.push((name, value));
            continue;
        };
        // Sent within a value, the separator stays a control character
        // (refused in a name: a 422), not a split into two values.
        let value = value.replace(REPEAT_SEPARATOR, "\u{1e}");
        match at[kind] {
            Some(index) => {
                let values = &mut merged[index].1;
                values.push(REPEAT_SEPARATOR);
                values.push_str(&value);
            }
            None => {
                at[kind] = Some(merged.len());
                merged.push((name, value));
            }
        }
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(merged)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::join_repeated;

    #[test]
    fn repeated_categories_and_tags_are_one_list_and_nothing_else_is_joined() {
        assert_eq!(
            join_repeated("tag=a&page=2&tag=b%2Cc"),
            "tag=a%1Fb%2Cc&page=2"
        );
        assert_eq!(join_repeated("category=x&category=y"), "category=x%1Fy");
        // Other repeats are left for the reader to refuse.
        assert_eq!(join_repeated("page=1&page=2"), "page=1&page=2");
    }
}
