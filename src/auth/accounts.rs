//! Creating accounts: the one path that sign-up, the seed and `create-admin`
//! share, so every account passes the same rules.

use diesel_async::AsyncPgConnection;
use secrecy::SecretString;

use super::models::{NewUser, User};
use super::queries;
use crate::domain::{Email, Name};
use crate::domain::{Password, Role};
use crate::error::{AppError, FieldErrors};
use crate::hashing::Hasher;

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

/// Hashes the password and stores the account; 409 when the email is taken.
pub async fn create_account(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    account: NewAccount,
) -> Result<User, AppError> {
    let password_hash = hasher.hash_password(account.password.into_secret()).await?;
    let user = queries::insert_user(
        conn,
        &NewUser {
            email: account.email.as_str(),
            password_hash: &password_hash,
            name: account.name.as_str(),
            role: account.role,
        },
    )
    .await?;
    Ok(user)
}
