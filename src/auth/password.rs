//! Passwords of accounts that exist: checking the current one, changing
//! it (which ends the other sessions), and remaking a hash made with
//! earlier settings after a sign-in.

use diesel_async::AsyncPgConnection;
use secrecy::SecretString;
use tracing::Instrument;

use super::domain::PasswordChange;
use super::models::User;
use super::queries;
use super::sessions;
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::error::{AppError, AppResult};
use crate::rate_limit::{self, Bucket, Decision};
use crate::state::AppState;

const WRONG_CURRENT_PASSWORD: &str = "is not the account's password";

/// Wrong current passwords one session may send within
/// [`WRONG_CURRENT_PASSWORDS_WINDOW`]; the next check (of any password:
/// it is counted before its hash) ends the session. A
/// password change is no sign-in (API.md limits sign-ins only), but without
/// a bound a stolen token would guess the password at the hasher's speed,
/// then change it and end every other session, the victim's included.
pub const MAX_WRONG_CURRENT_PASSWORDS: u32 = 4;

/// How long a session's wrong current passwords are remembered.
const WRONG_CURRENT_PASSWORDS_WINDOW: std::time::Duration = std::time::Duration::from_secs(900);

/// A password change's body that broke a rule (`problem`) is also checked
/// for a wrong `current_password`, so that the 422 names every bad field at
/// once (API.md); the problem as it was when that cannot be told.
pub async fn current_password_too(
    state: &AppState,
    user: &User,
    session: &str,
    sent_current: Option<String>,
    problem: AppError,
) -> AppError {
    let AppError::Validation(mut errors) = problem else {
        return problem;
    };
    let Some(current) = sent_current.filter(|_| !errors.has("current_password")) else {
        return AppError::Validation(errors);
    };
    // No stored password is this long: wrong without spending a hash.
    if current.chars().count() > MAX_PASSWORD_CHARS {
        errors.add("current_password", WRONG_CURRENT_PASSWORD);
        return AppError::Validation(errors);
    }
    match is_current_password(state, user, session, current.into()).await {
        Ok(true) => {}
        Ok(false) => errors.add("current_password", WRONG_CURRENT_PASSWORD),
        // Too many guesses: the session is ended.
        Err(ended @ AppError::Unauthorized(_)) => return ended,
        // The hasher busy, or Redis unable to count the guess: the 422 as
        // it was, sure of what it names.
        Err(error) => tracing::debug!(error = %error, "current password left unchecked"),
    }
    AppError::Validation(errors)
}

/// Whether `current` is the account's password. Each check is counted
/// against the session that sent it before a hash is spent (so guesses sent
/// at once are bounded too), and a right one is taken back: past
/// [`MAX_WRONG_CURRENT_PASSWORDS`] wrong ones within the window the session
/// is ended (a 401: sign in again, with the password), with no hash.
async fn is_current_password(
    state: &AppState,
    user: &User,
    session: &str,
    current: secrecy::SecretString,
) -> AppResult<bool> {
    let guesses = [Bucket {
        key: state
            .config
            .redis_key(format!("password-misses:{}:{session}", user.id)),
        limit: MAX_WRONG_CURRENT_PASSWORDS,
        window: WRONG_CURRENT_PASSWORDS_WINDOW,
        nested: false,
    }];
    if let Decision::Limited { .. } = rate_limit::hit(&state.redis, &guesses).await? {
        sessions::close(state, user.id, session).await?;
        return Err(AppError::Unauthorized(format!(
            "{} wrong current passwords: this session is ended; sign in again",
            MAX_WRONG_CURRENT_PASSWORDS + 1
        )));
    }
    let stored = Some(user.password_hash.clone());
    let checked = state
        .hasher
        .for_signed_in()
        .verify_password(current, stored)
        .await;
    // Counted only when wrong: a right password, or none checked (the
    // hasher busy), is taken back.
    if !matches!(checked, Ok(false))
        && let Err(failure) = rate_limit::take_back(&state.redis, &guesses).await
    {
        tracing::warn!(error = %failure, "a current password's check stays counted");
    }
    Ok(checked?)
}

/// Changes the password after checking the current one (422 naming
/// `current_password` when it is wrong), and ends every other session of
/// the user at once: before the change, so that nothing signed in with the
/// old password outlives it, and again after it, for a sign-in that
/// checked the old password meanwhile. The calling session stays. The
/// account's row is locked from the check of the hash to the change, so of
/// two changes at once the second finds the password changed (422) and
/// ends no session. A hash made anew meanwhile (a sign-in of an account
/// hashed with earlier settings) holds the same password: the current
/// password is checked against it, and the change goes on. When the second
/// ending fails, the password is changed all the same: the 503 says so,
/// and what is left to do.
pub async fn change_password(
    state: &AppState,
    user: &User,
    current_session: &str,
    change: PasswordChange,
) -> AppResult<()> {
    let current = change.current;
    if !is_current_password(state, user, current_session, current.clone()).await? {
        return Err(wrong_current_password());
    }
    let hasher = state.hasher.for_signed_in();
    let new_hash = hasher.hash_password(change.new.into_secret()).await?;
    let (state, user_id) = (state.clone(), user.id);
    let (current_session, mut checked) = (current_session.to_owned(), user.password_hash.clone());
    // In a task of its own from here: once the change commits, the second
    // ending runs even when the request is dropped (its client gone, the
    // request timeout), or a session signed in with the old password
    // meanwhile would outlive the change.
    crate::background::to_the_end(async move {
        for _ in 0..3 {
            let Some(now) =
                change_if_unchanged(&state, user_id, &current_session, &checked, &new_hash).await?
            else {
                return end_the_others_again(&state, user_id, &current_session).await;
            };
            if !hasher
                .verify_password(current.clone(), Some(now.clone()))
                .await?
            {
                return Err(wrong_current_password());
            }
            checked = now;
        }
        Err(AppError::unavailable(
            "the account's password hash kept changing meanwhile; nothing was changed: retry",
        ))
    })
    .await
}

fn wrong_current_password() -> AppError {
    AppError::validation("current_password", WRONG_CURRENT_PASSWORD)
}

/// Ends the other sessions and stores `new_hash`, in one transaction, when
/// the account's hash is still `checked`; else changes nothing and answers
/// the hash it has now.
async fn change_if_unchanged(
    state: &AppState,
    user_id: i32,
    current_session: &str,
    checked: &str,
    new_hash: &str,
) -> AppResult<Option<String>> {
    state
        .transaction(async |conn: &mut AsyncPgConnection| {
            match queries::lock_password_hash(conn, user_id).await? {
                None => Err(AppError::Unauthorized(
                    "the account no longer exists".into(),
                )),
                Some(hash) if hash != checked => Ok(Some(hash)),
                Some(_) => {
                    sessions::close_all(state, user_id, Some(current_session)).await?;
                    queries::update_password_hash(conn, user_id, new_hash).await?;
                    Ok(None)
                }
            }
        })
        .await
}

/// The other sessions ended again after the commit: a session signed in
/// with the old password while the change ran. Should that fail, the
/// password is changed all the same (a retry would be told it is wrong):
/// the client is told what is left to do. (Not tried again in the
/// background: that would also end sessions opened with the new password
/// meanwhile.)
async fn end_the_others_again(
    state: &AppState,
    user_id: i32,
    current_session: &str,
) -> AppResult<()> {
    if let Err(failure) = sessions::close_all(state, user_id, Some(current_session)).await {
        tracing::warn!(error = %failure, user_id, "ending the other sessions after a password change failed");
        return Err(AppError::unavailable(
            "the password is changed, but not every other session could be ended yet: \
             sign out everywhere (POST /api/auth/signout-all) once the service answers again",
        ));
    }
    Ok(())
}

/// Hashes the password anew with the current settings, in the background
/// (the answer does not wait), and stores it unless the hash changed
/// meanwhile. A failure leaves the old hash, which still verifies.
pub(super) fn remake_hash_later(
    state: &AppState,
    user_id: i32,
    old: String,
    password: SecretString,
) {
    let state = state.clone();
    let remake = async move {
        let new = state.hasher.hash_password(password).await?;
        state
            .transaction(async |conn: &mut AsyncPgConnection| {
                Ok(queries::remake_password_hash(conn, user_id, &old, &new).await?)
            })
            .await
    };
    tokio::spawn(
        async move {
            if let Err(error) = remake.await {
                tracing::warn!(error = %error, "a password's hash was not made anew; the old one still verifies");
            }
        }
        .instrument(tracing::Span::current()),
    );
}
