//! Email addresses as accounts use them: `local@domain`, at most 254 characters.
//!
//! Deliberately narrower than RFC 5322 (no quoted local parts, no comments, no
//! IP literals): what a shop can actually send mail to and what a person can
//! type. Case is kept as given; uniqueness ignores it (see the `users` index).

/// The longest address, in characters (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
const MAX_LOCAL_PART_CHARS: usize = 64;
const MAX_LABEL_CHARS: usize = 63;

/// Trims and checks an address; the error is the message for the field.
pub fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an address of the form local@domain".into());
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_PART_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(is_local_part_char);
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_CHARS
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email.to_owned())
    } else {
        Err("must be an address of the form local@domain".into())
    }
}

/// RFC 5322 `atext` and the dot, plus non-ASCII letters (RFC 6531).
fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~.".contains(c)
        || (!c.is_ascii() && c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_pass_trimmed() {
        assert_eq!(parse_email(" Ada@Example.com ").unwrap(), "Ada@Example.com");
        assert!(parse_email("first.last+tag@mail.example.co.uk").is_ok());
        assert!(parse_email("admin@localhost").is_ok());
        assert!(parse_email("josé@exämple.de").is_ok());
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
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn length_is_bounded() {
        let domain = format!(
            "{}.{}.{}.com",
            "d".repeat(63),
            "e".repeat(63),
            "f".repeat(63)
        );
        let longest = format!(
            "{}@{domain}",
            "a".repeat(MAX_EMAIL_CHARS - domain.len() - 1)
        );
        assert_eq!(longest.len(), MAX_EMAIL_CHARS);
        assert!(parse_email(&longest).is_ok());
        assert!(parse_email(&format!("a{longest}")).is_err());
        assert!(parse_email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
