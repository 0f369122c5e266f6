//! Order handlers: checkout, reads (own orders; admins see all), the
//! owner's cancellation and the admin's status changes.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use diesel_async::AsyncPgConnection;

use super::cache::{self, Viewer};
use super::domain::Actor;
use super::dto::{OrderListQuery, OrderRequestBody, OrderView, PlaceOrderBody, StatusBody};
use super::queries;
use super::reading;
use super::service::{self, Placement};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::extract::{ApiQuery, ResourceId, Valid, path_id};
use crate::idempotency::{self, IdempotencyKey};
use crate::openapi::{
    AdminProblems, BodyProblems, QueryProblems, ReadProblems, SessionProblems, problems,
};
use crate::request_id::Arrived;
use crate::response::{Created, Document, Envelope, Framing, ListEnvelope, SourcedEnvelope};
use crate::state::AppState;

path_id!(
    /// Order id
    OrderPath(id)
);

problems!(CheckoutProblems: "409" => "Not enough stock (`lines` lists every short line as `{product_id, sku_id, requested, available}`), or a total that differs from `expected_total` (`lines` as `{product_id, sku_id, unit_price, quantity}` and `total`, as they are now); nothing changed", "422" => "Empty cart, unknown product, wrong SKU, a total too large, or the key reused with another body");
problems!(OthersOrders: "403" => "A customer asked for another customer's orders");
problems!(NoSuchOrder: "404" => "No such order of this user");
problems!(CancelProblems: "404" => "No such order of this user", "409" => "The order is no longer `placed`");
problems!(StatusProblems: "404" => "No such order", "409" => "Not a legal transition");

/// Places an order from the cart (no body, or `{}`) or from `items`.
#[utoipa::path(
    post, path = "/orders", tag = "orders", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
            description = "1 to 255 visible ASCII characters; retries with the same key replay the first answer for 24 h")),
    request_body(content = Option<PlaceOrderBody>, description = "Absent or `{}`: order the cart"),
    responses(ReadProblems, BodyProblems, SessionProblems, CheckoutProblems,
        (status = 201, description = "The order (on a replay, the first answer, with `Idempotent-Replayed: true`)", body = Envelope<OrderView>,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the first answer replayed"),
                 ("Location" = String, description = "`/api/orders/{id}`"))),
    )
)]
pub async fn place_order(
    State(state): State<AppState>,
    auth: AuthUser,
    key: Option<IdempotencyKey>,
    Arrived(arrived): Arrived,
    OrderRequestBody(request): OrderRequestBody,
) -> AppResult<Response> {
    let (body, replayed) = match service::place(&state, auth.id(), request, key, arrived).await? {
        Placement::Placed(body) => (body, false),
        Placement::Replayed(body) => (body, true),
    };
    let mut response = Created::at(OrderView::location_in(&body), body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert(
            idempotency::REPLAYED.clone(),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Who is reading: the order owner, or an admin who sees everybody's.
fn viewer(auth: &AuthUser) -> Viewer {
    if auth.is_admin() {
        Viewer::Admin(auth.id())
    } else {
        Viewer::Owner(auth.id())
    }
}

/// The signed-in user's orders, newest first (an admin's: everybody's).
#[utoipa::path(
    get, path = "/orders", tag = "orders", security(("bearer" = [])),
    params(OrderListQuery),
    responses(ReadProblems, QueryProblems, SessionProblems, OthersOrders,
        (status = 200, description = "A page of orders, newest first (an admin's name each order's `customer`)", body = ListEnvelope<OrderView>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<OrderListQuery>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let (page, filter) = query.parse(&mut errors);
    errors.into_result(())?;
    reading::list(state, viewer(&auth), page, filter).await
}

/// One order: the user's own (another user's is a 404), or any for an admin.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(OrderPath),
    responses(ReadProblems, SessionProblems, NoSuchOrder,
        (status = 200, description = "The order", body = SourcedEnvelope<OrderView>, headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    let viewer = viewer(&auth);
    let actor = match viewer {
        Viewer::Owner(user_id) => Actor::Owner(user_id),
        Viewer::Admin(_) => Actor::Admin,
    };
    state
        .cached(
            &cache::order(viewer, id),
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let order = queries::find_order(conn, id)
                    .await?
                    .filter(|order| actor.may_see(order.user_id))
                    .ok_or_else(|| AppError::not_found(format!("you have no order {id}")))?;
                let for_admin = actor == Actor::Admin;
                let view = reading::views(conn, vec![order], for_admin)
                    .await?
                    .remove(0);
                Document::envelope_of(&Envelope { data: view })
            },
        )
        .await
}

/// Cancels the user's own order while it is `placed` (an admin: any order,
/// while `placed` or `paid`); the stock goes back.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(OrderPath),
    responses(ReadProblems, SessionProblems, CancelProblems,
        (status = 200, description = "The cancelled order", body = Envelope<OrderView>),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<Envelope<OrderView>> {
    let actor = if auth.is_admin() {
        Actor::Admin
    } else {
        Actor::Owner(auth.id())
    };
    let order = service::change_status(&state, actor, id, super::domain::Status::Cancelled).await?;
    Ok(Envelope { data: order })
}

/// Moves any order along `placed -> paid -> shipped -> delivered`, or
/// cancels it from `placed` or `paid` (the stock goes back). Admins only.
#[utoipa::path(
    patch, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(OrderPath),
    request_body = StatusBody,
    responses(ReadProblems, BodyProblems, AdminProblems, StatusProblems,
        (status = 200, description = "The order as it is now", body = Envelope<OrderView>),
    )
)]
pub async fn update_status(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    status: Valid<StatusBody>,
) -> AppResult<Envelope<OrderView>> {
    let order = service::change_status(&state, Actor::Admin, id, status.0).await?;
    Ok(Envelope { data: order })
}
