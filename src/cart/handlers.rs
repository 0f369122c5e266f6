//! Cart handlers. Every route needs a signed-in user and sees only that
//! user's lines; another user's line id is a 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use diesel_async::AsyncPgConnection;

use super::dto::{CartView, SetQuantityBody};
use super::{cache, service};
use crate::auth::AuthUser;
use crate::catalog;
use crate::error::AppResult;
use crate::extract::{Checked, ResourceId, Valid, path_id};
use crate::inventory::LineBody;
use crate::openapi::{BodyProblems, ReadProblems, SessionProblems, problems};
use crate::response::{Document, Envelope, Framing, SourcedEnvelope};
use crate::state::AppState;

path_id!(
    /// Cart line id
    CartLinePath(id)
);

problems!(AddProblems: "409" => "More than is available (`lines` names the line with `requested` and `available`)", "422" => "Unknown product, wrong SKU, quantity out of range");
problems!(ChangeProblems: "404" => "No such line in this user's cart", "409" => "More than is available (`lines`, as on a 409 of checkout)");
problems!(NoSuchLine: "404" => "No such line in this user's cart");

/// The signed-in user's cart, at today's prices.
#[utoipa::path(
    get, path = "/cart", tag = "cart", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 200, description = "The cart", body = SourcedEnvelope<CartView>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn get_cart(State(state): State<AppState>, auth: AuthUser) -> AppResult<Response> {
    let user_id = auth.id();
    state
        .cached(
            &cache::cart_document(user_id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let cart = service::view(conn, user_id).await?;
                let shown = cart.items.iter().map(|item| item.product_id);
                let shows = catalog::cache::showing_products(shown.collect::<Vec<_>>());
                Ok(Document::envelope_of(&Envelope { data: cart })?.showing(shows))
            },
        )
        .await
}

/// Adds an item, or more of one already in the cart.
#[utoipa::path(
    post, path = "/cart/items", tag = "cart", security(("bearer" = [])),
    request_body = LineBody,
    responses(ReadProblems, BodyProblems, SessionProblems, AddProblems,
        (status = 201, description = "The cart after the change", body = Envelope<CartView>),
    )
)]
pub async fn add_item(
    State(state): State<AppState>,
    auth: AuthUser,
    Checked((item, quantity)): Checked<LineBody>,
) -> AppResult<(StatusCode, Envelope<CartView>)> {
    let cart = service::add(&state, auth.id(), item, quantity).await?;
    Ok((StatusCode::CREATED, Envelope { data: cart }))
}

/// Sets the quantity of one of the user's lines.
#[utoipa::path(
    put, path = "/cart/items/{id}", tag = "cart", security(("bearer" = [])),
    params(CartLinePath),
    request_body = SetQuantityBody,
    responses(ReadProblems, BodyProblems, SessionProblems, ChangeProblems,
        (status = 200, description = "The cart after the change", body = Envelope<CartView>),
    )
)]
pub async fn update_item(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
    Valid(quantity): Valid<SetQuantityBody>,
) -> AppResult<Envelope<CartView>> {
    let cart = service::set_quantity(&state, auth.id(), id, quantity).await?;
    Ok(Envelope { data: cart })
}

/// Removes one of the user's lines.
#[utoipa::path(
    delete, path = "/cart/items/{id}", tag = "cart", security(("bearer" = [])),
    params(CartLinePath),
    responses(ReadProblems, SessionProblems, NoSuchLine,
        (status = 204, description = "Removed"),
    )
)]
pub async fn remove_item(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    service::remove(&state, auth.id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Empties the user's cart.
#[utoipa::path(
    delete, path = "/cart", tag = "cart", security(("bearer" = [])),
    responses(ReadProblems, SessionProblems,
        (status = 204, description = "Emptied"),
    )
)]
pub async fn clear_cart(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    service::clear(&state, auth.id()).await?;
    Ok(StatusCode::NO_CONTENT)
}
