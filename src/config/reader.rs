//! Where settings come from (the environment, or a map in tests) and reading
//! one setting: required, optional, parsed, positive, a list of origins, a
//! pair of seed-account variables. Every failure names the variable.

use std::str::FromStr;

use super::SeedAccount;

/// A setting that is missing or does not parse; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; see .env.example")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where settings come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Reads settings from a [`Source`].
pub(super) struct Reader<'a, S>(pub(super) &'a S);

impl<S: Source> Reader<'_, S> {
    pub(super) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match self.0.get(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(ConfigError::Missing(name)),
        }
    }

    /// `https://a.example, https://b.example`: each an origin (scheme, host,
    /// optional port), nothing else.
    pub(super) fn origins(
        &self,
        name: &'static str,
    ) -> Result<Vec<axum::http::HeaderValue>, ConfigError> {
        let Some(list) = self.optional(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin
                        .trim_start_matches("https://")
                        .trim_start_matches("http://")
                        .contains('/');
                if !valid {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: format!("{origin:?} is not an origin like https://shop.example"),
                    });
                }
                axum::http::HeaderValue::from_str(origin).map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("{origin:?} is not a valid header value"),
                })
            })
            .collect()
    }

    pub(super) fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|value| !value.trim().is_empty())
    }

    /// Both variables or neither: an email without a password is a mistake.
    pub(super) fn seed_account(
        &self,
        email_name: &'static str,
        password_name: &'static str,
    ) -> Result<Option<SeedAccount>, ConfigError> {
        match (self.optional(email_name), self.optional(password_name)) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::Missing(password_name)),
            (None, Some(_)) => Err(ConfigError::Missing(email_name)),
            (Some(email), Some(password)) => Ok(Some(SeedAccount {
                email: email.trim().to_owned(),
                password: password.into(),
            })),
        }
    }

    pub(super) fn parsed<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            None => Ok(default),
            Some(value) if value.trim().is_empty() => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|error: T::Err| ConfigError::Invalid {
                    name,
                    reason: format!("{value:?}: {error}"),
                }),
        }
    }

    pub(super) fn positive<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default,
        T::Err: std::fmt::Display,
    {
        let value = self.parsed(name, default)?;
        if value <= T::default() {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be greater than zero".into(),
            });
        }
        Ok(value)
    }

    /// [`Reader::positive`], and at most `most` (past it a duration or a
    /// count would overflow what Redis, PostgreSQL or the runtime take).
    pub(super) fn up_to<T>(&self, name: &'static str, default: T, most: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value = self.positive(name, default)?;
        if value > most {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("must be at most {most}"),
            });
        }
        Ok(value)
    }
}
