//! Session tokens: HS256 JWTs with `sub`, `jti`, `role`, `iat` and `exp`,
//! and `acct`: when the account was created.
//!
//! A token proves who signed in and when; whether the session still lives is
//! decided by its Redis key (see `sessions`), so sign-out needs no deny list.
//! `sub` is the user's id, which a database restored from a backup or made
//! anew may give to another account while the sessions' Redis still holds
//! the first account's sessions: `acct` tells the two accounts apart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// The claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's id, as a string (RFC 7519 wants one).
    pub sub: String,
    /// The session's id: names its Redis key.
    pub jti: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// The account's `created_at`, in microseconds since the epoch (as
    /// PostgreSQL keeps it). Absent from the tokens issued before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acct: Option<i64>,
}

impl Claims {
    pub fn user_id(&self) -> Option<i32> {
        self.sub.parse().ok().filter(|id| *id > 0)
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }

    /// Whether the token was issued to the account created at `created_at`
    /// (a token without `acct` is taken as it is).
    pub fn names_account_created_at(&self, created_at: DateTime<Utc>) -> bool {
        self.acct
            .is_none_or(|acct| acct == created_at.timestamp_micros())
    }
}

/// The signing and checking keys, built once from `JWT_SECRET`.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256: a token that names `none`, another HMAC or a public-key
        // algorithm is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// A new session token for the account `user_id` created at
    /// `account_created`, living `ttl` from now.
    pub fn issue(
        &self,
        (user_id, account_created): (i32, DateTime<Utc>),
        role: Role,
        ttl: Duration,
    ) -> anyhow::Result<(String, Claims)> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            role,
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            acct: Some(account_created.timestamp_micros()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// The claims of a token signed with our key, with HS256, not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> TokenKeys {
        TokenKeys::new(&"0123456789abcdef0123456789abcdef".to_owned().into())
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn an_issued_token_verifies() {
        let keys = keys();
        let (token, claims) = keys
            .issue((7, Utc::now()), Role::Admin, Duration::from_secs(60))
            .unwrap();
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn another_key_or_a_changed_payload_fails() {
        let (token, _) = keys()
            .issue((7, Utc::now()), Role::Customer, Duration::from_secs(60))
            .unwrap();
        let other = TokenKeys::new(&"another-secret-of-thirty-two-bytes!!".to_owned().into());
        assert_eq!(other.verify(&token), None);
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload =
            b64(br#"{"sub":"7","jti":"x","role":"admin","iat":0,"exp":99999999999}"#);
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(keys().verify(&forged), None);
    }

    #[test]
    fn alg_none_and_other_algorithms_fail() {
        let payload = b64(br#"{"sub":"7","jti":"x","role":"admin","iat":0,"exp":99999999999}"#);
        let unsigned = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(keys().verify(&unsigned), None);
        // Signed as it should be, with the right secret, by another algorithm.
        let keys = keys();
        let claims = claims(Role::Admin, 0, 99_999_999_999);
        let good = signed(&keys, Algorithm::HS256, &claims);
        assert_eq!(
            keys.verify(&good),
            Some(claims.clone()),
            "the same, by HS256"
        );
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = signed(&keys, algorithm, &claims);
            assert_eq!(keys.verify(&token), None, "{algorithm:?}");
        }
    }

    fn claims(role: Role, iat: i64, exp: i64) -> Claims {
        Claims {
            sub: "7".into(),
            jti: "x".into(),
            role,
            iat,
            exp,
            acct: None,
        }
    }

    fn signed(keys: &TokenKeys, algorithm: Algorithm, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(algorithm), claims, &keys.encoding).unwrap()
    }

    #[test]
    fn a_token_names_the_account_created_when_it_says_or_says_nothing() {
        let created = Utc::now();
        let (_, issued) = keys()
            .issue((7, created), Role::Customer, Duration::from_secs(60))
            .unwrap();
        assert!(issued.names_account_created_at(created));
        let later = created + chrono::Duration::microseconds(1);
        assert!(!issued.names_account_created_at(later));
        // Issued before tokens said: taken as it is.
        assert!(claims(Role::Customer, 1, 2).names_account_created_at(later));
    }

    #[test]
    fn an_expired_token_fails() {
        let keys = keys();
        let past = claims(Role::Customer, 1, Utc::now().timestamp() - 1);
        let token = signed(&keys, Algorithm::HS256, &past);
        assert_eq!(keys.verify(&token), None);
    }
}
