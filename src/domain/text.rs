//! Text as the API takes it: names (`category_name`, `tag_name`,
//! `product_name`, a user's `name`) and optional free text (a product's
//! `slogan` and `description`).
//!
//! Both are trimmed first (of what Rust calls whitespace, Unicode's
//! `White_Space`); a name is then 1 to 255 characters with no control
//! character, free text at most its limit with no control character but
//! line breaks and tabs, and blank free text means none.
//!
//! Each also states its rule as an ECMA-262 regular expression for the
//! OpenAPI document, one that accepts exactly what `parse` accepts, so
//! that a client generated from the document (or a fuzzer such as
//! schemathesis) and the server agree on every input. The expressions
//! spell out the character classes instead of using `\s`, whose meaning
//! differs between regex engines.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Unicode `White_Space`, which `str::trim` removes.
const WHITESPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// `char::is_control`: Unicode's `Cc`.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Neither whitespace nor a control character (the two ranges overlap).
const VISIBLE: &str =
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// A checked name: trimmed, 1 to 255 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Trims and checks a name; the error is the message for the field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The rule as a regular expression: optional whitespace around 1 to
    /// 255 characters that start and end visibly and hold no control
    /// character.
    pub fn pattern() -> String {
        trimmed_pattern(&format!("[^{CONTROL}]"), MAX_NAME_CHARS, false)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Gives a type the OpenAPI schema of a string ([`string_schema`]): the
/// query parameters that a handler reads as text and checks itself, and the
/// newtypes that parse a string field (`Name`, `Email`, `Password`).
/// `lengths = (min, max)` adds the bounds on its length in characters.
macro_rules! string_schema_of {
    ($type:ty, $description:expr, $pattern:expr, $example:expr
        $(, lengths = ($min:expr, $max:expr))? $(,)?) => {
        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::domain::text::string_schema_builder($description, $pattern, $example)
                    $(.min_length($min).max_length($max))?
                    .into()
            }
        }

        impl utoipa::ToSchema for $type {}
    };
}
pub(crate) use string_schema_of;

string_schema_of!(
    Name,
    "1 to 255 characters once trimmed, no control characters",
    Some(Name::pattern()),
    "Shirts",
);

/// A name search (`q`): blank means none, anything else follows the rule of
/// a name. As a regular expression:
pub fn search_pattern() -> String {
    trimmed_pattern(&format!("[^{CONTROL}]"), MAX_NAME_CHARS, true)
}

/// `text` lower-cased as PostgreSQL's `lower()` does it here (`C.UTF-8`:
/// one character at a time, Unicode's simple mapping), which is what the
/// unique indexes on names compare. Rust's `str::to_lowercase` differs: it
/// writes a final `Σ` as `ς` (so `ΟΔΟΣ` and `οδος`, two names to
/// PostgreSQL, would be one to it), and `İ` as two characters.
pub fn lower_as_postgres(text: &str) -> String {
    text.chars().map(lower_char).collect()
}

/// Whether `text` is its own [`lower_as_postgres`], without making it.
pub fn is_lower_as_postgres(text: &str) -> bool {
    text.chars()
        .all(|character| lower_char(character) == character)
}

/// One character as PostgreSQL's `lower()` writes it (see [`lower_as_postgres`]).
fn lower_char(character: char) -> char {
    let mut lower = character.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        // Only `İ` maps to more than one character: its simple mapping.
        _ if character == '\u{130}' => 'i',
        _ => character,
    }
}

/// Optional free text of at most `max_chars` characters once trimmed; blank
/// means none; line breaks and tabs are allowed, other control characters not.
pub fn parse_free_text(raw: &str, max_chars: usize) -> Result<Option<String>, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters".into());
    }
    Ok(Some(text.to_owned()))
}

/// [`parse_free_text`]'s rule as a regular expression.
pub fn free_text_pattern(max_chars: usize) -> String {
    trimmed_pattern(
        r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]",
        max_chars,
        true,
    )
}

/// Optional whitespace, then (optionally, when `blank_allowed`) 1 to
/// `max_chars` characters of `inner` that begin and end with a visible
/// character, then optional whitespace.
fn trimmed_pattern(inner: &str, max_chars: usize, blank_allowed: bool) -> String {
    let core = format!(
        "{VISIBLE}(?:{inner}{{0,{}}}{VISIBLE})?",
        max_chars.saturating_sub(2)
    );
    let core = if blank_allowed {
        format!("(?:{core})?")
    } else {
        core
    };
    format!("^[{WHITESPACE}]*{core}[{WHITESPACE}]*$")
}

/// A string schema with a description, a pattern and an example.
pub fn string_schema(description: &str, pattern: Option<String>, example: &str) -> RefOr<Schema> {
    string_schema_builder(description, pattern, example).into()
}

/// [`string_schema`], still open to more (see `string_schema_of!`).
pub fn string_schema_builder(
    description: &str,
    pattern: Option<String>,
    example: &str,
) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .examples([serde_json::Value::from(example)])
}

/// A string schema with a format (`date-time`, say).
pub fn formatted_string_schema(description: &str, format: SchemaFormat) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(format))
        .description(Some(description))
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_lower_cased_as_postgresql_does_one_character_at_a_time() {
        use super::lower_as_postgres;
        assert_eq!(lower_as_postgres("Shirts"), "shirts");
        assert_eq!(lower_as_postgres("ΟΔΟΣ"), "οδοσ");
        assert_ne!(lower_as_postgres("ΟΔΟΣ"), lower_as_postgres("οδος"));
        assert_eq!(lower_as_postgres("İstanbul"), "istanbul");
        assert_eq!(lower_as_postgres("ÉTÉ"), "été");
        // Telling a name in lower case from another agrees with making it.
        for name in [
            "shirts",
            "Shirts",
            "οδος",
            "ΟΔΟΣ",
            "istanbul",
            "İstanbul",
            "été",
            "50%: off",
        ] {
            assert_eq!(
                super::is_lower_as_postgres(name),
                lower_as_postgres(name) == name,
                "{name}"
            );
        }
    }

    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        // The patterns use only what the `regex` crate reads the same way
        // as ECMA-262 (classes, ranges, `\uXXXX`, bounded repeats).
        regex_lite::Regex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Shirts ").unwrap().as_str(), "Shirts");
        assert_eq!(
            Name::parse(&"é".repeat(255))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            255
        );
        assert!(Name::parse(&"é".repeat(256)).is_err());
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse("").is_err());
        assert!(Name::parse("a\u{0}b").is_err());
        assert!(Name::parse("line\nbreak").is_err());
    }

    #[test]
    fn the_name_pattern_accepts_exactly_what_parse_accepts() {
        let pattern = Name::pattern();
        for text in [
            "Shirts",
            "  Shirts ",
            "\tShirts\n",
            "a",
            "two words",
            "\u{3000}x\u{a0}",
            &"é".repeat(255),
            &format!("  {}  ", "é".repeat(255)),
            "",
            "   ",
            "\u{85}",
            "a\u{0}b",
            "line\nbreak",
            &"é".repeat(256),
            "x\u{7f}",
            "\u{9f}",
        ] {
            assert_eq!(
                matches(&pattern, text),
                Name::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_free_text_pattern_accepts_exactly_what_parse_accepts() {
        let pattern = free_text_pattern(10);
        for text in [
            "",
            "   ",
            "a",
            "ten chars!",
            "  ten chars!  ",
            "eleven char",
            "line\nbreak",
            "tab\there",
            "bell\u{7}",
            "\u{2028}x",
        ] {
            assert_eq!(
                matches(&pattern, text),
                parse_free_text(text, 10).is_ok(),
                "{text:?}"
            );
        }
    }
}
