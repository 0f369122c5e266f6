//! What the order routes send and accept over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{OrderRequest, OrderSource, Status};
use super::models::{Order, OrderLine};
use crate::domain::Money;
use crate::error::FieldErrors;
use crate::extract::ParseBody;
use crate::inventory::LineBody;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: Option<i32>,
    pub sku_id: Option<i32>,
    pub product_name: String,
    /// The price at purchase.
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i32,
    pub user_id: i32,
    pub status: Status,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderLineView>,
}

impl OrderView {
    pub fn new(order: Order, lines: Vec<OrderLine>) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            status: order.status,
            total: Money::from_stored(order.total),
            created_at: order.created_at,
            updated_at: order.updated_at,
            items: lines
                .into_iter()
                .map(|line| {
                    let unit_price = Money::from_stored(line.unit_price);
                    OrderLineView {
                        product_id: line.product_id,
                        sku_id: line.sku_id,
                        product_name: line.product_name,
                        // Checked to fit when the order was placed.
                        line_total: unit_price
                            .times(i64::from(line.quantity))
                            .unwrap_or(unit_price),
                        unit_price,
                        quantity: line.quantity,
                    }
                })
                .collect(),
        }
    }
}

/// The most lines one order may have.
pub const MAX_ORDER_LINES: usize = 100;

/// `POST /api/orders`: no body (or `{}`) orders the cart; `items` orders them instead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    /// 1 to 100 lines; the same item named twice counts once, summed.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Option<Vec<LineBody>>,
    /// The total the shopper saw. When the order's total at checkout
    /// differs, nothing changes and the answer is a 409 with the `lines`
    /// and `total` as they are now.
    #[schema(value_type = Option<crate::domain::MoneyInput>)]
    pub expected_total: Option<crate::domain::JsonDecimal>,
}

impl ParseBody for PlaceOrderBody {
    type Parsed = OrderRequest;

    fn parse(self, errors: &mut FieldErrors) -> Option<OrderRequest> {
        let expected_total = match self.expected_total {
            None => Some(None),
            Some(total) => errors
                .check("expected_total", Money::parse(total.0))
                .map(Some),
        };
        let source = Self::source(self.items, errors);
        Some(OrderRequest {
            source: source?,
            expected_total: expected_total?,
        })
    }
}

impl PlaceOrderBody {
    fn source(items: Option<Vec<LineBody>>, errors: &mut FieldErrors) -> Option<OrderSource> {
        let Some(items) = items else {
            return Some(OrderSource::Cart);
        };
        if items.is_empty() {
            errors.add("items", "must name at least one item");
        }
        if items.len() > MAX_ORDER_LINES {
            errors.add(
                "items",
                format!("must name at most {MAX_ORDER_LINES} lines"),
            );
            return None;
        }
        let lines: Vec<_> = items
            .into_iter()
            .enumerate()
            .filter_map(|(index, line)| line.parse_at(&format!("items[{index}]"), errors))
            .map(|(item, quantity)| (item, quantity.get()))
            .collect();
        errors.is_empty().then_some(OrderSource::Items(lines))
    }
}

/// `PATCH /api/orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    #[schema(value_type = Status, required)]
    pub status: Option<Status>,
}

impl ParseBody for StatusBody {
    type Parsed = Status;

    fn parse(self, errors: &mut FieldErrors) -> Option<Status> {
        errors.required("status", self.status)
    }
}

/// The optional body of `POST /api/orders`: nothing (or `{}`) orders the
/// cart, `{items: [...]}` those lines; either with an `expected_total`.
#[derive(Debug)]
pub struct OrderRequestBody(pub OrderRequest);

impl<S: Send + Sync> axum::extract::FromRequest<S> for OrderRequestBody {
    type Rejection = crate::error::AppError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = crate::extract::read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(OrderRequest {
                source: OrderSource::Cart,
                expected_total: None,
            }));
        }
        crate::extract::require_json_content_type(&headers)?;
        let (body, errors) = crate::extract::parse_json_leniently::<PlaceOrderBody>(&bytes)?;
        crate::extract::Lenient::new(body, errors).parse().map(Self)
    }
}
