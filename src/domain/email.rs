//! Email addresses as accounts use them: `local@domain`, at most 254
//! characters as sent, surrounding whitespace trimmed.
//!
//! Deliberately narrower than RFC 5322 and ASCII only (no quoted local
//! parts, no comments, no IP literals, no internationalised addresses): what
//! every mail system can deliver to and what a person types, and a rule a
//! regular expression states exactly, so that the OpenAPI document and the
//! server agree (see `Email::pattern`). Case is kept as given; uniqueness
//! ignores it (see the `users` index).

use super::text::string_schema_of;

/// The longest address, in characters (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// RFC 5322 `atext`: what a local part is made of, between dots.
const ATEXT: &str = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]";
/// A domain label: letters, digits and inner hyphens.
const LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
/// What `str::trim` removes.
const WHITESPACE: &str =
    r"[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// A checked address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims and checks an address; the error is the message for the field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
        }
        let email = raw.trim();
        let invalid = || "must be an address of the form local@domain".to_owned();
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let atom = |part: &str| {
            !part.is_empty()
                && part.bytes().all(|byte| {
                    byte.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&byte)
                })
        };
        let label = |part: &str| {
            !part.is_empty()
                && !part.starts_with('-')
                && !part.ends_with('-')
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        };
        if local.split('.').all(atom) && domain.split('.').all(label) {
            Ok(Self(email.to_owned()))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The rule as a regular expression (with `maxLength` for the length).
    pub fn pattern() -> String {
        format!("^{WHITESPACE}*{ATEXT}+(?:\\.{ATEXT}+)*@{LABEL}(?:\\.{LABEL})*{WHITESPACE}*$")
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

string_schema_of!(
    Email,
    "An address of the form local@domain (ASCII), at most 254 characters",
    Some(Email::pattern()),
    "ada@example.com",
    lengths = (None, Some(MAX_EMAIL_CHARS)),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_pass_trimmed() {
        assert_eq!(
            Email::parse(" Ada@Example.com ").unwrap().as_str(),
            "Ada@Example.com"
        );
        assert!(Email::parse("first.last+tag@mail.example.co.uk").is_ok());
        assert!(Email::parse("admin@localhost").is_ok());
    }

    #[test]
    fn malformed_addresses_fail() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "ada@",
            "ada@@example.com",
            "a@b@example.com",
            "ada@exa mple.com",
            "ada smith@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "ada@example..com",
            "ada@-example.com",
            "ada@example.com.",
            "ada@exam_ple.com",
            "\"ada\"@example.com",
            "ada\u{0}@example.com",
            "<script>@example.com",
            "josé@exämple.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn length_is_bounded_as_sent() {
        let longest = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS - 12));
        assert_eq!(longest.len(), MAX_EMAIL_CHARS);
        assert!(Email::parse(&longest).is_ok());
        assert!(Email::parse(&format!("a{longest}")).is_err());
        assert!(Email::parse(&format!(" {longest}")).is_err());
    }

    #[test]
    fn the_pattern_accepts_exactly_what_parse_accepts_within_the_length() {
        let pattern = regex_lite::Regex::new(&Email::pattern()).unwrap();
        for text in [
            "ada@example.com",
            " Ada@Example.com\t",
            "first.last+tag@mail.example.co.uk",
            "a@b",
            "a-b@c-d.e",
            "plain",
            "ada@",
            ".ada@example.com",
            "a..da@example.com",
            "ada@example..com",
            "ada@-example.com",
            "ada@example.com.",
            "josé@exämple.de",
            "ada@exam_ple.com",
            "\"ada\"@example.com",
        ] {
            assert_eq!(
                pattern.is_match(text),
                Email::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
