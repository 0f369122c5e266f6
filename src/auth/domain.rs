//! What an account and a sign-in are once checked.

use secrecy::SecretString;

use crate::domain::{Email, Name, Password, Role};
use crate::error::{AppError, FieldErrors};

/// A checked request for an account.
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub name: Name,
    pub role: Role,
}

impl NewAccount {
    /// Checks every field, reporting all the bad ones at once (the seed,
    /// `create-admin` and tests; sign-up reads its body the same way).
    pub fn parse(
        email: &str,
        password: SecretString,
        name: &str,
        role: Role,
    ) -> Result<Self, AppError> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(email));
        let name = errors.check("name", Name::parse(name));
        let password = errors.check("password", Password::parse(password));
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) if errors.is_empty() => Ok(Self {
                email,
                password,
                name,
                role,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

/// A sign-in's email and password.
pub struct Credentials {
    pub email: String,
    pub password: SecretString,
}

/// A checked password change: the current password (checked against the
/// account's hash, not here) and the new one (checked by the password rules).
pub struct PasswordChange {
    pub current: SecretString,
    pub new: Password,
}
