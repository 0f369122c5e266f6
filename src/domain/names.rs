//! Names (`category_name`, `tag_name`, `product_name`, a user's `name`):
//! 1 to 255 characters after trimming, with no control characters.

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Trims and checks a name; the error is the message for the field.
pub fn parse_name(raw: &str) -> Result<String, String> {
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
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Shirts ").unwrap(), "Shirts");
        assert_eq!(parse_name(&"é".repeat(255)).unwrap().chars().count(), 255);
        assert!(parse_name(&"é".repeat(256)).is_err());
        assert!(parse_name("   ").is_err());
        assert!(parse_name("").is_err());
        assert!(parse_name("a\u{0}b").is_err());
        assert!(parse_name("line\nbreak").is_err());
    }
}
