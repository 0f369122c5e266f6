//! A new password: 8 to 128 characters (counted as characters, not bytes).
//! Never logged, never shown: it is a `SecretString` until it is hashed.

use secrecy::{ExposeSecret, SecretString};

use super::text::string_schema_of;

/// Password length bounds, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password that passes the rules for a new one: 8 to 128 characters.
pub struct Password(SecretString);

impl Password {
    /// Checks a new password's length; the error is the message for the field.
    pub fn parse(password: SecretString) -> Result<Self, String> {
        let chars = password.expose_secret().chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
        }
        Ok(Self(password))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

// A new password as the OpenAPI document states it.
string_schema_of!(
    Password,
    "8 to 128 characters",
    None,
    "correct horse battery staple",
    lengths = (Some(MIN_PASSWORD_CHARS), Some(MAX_PASSWORD_CHARS)),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_count_characters() {
        let check = |text: &str| Password::parse(text.to_owned().into()).is_ok();
        assert!(!check("1234567"));
        assert!(check("12345678"));
        assert!(check(&"é".repeat(128)));
        assert!(!check(&"é".repeat(129)));
    }
}
