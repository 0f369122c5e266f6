//! What the account routes send and accept over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{Credentials, NewAccount, PasswordChange};
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

/// A new account with its first session: the user's fields and, beside
/// them, the session's (API.md: "in the same `data`").
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupView {
    #[serde(flatten)]
    pub user: UserView,
    pub token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
}

impl From<SessionView> for SignupView {
    fn from(session: SessionView) -> Self {
        Self {
            user: session.user,
            token: session.token,
            token_type: session.token_type,
            expires_at: session.expires_at,
        }
    }
}

/// One of the signed-in user's live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfoView {
    /// The session's id (for `DELETE /api/auth/sessions/{id}`).
    #[schema(example = "6f8aa523fb794b8c93da44f7392909eb")]
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// When a request last came with it (to the minute).
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` it was opened with.
    pub user_agent: Option<String>,
    /// Whether this is the session of the request.
    pub current: bool,
}

/// `PUT /api/auth/me`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    #[schema(value_type = Name, required)]
    pub name: Option<String>,
}

impl ParseBody for RenameBody {
    type Parsed = Name;

    fn parse(self, errors: &mut FieldErrors) -> Option<Name> {
        errors.parse_required("name", self.name, |name| Name::parse(&name))
    }
}

/// `POST /api/auth/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[schema(value_type = String, required)]
    pub current_password: Option<String>,
    #[schema(value_type = Password, required)]
    pub new_password: Option<String>,
}

impl ParseBody for PasswordBody {
    type Parsed = PasswordChange;

    fn parse(self, errors: &mut FieldErrors) -> Option<PasswordChange> {
        let current = errors.required("current_password", self.current_password);
        let new = errors.parse_required("new_password", self.new_password, |password| {
            Password::parse(password.into())
        });
        Some(PasswordChange {
            current: current?.into(),
            new: new?,
        })
    }
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
        let email = errors.parse_required("email", self.email, |email| Email::parse(&email));
        let password = errors.parse_required("password", self.password, |password| {
            Password::parse(password.into())
        });
        let name = errors.parse_required("name", self.name, |name| Name::parse(&name));
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
