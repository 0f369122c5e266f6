//! Reading a JSON body leniently: every field that does not fit is named,
//! not only the first (serde stops at the first).

use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldErrors};

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
/// For `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
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
    // A body that reads as it is needs no tree (a `Value` costs some twenty
    // times the body's bytes: 32 for each element, a string for each number).
    if let Ok(parsed) = serde_json::from_slice::<T>(bytes) {
        return Ok((parsed, FieldErrors::new()));
    }
    // Syntax first, and without a tree: a truncated document is malformed
    // (400) even when what came before the cut would already be refused
    // for its shape (422).
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|error| malformed(&error))?;
    // The fields are named one by one on a tree of the body: only for a
    // body of a size some body of ours could have.
    if values_in(bytes) > MAX_VALUES_NAMED {
        // (`IgnoredAny` skips a string's bytes unchecked: not UTF-8 is
        // still malformed, as the tree would have found.)
        if std::str::from_utf8(bytes).is_err() {
            return Err(AppError::BadRequest(
                "the body is not valid JSON: it is not UTF-8".into(),
            ));
        }
        return Err(AppError::validation(
            "body",
            format!("holds more values than any body of this route (at most {MAX_VALUES_NAMED})"),
        ));
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| malformed(&error))?;
    let mut errors = FieldErrors::new();
    // Elements of a list stood in for by `{}` (see below), by path.
    let mut stood_in: Vec<Vec<String>> = Vec::new();
    for _ in 0..MAX_FIELD_ERRORS {
        let error = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(parsed) => return Ok((parsed, errors)),
            Err(error) => error,
        };
        let segments: Vec<String> = error.path().iter().map(segment_name).collect();
        if let Some(element) = stood_in.iter().find(|path| segments.starts_with(path)) {
            // `{}` does not read as an element of this list either (its
            // elements are no objects, or have a member it must hold): the
            // list goes, the element already named once.
            if take_out(&mut value, element) {
                continue;
            }
            return Err(AppError::Validation(errors));
        }
        let message = without_type_names(strip_position(error.inner()));
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
        // An element that is no object at all: `{}` stands in for it, so
        // that the other elements are read and named too (an element's
        // members are `Option`s; their "is required" is not added under a
        // path already named). Where `{}` does not read either, the list goes.
        if is_element(&target) && stand_in(&mut value, &target) {
            errors.add(field_name(&target), message);
            stood_in.push(target);
            continue;
        }
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

/// The most values a body whose fields are named one by one may hold: a
/// body of ours holds at most a few hundred (100 lines of an order, 100
/// tags of a product), and a tree of a megabyte of `0,` would hold some
/// 28 MiB for as long as its fields are read.
const MAX_VALUES_NAMED: usize = 10_000;

/// Broken JSON is a 400; nesting past serde_json's limit is well-formed
/// but no body of ours (422).
fn malformed(error: &serde_json::Error) -> AppError {
    if error.to_string().starts_with("recursion limit exceeded") {
        AppError::validation("body", "nested too deeply to be a body of this route")
    } else {
        json_error(".", error)
    }
}

/// About how many values a well-formed JSON document holds: its
/// containers and the commas between members or elements, outside strings.
fn values_in(bytes: &[u8]) -> usize {
    let (mut values, mut in_string, mut escaped) = (1, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b',' | b'[' | b'{' => values += 1,
                _ => {}
            }
        }
    }
    values
}

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

/// Whether `path` names an element of a list (`items`, `[2]`).
fn is_element(path: &[String]) -> bool {
    path.last().is_some_and(|last| last.starts_with('['))
}

/// The value at `path`, if every step of it is there.
fn value_at<'a>(
    value: &'a mut serde_json::Value,
    path: &[String],
) -> Option<&'a mut serde_json::Value> {
    let mut current = value;
    for segment in path {
        current = match segment
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            Some(index) => current.get_mut(index.parse::<usize>().ok()?)?,
            None => current.get_mut(segment.as_str())?,
        };
    }
    Some(current)
}

/// Puts `{}` in place of the element at `path`.
fn stand_in(value: &mut serde_json::Value, path: &[String]) -> bool {
    match value_at(value, path) {
        Some(element) => {
            *element = serde_json::Value::Object(serde_json::Map::new());
            true
        }
        None => false,
    }
}

/// Takes the value at `path` out of `value`; an element of a list takes the
/// whole list out (an element `{}` could not stand in for).
fn take_out(value: &mut serde_json::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    if last.starts_with('[') {
        return take_out(value, parents);
    }
    value_at(value, parents)
        .and_then(serde_json::Value::as_object_mut)
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

/// serde names the Rust type it wanted ("expected struct LineBody"); a
/// client knows it as a JSON object.
fn without_type_names(message: String) -> String {
    match message.find(", expected struct ") {
        Some(at) => format!("{}, expected an object", &message[..at]),
        None => message,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
    }

    fn named(error: AppError) -> serde_json::Value {
        match error {
            AppError::Validation(errors) => serde_json::to_value(&errors).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_larger_than_any_of_ours_is_refused_without_a_tree_of_it() {
        // A megabyte of `0,`: a tree of it, to name its fields one by one,
        // held some 28 MiB.
        let mut huge = String::from(r#"{"name": "x", "x": ["#);
        huge.push_str(&"0,".repeat(500_000));
        huge.push_str("0]}");
        let errors = named(parse_json_leniently::<Body>(huge.as_bytes()).unwrap_err());
        assert!(
            errors["body"][0]
                .as_str()
                .is_some_and(|message| message.contains("more values")),
            "{errors}"
        );
        // Within the bound, every bad field is named.
        let errors = named(parse_json::<Body>(br#"{"name": 1, "x": [0, 0]}"#).unwrap_err());
        assert!(
            errors.get("name").is_some() && errors.get("x").is_some(),
            "{errors}"
        );
        // Broken, it is a 400 whatever its size: not UTF-8, or cut short.
        let mut bytes = huge.clone().into_bytes();
        bytes[10] = 0xFF;
        assert!(matches!(
            parse_json_leniently::<Body>(&bytes),
            Err(AppError::BadRequest(_))
        ));
        huge.pop();
        assert!(matches!(
            parse_json_leniently::<Body>(huge.as_bytes()),
            Err(AppError::BadRequest(_))
        ));
    }

    #[test]
    fn values_are_counted_outside_strings() {
        assert_eq!(values_in(br#"{"a": "x,y[{\"", "b": [1, 2]}"#), 5);
        assert_eq!(values_in(b"7"), 1);
    }
}
