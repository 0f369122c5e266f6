//! What the account routes send and accept over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{Credentials, NewAccount};
use super::models::User;
use crate::domain::{Email, Name, Password, Role};
use crate::error::FieldErrors;
use crate::extract::ParseBody;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i32,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            role: user.role,
            id: user.id,
            email: user.email,
            name: user.name,
            created_at: user.created_at,
        }
    }
}

/// An open session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

/// `POST /api/auth/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    #[schema(value_type = Email, required)]
    pub email: Option<String>,
    #[schema(value_type = Password, required)]
    pub password: Option<String>,
    #[schema(value_type = Name, required)]
    pub name: Option<String>,
}

impl SignupBody {
    /// The email as sent, for the rate limit (counted before the checks).
    pub fn email_as_sent(&self) -> &str {
        self.email.as_deref().unwrap_or("")
    }
}

impl ParseBody for SignupBody {
    type Parsed = NewAccount;

    fn parse(self, errors: &mut FieldErrors) -> Option<NewAccount> {
        let email = errors
            .required("email", self.email)
            .and_then(|email| errors.check("email", Email::parse(&email)));
        let password = errors
            .required("password", self.password)
            .and_then(|password| errors.check("password", Password::parse(password.into())));
        let name = errors
            .required("name", self.name)
            .and_then(|name| errors.check("name", Name::parse(&name)));
        Some(NewAccount {
            email: email?,
            password: password?,
            name: name?,
            role: Role::Customer,
        })
    }
}

/// `POST /api/auth/signin`: any strings; a wrong pair is one 401.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninBody {
    #[schema(value_type = String, required, example = "ada@example.com")]
    pub email: Option<String>,
    #[schema(value_type = String, required, example = "correct horse battery staple")]
    pub password: Option<String>,
}

impl SigninBody {
    /// The email as sent, for the rate limit (counted before the checks).
    pub fn email_as_sent(&self) -> &str {
        self.email.as_deref().unwrap_or("")
    }
}

impl ParseBody for SigninBody {
    type Parsed = Credentials;

    fn parse(self, errors: &mut FieldErrors) -> Option<Credentials> {
        let email = errors.required("email", self.email);
        let password = errors.required("password", self.password);
        Some(Credentials {
            email: email?,
            password: password?.into(),
        })
    }
}
