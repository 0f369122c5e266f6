//! Order handlers: checkout, reads (own orders; admins see all), the
//! owner's cancellation and the admin's status changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::checkout::{self, Idempotency, OrderSource, Placement};
use super::dto::{OrderView, PlaceOrderBody, StatusBody};
use super::models::{Order, Status};
use super::queries;
use crate::auth::{AdminUser, AuthUser};
use crate::cache::{CacheKey, Kind, Namespace};
use crate::domain::PageQuery;
use crate::error::{AppError, AppResult, FieldErrors, ProblemSchema};
use crate::extract::{
    ApiQuery, ParseBody, ResourceId, Valid, parse_json_leniently, require_json_content_type,
};
use crate::openapi::{AdminProblems, BodyProblems, QueryProblems, ReadProblems, SessionProblems};
use crate::response::{Document, Envelope, Framing, ListEnvelope, ListPage, SourcedEnvelope};
use crate::state::AppState;

/// The longest Idempotency-Key accepted.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// What an order write retires: the owner's and the admins' order documents,
/// and (stock changed) the products' documents and every list.
fn order_change(owner: i32, product_ids: &[i32]) -> Vec<Namespace> {
    let mut namespaces = vec![Namespace::Orders(owner), Namespace::AllOrders];
    namespaces.extend(Namespace::product_change(None));
    namespaces.extend(product_ids.iter().map(|id| Namespace::Product(*id)));
    namespaces
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the optional body: nothing (or `{}`) orders the cart.
fn order_source(headers: &HeaderMap, body: &Bytes) -> AppResult<OrderSource> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(OrderSource::Cart);
    }
    require_json_content_type(headers)?;
    let (body, mut errors) = parse_json_leniently::<PlaceOrderBody>(body)?;
    match body.parse(&mut errors) {
        Some(source) if errors.is_empty() => Ok(source),
        _ => Err(AppError::Validation(errors)),
    }
}

/// The Idempotency-Key header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<&str>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS
                && key.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .ok_or_else(|| {
            AppError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        })?;
    Ok(Some(key))
}

/// Places an order from the cart (no body, or `{}`) or from `items`.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
            description = "1 to 255 visible ASCII characters; retries with the same key replay the first answer for 24 h")),
    request_body(content = Option<PlaceOrderBody>, description = "Absent or `{}`: order the cart"),
    responses(
        ReadProblems,
        BodyProblems,
        SessionProblems,
        (status = 201, description = "The order (on a replay, the first answer, with `Idempotent-Replayed: true`)", body = Envelope<OrderView>,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the first answer replayed"))),
        (status = 409, description = "Not enough stock: `lines` lists every short line; nothing changed", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Empty cart, unknown product, wrong SKU, a total too large, or the key reused with another body", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn place_order(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let source = order_source(&headers, &body)?;
    let key = idempotency_key(&headers)?;
    let idempotency = key.map(|key| Idempotency {
        key,
        request_digest: source.digest(),
    });
    let user_id = auth.id();
    let mut conn = state.conn().await?;
    let mut retired = order_change(user_id, &[]);
    if source == OrderSource::Cart {
        retired.push(Namespace::Cart(user_id));
    }
    let write = state.cache.begin_write(retired).await?;
    let mut product_writes = Vec::new();
    let placement = conn
        .transaction::<_, AppError, _>(async |conn| {
            checkout::place(
                conn,
                &state.cache,
                &mut product_writes,
                user_id,
                &source,
                idempotency.as_ref(),
            )
            .await
        })
        .await;
    for product_write in product_writes {
        product_write.finish().await;
    }
    write.finish().await;
    let placement = placement.inspect_err(|error| {
        if let AppError::Conflict { extensions, .. } = error
            && extensions.contains_key("lines")
        {
            metrics::counter!("orders_refused_total", "reason" => "stock").increment(1);
        }
    })?;
    Ok(match placement {
        Placement::Placed(body) => {
            metrics::counter!("orders_placed_total").increment(1);
            json_response(StatusCode::CREATED, body)
        }
        Placement::Replayed(body) => {
            let mut response = json_response(StatusCode::CREATED, body);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    })
}

async fn with_lines(conn: &mut AsyncPgConnection, orders: Vec<Order>) -> AppResult<Vec<OrderView>> {
    let ids: Vec<i32> = orders.iter().map(|order| order.id).collect();
    let mut lines = queries::lines_of(conn, &ids).await?;
    Ok(orders
        .into_iter()
        .map(|order| {
            let order_lines = lines.remove(&order.id).unwrap_or_default();
            OrderView::new(order, order_lines)
        })
        .collect())
}

/// The signed-in user's orders, newest first (an admin's: everybody's).
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        ReadProblems,
        QueryProblems,
        SessionProblems,
        (status = 200, description = "A page of orders", body = ListEnvelope<OrderView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let page = query.parse(&mut errors);
    errors.into_result(())?;
    let user_id = auth.id();
    let (key, owner) = if auth.is_admin() {
        (
            CacheKey::new(
                format!("orders:{user_id}:all:{}:{}", page.page, page.limit),
                Kind::Orders,
                vec![Namespace::AllOrders, Namespace::ProductDeletions],
            )
            .on_page(page.page, state.config.cache_limits.max_page),
            None,
        )
    } else {
        (
            CacheKey::new(
                format!("orders:{user_id}:page:{}:{}", page.page, page.limit),
                Kind::Orders,
                vec![Namespace::Orders(user_id), Namespace::ProductDeletions],
            )
            .on_page(page.page, state.config.cache_limits.max_page),
            Some(user_id),
        )
    };
    state
        .cached(
            &key,
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let (orders, total) = queries::list_orders(conn, owner, page).await?;
                let data = with_lines(conn, orders).await?;
                Document::envelope_of(&ListPage {
                    data,
                    page: page.page,
                    limit: page.limit,
                    total,
                    total_capped: false,
                })
            },
        )
        .await
}

/// One order: the user's own (another user's is a 404), or any for an admin.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Order id")),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 200, description = "The order", body = SourcedEnvelope<OrderView>,
         headers(("X-Data-Source" = String, description = "`redis` or `postgres`"))),
        (status = 404, description = "No such order of this user", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<Response> {
    let user_id = auth.id();
    let admin = auth.is_admin();
    let depends_on = if admin {
        vec![Namespace::AllOrders, Namespace::ProductDeletions]
    } else {
        vec![Namespace::Orders(user_id), Namespace::ProductDeletions]
    };
    let key = CacheKey::new(format!("orders:{user_id}:{id}"), Kind::Orders, depends_on);
    state
        .cached(
            &key,
            Framing::Envelope,
            async |conn: &mut AsyncPgConnection| {
                let order = queries::find_order(conn, id)
                    .await?
                    .filter(|order| admin || order.user_id == user_id)
                    .ok_or_else(|| AppError::not_found(format!("you have no order {id}")))?;
                let view = with_lines(conn, vec![order]).await?.remove(0);
                Document::envelope_of(&Envelope { data: view })
            },
        )
        .await
}

/// Moves an order to `next`, putting its stock back when it is cancelled.
/// `may_see` decides whether the caller may touch this order at all (404
/// otherwise, so that other users' ids tell nothing).
async fn transition(
    state: &AppState,
    id: i32,
    next: Status,
    may_see: impl Fn(&Order) -> bool,
    allowed: impl Fn(Status) -> bool + Sync,
) -> AppResult<Envelope<OrderView>> {
    let mut conn = state.conn().await?;
    let order = queries::find_order(&mut conn, id)
        .await?
        .filter(|order| may_see(order))
        .ok_or_else(|| AppError::not_found(format!("you have no order {id}")))?;
    let product_ids = queries::product_ids_of_order(&mut conn, id).await?;
    let view = state
        .cache
        .write(order_change(order.user_id, &product_ids), async {
            conn.transaction::<_, AppError, _>(async |conn| {
                let order = queries::lock_order(conn, id)
                    .await?
                    .ok_or_else(|| AppError::not_found(format!("you have no order {id}")))?;
                let current = Status::from_stored(&order.status)
                    .ok_or_else(|| anyhow::anyhow!("order {id} has an unknown status"))?;
                if !allowed(current) || !current.can_become(next) {
                    return Err(AppError::conflict(format!(
                        "an order that is {} cannot become {}",
                        current.as_str(),
                        next.as_str()
                    )));
                }
                if next == Status::Cancelled {
                    let lines = queries::lines_of(conn, &[id])
                        .await?
                        .remove(&id)
                        .unwrap_or_default();
                    let mut product_ids: Vec<i32> =
                        lines.iter().filter_map(|line| line.product_id).collect();
                    let mut sku_ids: Vec<i32> =
                        lines.iter().filter_map(|line| line.sku_id).collect();
                    product_ids.sort_unstable();
                    sku_ids.sort_unstable();
                    queries::lock_for_restock(conn, &product_ids, &sku_ids).await?;
                    for line in &lines {
                        queries::return_stock(conn, line).await?;
                    }
                }
                let order = queries::set_status(conn, id, next.as_str()).await?;
                Ok(with_lines(conn, vec![order]).await?.remove(0))
            })
            .await
        })
        .await?;
    Ok(Envelope { data: view })
}

/// Cancels the user's own order while it is `placed`; the stock goes back.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Order id")),
    responses(
        ReadProblems,
        SessionProblems,
        (status = 200, description = "The cancelled order", body = Envelope<OrderView>),
        (status = 404, description = "No such order of this user", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The order is no longer `placed`", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    auth: AuthUser,
    ResourceId(id): ResourceId,
) -> AppResult<Envelope<OrderView>> {
    let user_id = auth.id();
    transition(
        &state,
        id,
        Status::Cancelled,
        |order| order.user_id == user_id,
        |current| current == Status::Placed,
    )
    .await
}

/// Moves any order along `placed -> paid -> shipped -> delivered`, or
/// cancels it from `placed` or `paid` (the stock goes back). Admins only.
#[utoipa::path(
    patch, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = i32, Path, minimum = 1, maximum = 2147483647, description = "Order id")),
    request_body = StatusBody,
    responses(
        ReadProblems,
        BodyProblems,
        AdminProblems,
        (status = 200, description = "The order as it is now", body = Envelope<OrderView>),
        (status = 404, description = "No such order", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Not a legal transition", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update_status(
    State(state): State<AppState>,
    _admin: AdminUser,
    ResourceId(id): ResourceId,
    Valid(status): Valid<StatusBody>,
) -> AppResult<Envelope<OrderView>> {
    transition(&state, id, status, |_| true, |_| true).await
}
