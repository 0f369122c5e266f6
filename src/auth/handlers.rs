//! Account and session handlers.

use super::dto::{
    PasswordBody, RenameBody, SessionInfoView, SessionView, SigninBody, SignupBody, SignupView,
    UserView,
};
use super::extract::{AuthUser, UserAgent};
use super::password;
use super::service;
use super::sessions;
use crate::error::{AppError, AppResult};
use crate::extract::{ClientAddress, Lenient, ParseBody, Valid};
use crate::openapi::{BodyProblems, RateLimited, ReadProblems, SessionProblems, problems};
use crate::response::Envelope;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

problems!(SignupProblems: "409" => "The email is taken (in any case)", "422" => "Invalid email, password or name");
problems!(SigninProblems: "401" => "Unknown email or wrong password (one answer for both)", "422" => "A field missing, of the wrong type, or not part of the body");
problems!(PasswordProblems: "422" => "`current_password` is wrong, or `new_password` breaks the password rules");
problems!(NoSuchSession: "404" => "No live session of this user has this id");

/// Creates a customer account and opens its first session.
#[utoipa::path(
    post, path = "/auth/signup", tag = "auth",
    request_body = SignupBody,
    responses(ReadProblems, BodyProblems, RateLimited, SignupProblems,
        (status = 201, description = "The new account, with the token of its first session", body = Envelope<SignupView>),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    UserAgent(agent): UserAgent,
    body: Lenient<SignupBody>,
) -> AppResult<(StatusCode, Envelope<SignupView>)> {
    let (counted, account) =
        counted_and_parsed(&state, "signup", &address, body, SignupBody::email_as_sent).await?;
    let signing_up = service::sign_up(&state, account, agent.as_deref());
    let created = counted.attempt(&state, signing_up).await?;
    Ok((StatusCode::CREATED, Envelope { data: created }))
}

/// Opens a session: answers a bearer token.
#[utoipa::path(
    post, path = "/auth/signin", tag = "auth",
    request_body = SigninBody,
    responses(ReadProblems, BodyProblems, RateLimited, SigninProblems,
        (status = 200, description = "A session token", body = Envelope<SessionView>),
    )
)]
pub async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    UserAgent(agent): UserAgent,
    body: Lenient<SigninBody>,
) -> AppResult<Envelope<SessionView>> {
    let (counted, credentials) =
        counted_and_parsed(&state, "signin", &address, body, SigninBody::email_as_sent)
            .await
            .inspect_err(|error| {
                if matches!(error, AppError::RateLimited { .. }) {
                    metrics::counter!("signins_total", "outcome" => "rate_limited").increment(1);
                }
            })?;
    let signing_in = service::sign_in(&state, credentials, agent.as_deref());
    let session = counted.attempt(&state, signing_in).await?;
    Ok(Envelope { data: session })
}

/// The attempt counted against its address and email, then its body
/// parsed. Uncounted (Redis down: a 503), a body that does not parse is
/// still its 422, as it would be with Redis up.
async fn counted_and_parsed<T: ParseBody>(
    state: &AppState,
    action: &str,
    address: &str,
    body: Lenient<T>,
    email: fn(&T) -> &str,
) -> AppResult<(service::Counted, T::Parsed)> {
    match service::limit_attempts(state, action, address, email(&body.0)).await {
        Err(unavailable @ AppError::Unavailable { .. }) => {
            Err(body.parse().err().unwrap_or(unavailable))
        }
        counted => Ok((counted?, body.parse()?)),
    }
}

/// Ends the session of the token sent; other sessions of the user live on.
#[utoipa::path(
    post, path = "/auth/signout", tag = "auth", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 204, description = "The token is dead"),
    )
)]
pub async fn signout(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    sessions::close(&state, auth.id(), &auth.session.jti).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 200, description = "The signed-in user", body = Envelope<UserView>),
    )
)]
pub async fn me(auth: AuthUser) -> Envelope<UserView> {
    Envelope {
        data: auth.user.into(),
    }
}

/// Renames the signed-in user.
#[utoipa::path(
    put, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    request_body = RenameBody,
    responses(ReadProblems, BodyProblems, SessionProblems,
        (status = 200, description = "The user as it is now", body = Envelope<UserView>),
    )
)]
pub async fn rename_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Valid(name): Valid<RenameBody>,
) -> AppResult<Envelope<UserView>> {
    let user = service::rename(&state, auth.id(), &name).await?;
    Ok(Envelope { data: user.into() })
}

/// Changes the password; every other session of the user ends at once,
/// this one stays.
#[utoipa::path(
    post, path = "/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordBody,
    responses(ReadProblems, BodyProblems, SessionProblems, PasswordProblems,
        (status = 204, description = "Changed; every other session is dead"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    body: Lenient<PasswordBody>,
) -> AppResult<StatusCode> {
    // Not rate limited (API.md: sign-up and sign-in only): the caller holds
    // a live session, and each check waits for one of the hasher's slots;
    // a session that sends too many wrong current passwords is ended.
    let sent_current = body.0.current_password.clone();
    let change = match body.parse() {
        Ok(change) => change,
        Err(problem) => {
            return Err(password::current_password_too(
                &state,
                &auth.user,
                &auth.session.jti,
                sent_current,
                problem,
            )
            .await);
        }
    };
    password::change_password(&state, &auth.user, &auth.session.jti, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the user, this one too.
#[utoipa::path(
    post, path = "/auth/signout-all", tag = "auth", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 204, description = "Every token of the user is dead"),
    )
)]
pub async fn signout_all(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    sessions::close_all(&state, auth.id(), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's live sessions, newest first.
#[utoipa::path(
    get, path = "/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 200, description = "Every live session of the user", body = Envelope<Vec<SessionInfoView>>),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> AppResult<Envelope<Vec<SessionInfoView>>> {
    let sessions = sessions::list(&state, &auth.user).await?;
    let data = sessions
        .into_iter()
        .map(|session| SessionInfoView {
            current: session.id == auth.session.jti,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.user_agent,
        })
        .collect();
    Ok(Envelope { data })
}

/// Ends one of the user's sessions; its token is dead at once.
#[utoipa::path(
    delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /api/auth/sessions`")),
    responses(ReadProblems, SessionProblems, NoSuchSession,
        (status = 204, description = "The session is dead"),
    )
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> AppResult<StatusCode> {
    let no_such = || AppError::not_found("you have no live session with this id");
    // A jti is 32 hex digits: anything else names no session (and no key).
    if id.len() != 32 || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(no_such());
    }
    if sessions::close(&state, auth.id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such())
    }
}
