//! Account and session handlers.

use super::dto::{SessionView, SigninBody, SignupBody, UserView};
use super::extract::AuthUser;
use super::{service, sessions};
use crate::error::{AppResult, ProblemSchema};
use crate::extract::{ClientAddress, Lenient};
use crate::openapi::{BodyProblems, RateLimited, ReadProblems, SessionProblems};
use crate::response::Envelope;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// Creates a customer account.
#[utoipa::path(
    post, path = "/auth/signup", tag = "auth",
    request_body = SignupBody,
    responses(ReadProblems, BodyProblems, RateLimited,
        (status = 201, description = "The new account", body = Envelope<UserView>),
        (status = 409, description = "The email is taken (in any case)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, password or name", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Lenient<SignupBody>,
) -> AppResult<(StatusCode, Envelope<UserView>)> {
    service::limit_attempts(&state, "signup", &address, body.0.email_as_sent()).await?;
    let account = body.parse()?;
    let mut conn = state.conn().await?;
    let user = service::create_account(&mut conn, &state.hasher, account).await?;
    Ok((StatusCode::CREATED, Envelope { data: user.into() }))
}

/// Opens a session: answers a bearer token.
#[utoipa::path(
    post, path = "/auth/signin", tag = "auth",
    request_body = SigninBody,
    responses(ReadProblems, BodyProblems, RateLimited,
        (status = 200, description = "A session token", body = Envelope<SessionView>),
        (status = 401, description = "Unknown email or wrong password (one answer for both)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A field missing, of the wrong type, or not part of the body", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Lenient<SigninBody>,
) -> AppResult<Envelope<SessionView>> {
    if let Err(error) =
        service::limit_attempts(&state, "signin", &address, body.0.email_as_sent()).await
    {
        metrics::counter!("signins_total", "outcome" => "rate_limited").increment(1);
        return Err(error);
    }
    let session = service::sign_in(&state, body.parse()?).await?;
    Ok(Envelope { data: session })
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
