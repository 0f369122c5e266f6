//! Creating accounts: the one path that sign-up, the seed and `create-admin`
//! share, so every account passes the same rules.

use diesel_async::AsyncPgConnection;
use secrecy::{ExposeSecret, SecretString};

use super::models::{NewUser, Role, User};
use super::password::{Hasher, check_password_rules};
use super::queries;
use crate::domain::{parse_email, parse_name};
use crate::error::{AppError, FieldErrors};

/// A request for an account, before it is checked.
pub struct NewAccount {
    pub email: String,
    pub password: SecretString,
    pub name: String,
    pub role: Role,
}

/// A checked request: the trimmed email and name, and the password.
pub struct ValidAccount {
    pub email: String,
    pub password: SecretString,
    pub name: String,
    pub role: Role,
}

impl NewAccount {
    /// Checks every field, reporting all the bad ones at once.
    pub fn validate(self) -> Result<ValidAccount, AppError> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", parse_email(&self.email));
        let name = errors.check("name", parse_name(&self.name));
        errors.check(
            "password",
            check_password_rules(self.password.expose_secret()),
        );
        let (Some(email), Some(name)) = (email, name) else {
            return Err(AppError::Validation(errors));
        };
        errors.into_result(ValidAccount {
            email,
            password: self.password,
            name,
            role: self.role,
        })
    }
}

/// Hashes the password and stores the account; 409 when the email is taken.
pub async fn create_account(
    conn: &mut AsyncPgConnection,
    hasher: &Hasher,
    account: ValidAccount,
) -> Result<User, AppError> {
    let password_hash = hasher.hash_password(account.password).await?;
    let user = queries::insert_user(
        conn,
        &NewUser {
            email: &account.email,
            password_hash: &password_hash,
            name: &account.name,
            role: account.role.as_str(),
        },
    )
    .await?;
    Ok(user)
}
