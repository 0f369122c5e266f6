//! `FieldErrors`: what is wrong with each field of a request, all at once.

use std::collections::BTreeMap;

use serde::Serialize;

use super::AppError;

/// Field name -> messages, the `errors` member of a 422.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error for `field`.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else a 422 carrying every error.
    pub fn into_result<T>(self, value: T) -> Result<T, AppError> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(AppError::Validation(self))
        }
    }

    /// The value of a field the body must have; records "is required" when
    /// it is absent (unless the field, or what holds it, already has an
    /// error: it was there but unreadable).
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.names_or_holds(field) {
            self.add(field, "is required");
        }
        value
    }

    /// A field the body must have, parsed: records "is required" when it is
    /// absent, or the parse's error when it does not read.
    pub fn parse_required<R, T>(
        &mut self,
        field: &str,
        value: Option<R>,
        parse: impl FnOnce(R) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.required(field, value)?;
        self.check(field, parse(raw))
    }

    /// Adds `other`'s errors of the fields that have none here yet.
    pub fn add_unnamed(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_insert(messages);
        }
    }

    /// Whether `field`, or a field that holds it (`items[0]` of
    /// `items[0].quantity`), has an error already.
    fn names_or_holds(&self, field: &str) -> bool {
        let mut holders = field
            .char_indices()
            .filter(|&(at, c)| at > 0 && (c == '.' || c == '['))
            .map(|(at, _)| &field[..at]);
        self.has(field) || holders.any(|holder| self.has(holder))
    }

    /// Whether `field` has an error already.
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Records the error of a field parse and gives back its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// `field: message; field: message`, for logs and the command line.
impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                write!(f, "{field}: {message}")?;
                first = false;
            }
        }
        Ok(())
    }
}
