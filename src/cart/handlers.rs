//! Cart handlers. Every route needs a signed-in user and sees only that
//! user's lines; another user's line id is a 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Map, json};

use super::dto::{CartView, SetQuantityBody};
use super::queries;
use crate::auth::AuthUser;
use crate::cache::{CacheKey, Kind, Namespace};
use crate::catalog::purchasable::{self, LineBody, Locking, Purchasable};
use crate::error::{AppError, AppResult, ProblemSchema};
use crate::extract::{ResourceId, Valid};
use crate::openapi::{BodyProblems, ReadProblems, SessionProblems};
use crate::response::{Document, Envelope, Framing, SourcedEnvelope};
use crate::state::AppState;

/// `cart:<user_id>`: today's prices and stock, so product writes retire it too.
pub fn cart_key(user_id: i32) -> CacheKey {
    CacheKey::new(
        format!("cart:{user_id}"),
        Kind::Cart,
        vec![Namespace::Cart(user_id), Namespace::ProductLists],
    )
}

/// Refuses a line that asks for more than is available, or whose total
/// would not fit the money type.
fn check_line(purchasable: &Purchasable, quantity: i64) -> AppResult<i32> {
    if quantity > i64::from(purchasable.available) {
        let mut extensions = Map::new();
        extensions.insert("available".into(), json!(purchasable.available));
        return Err(AppError::Conflict {
            detail: format!("only {} of this item are available", purchasable.available),
            extensions,
        });
    }
    if purchasable.unit_price.times(quantity).is_none() {
        return Err(AppError::validation(
            "quantity",
            "the line's total would exceed 99999999.99",
        ));
    }
    i32::try_from(quantity).map_err(|_| AppError::validation("quantity", "too large"))
}

async fn view(conn: &mut AsyncPgConnection, user_id: i32) -> AppResult<CartView> {
    Ok(CartView::new(queries::cart_lines(conn, user_id).await?))
}

/// The signed-in user's cart, at today's prices.
#[utoipa::path(
    get, path = "/cart", tag = "cart",
    security(("bearer" = [])),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 200, description = "The cart", body = SourcedEnvelope<CartView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn get_cart(State(state): State<AppState>, auth: AuthUser) -> AppResult<Response> {
    let user_id = auth.id();
    state
        .cached(
            &cart_key(user_id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let cart = view(conn, user_id).await?;
                Document::envelope_of(&Envelope { data: cart })
            },
        )
        .await
}

/// Adds an item, or more of one already in the cart.
#[utoipa::path(
    post, path = "/cart/items", tag = "cart",
    security(("bearer" = [])),
    request_body = LineBody,
    responses(
        ReadProblems,
        BodyProblems,
        SessionProblems,
        (status = 201, description = "The cart after the change", body = Envelope<CartView>),
        (status = 409, description = "More than is available (`available` says how many)", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn add_item(
    State(state): State<AppState>,
    auth: AuthUser,
    Valid((item, quantity)): Valid<LineBody>,
) -> AppResult<(StatusCode, Envelope<CartView>)> {
    let quantity = quantity.get();
    let user_id = auth.id();
    let cart = state
        .cache
        .write(vec![Namespace::Cart(user_id)], async {
            let mut conn = state.conn().await?;
            conn.transaction::<_, AppError, _>(async |conn| {
                let purchasable =
                    purchasable::resolve(conn, &[(String::new(), item)], Locking::None)
                        .await?
                        .remove(0);
                let merged = queries::add_to_line(conn, user_id, item, quantity).await?;
                check_line(&purchasable, i64::from(merged))?;
                view(conn, user_id).await
            })
            .await
        })
        .await?;
    Ok((StatusCode::CREATED, Envelope { data: cart }))
}

/// Sets the quantity of one of the user's lines.
#[utoipa::path(
    put, path = "/cart/items/{id}", tag = "cart",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Cart line id")),
    request_body = SetQuantityBody,
    responses(
        ReadProblems,
        BodyProblems,
        SessionProblems,
        (status = 200, description = "The cart after the change", body = Envelope<CartView>),
        (status = 404, description = "No such line in this user's cart", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "More than is available", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update_item(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
    Valid(quantity): Valid<SetQuantityBody>,
) -> AppResult<Envelope<CartView>> {
    let quantity = quantity.get();
    let user_id = auth.id();
    let cart = state
        .cache
        .write(vec![Namespace::Cart(user_id)], async {
            let mut conn = state.conn().await?;
            conn.transaction::<_, AppError, _>(async |conn| {
                let item = queries::find_line(conn, user_id, id)
                    .await?
                    .ok_or_else(|| AppError::not_found(format!("your cart has no line {id}")))?;
                let purchasable =
                    purchasable::resolve(conn, &[(String::new(), item)], Locking::None)
                        .await?
                        .remove(0);
                let quantity = check_line(&purchasable, i64::from(quantity))?;
                queries::set_quantity(conn, id, quantity).await?;
                view(conn, user_id).await
            })
            .await
        })
        .await?;
    Ok(Envelope { data: cart })
}

/// Removes one of the user's lines.
#[utoipa::path(
    delete, path = "/cart/items/{id}", tag = "cart",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Cart line id")),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 204, description = "Removed"),
        (status = 404, description = "No such line in this user's cart", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn remove_item(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<StatusCode> {
    let user_id = auth.id();
    state
        .cache
        .write(vec![Namespace::Cart(user_id)], async {
            let mut conn = state.conn().await?;
            if queries::delete_line(&mut conn, user_id, id).await? {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(AppError::not_found(format!("your cart has no line {id}")))
            }
        })
        .await
}

/// Empties the user's cart.
#[utoipa::path(
    delete, path = "/cart", tag = "cart",
    security(("bearer" = [])),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 204, description = "Emptied"),
    )
)]
pub async fn clear_cart(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    let user_id = auth.id();
    state
        .cache
        .write(vec![Namespace::Cart(user_id)], async {
            let mut conn = state.conn().await?;
            queries::clear(&mut conn, user_id).await?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}
