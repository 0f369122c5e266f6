//! What the order routes send and accept over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{
    HistoryEntry, ORDER_LIST_ORDER, OrderFilter, OrderRequest, OrderSource, ShippingAddress,
    Status, order_number, parse_country,
};
use super::models::{Order, OrderLine};
use crate::domain::{Cursor, Money, Name, Pagination, time};
use crate::error::FieldErrors;
use crate::extract::{NamesRows, ParseBody};
use crate::inventory::{Item, LineBody, LineView};
use crate::state::AppState;

/// A line of an order, at the price paid.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    /// Null once the product is deleted.
    pub product_id: Option<i32>,
    #[serde(flatten)]
    pub line: LineView,
}

/// `{"data": {"id": ...}}`: what [`OrderView::location_in`] reads.
#[derive(Deserialize)]
struct PlacedBody {
    data: PlacedOrder,
}

#[derive(Deserialize)]
struct PlacedOrder {
    id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i32,
    /// Human-readable and unique (`EM-000042`).
    #[schema(example = "EM-000042")]
    pub number: String,
    pub user_id: i32,
    pub status: Status,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// As given at checkout, or null.
    pub shipping_address: Option<ShippingAddress>,
    /// Every status the order reached, oldest first (starting with `placed`).
    pub history: Vec<HistoryEntry>,
    pub items: Vec<OrderLineView>,
    /// Who placed it: in an admin's answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerView>,
}

impl OrderView {
    /// Where the order an answer's `body` holds (`{"data": order}`, placed
    /// now or replayed) is read; `None` for a body that holds no order.
    pub fn location_in(body: &str) -> Option<String> {
        let placed = serde_json::from_str::<PlacedBody>(body).ok()?;
        Some(format!("/api/orders/{}", placed.data.id))
    }
}

/// The customer of an order, as an admin sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i32,
    pub email: String,
    pub name: String,
}

impl OrderView {
    pub fn new(order: Order, lines: Vec<OrderLine>) -> Self {
        Self {
            id: order.id,
            number: order_number(order.id),
            // Written by this code from these types: readable unless edited by hand.
            shipping_address: order
                .shipping_address
                .and_then(|address| serde_json::from_value(address).ok()),
            history: serde_json::from_value(order.history).unwrap_or_default(),
            customer: None,
            user_id: order.user_id,
            status: order.status,
            total: Money::from_stored(order.total),
            created_at: order.created_at,
            updated_at: order.updated_at,
            items: lines
                .into_iter()
                .map(|line| OrderLineView {
                    product_id: line.product_id,
                    line: LineView::new(line.line),
                })
                .collect(),
        }
    }
}

/// The most lines one order may have.
pub const MAX_ORDER_LINES: usize = crate::inventory::MAX_LINES;

/// `POST /api/orders`: no body (or `{}`) orders the cart; `items` orders them instead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    /// 1 to 100 lines; the same item named twice counts once, summed.
    /// (`null` is no list: leave `items` out to order the cart.)
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Vec<LineBody>, required = false, min_items = 1, max_items = 100)]
    pub items: Option<Option<Vec<LineBody>>>,
    /// The total the shopper saw. When the order's total at checkout
    /// differs, nothing changes and the answer is a 409 with the `lines`
    /// and `total` as they are now.
    #[schema(value_type = Option<crate::domain::MoneyInput>)]
    pub expected_total: Option<crate::domain::JsonDecimal>,
    /// Where the order goes, kept with it.
    pub shipping_address: Option<ShippingAddressBody>,
}

/// A shipping address as sent: every field checked and named on its own.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddressBody {
    #[schema(value_type = Name, required)]
    pub name: Option<String>,
    #[schema(value_type = Name, required)]
    pub line1: Option<String>,
    #[schema(value_type = Option<Name>)]
    pub line2: Option<String>,
    #[schema(value_type = Name, required)]
    pub city: Option<String>,
    #[schema(value_type = Name, required)]
    pub postal_code: Option<String>,
    /// An ISO 3166-1 alpha-2 code.
    #[schema(example = "GB", required)]
    pub country: Option<String>,
}

impl ShippingAddressBody {
    fn parse(self, errors: &mut FieldErrors) -> Option<ShippingAddress> {
        let mut text = |field: &str, raw: Option<String>| {
            let name = format!("shipping_address.{field}");
            errors
                .parse_required(&name, raw, |raw| Name::parse(&raw))
                .map(|checked| checked.as_str().to_owned())
        };
        let name = text("name", self.name);
        let line1 = text("line1", self.line1);
        let city = text("city", self.city);
        let postal_code = text("postal_code", self.postal_code);
        let line2 = match self.line2 {
            None => Some(None),
            Some(raw) => errors
                .check("shipping_address.line2", Name::parse(&raw))
                .map(|checked| Some(checked.as_str().to_owned())),
        };
        let country = errors.parse_required("shipping_address.country", self.country, |raw| {
            parse_country(&raw)
        });
        Some(ShippingAddress {
            name: name?,
            line1: line1?,
            line2: line2?,
            city: city?,
            postal_code: postal_code?,
            country: country?,
        })
    }
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
        let shipping_address = match self.shipping_address {
            None => Some(None),
            Some(address) => address.parse(errors).map(Some),
        };
        let source = Self::source(self.items, errors);
        Some(OrderRequest {
            source: source?,
            expected_total: expected_total?,
            shipping_address: shipping_address?,
        })
    }
}

impl PlaceOrderBody {
    fn source(
        items: Option<Option<Vec<LineBody>>>,
        errors: &mut FieldErrors,
    ) -> Option<OrderSource> {
        let items = match items {
            None => return Some(OrderSource::Cart),
            Some(None) => {
                errors.add(
                    "items",
                    "must be a list of lines; leave it out to order the cart",
                );
                return None;
            }
            Some(Some(items)) => items,
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

impl axum::extract::FromRequest<AppState> for OrderRequestBody {
    type Rejection = crate::error::AppError;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = crate::extract::read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(OrderRequest {
                source: OrderSource::Cart,
                expected_total: None,
                shipping_address: None,
            }));
        }
        crate::extract::require_json_content_type(&headers)?;
        let (body, errors) = crate::extract::parse_json_leniently::<PlaceOrderBody>(&bytes)?;
        crate::extract::Lenient::new(body, errors)
            .parse_naming_rows(state)
            .await
            .map(Self)
    }
}

impl NamesRows<AppState> for PlaceOrderBody {
    type Rows = Vec<(usize, Item)>;

    /// (None for more lines than an order takes: those are not read one
    /// by one either.)
    fn rows(&self) -> Self::Rows {
        let lines = self.items.as_ref().and_then(Option::as_deref);
        let lines = lines.unwrap_or_default();
        if lines.len() > MAX_ORDER_LINES {
            return Vec::new();
        }
        let items = lines.iter().enumerate();
        items
            .filter_map(|(at, line)| Some((at, line.item()?)))
            .collect()
    }

    async fn name_unknown(state: &AppState, rows: Self::Rows, errors: &mut FieldErrors) {
        let line = |at: usize| format!("items[{at}]");
        crate::inventory::name_unbuyable(state, rows, line, errors).await;
    }
}

/// The query of `GET /api/orders`: a page and, for admins, filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    /// Rows per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// Only orders in this status (another word is a 422 naming `status`).
    #[param(value_type = Option<Status>)]
    pub status: Option<String>,
    /// Only this customer's orders (admins only: 403 for a customer).
    #[param(minimum = 1, maximum = 2147483647)]
    pub user_id: Option<i64>,
    /// Only orders created at or after this time (RFC 3339, a year from 1 to 9999).
    pub from: Option<DateTime<Utc>>,
    /// Only orders created before this time (RFC 3339, a year from 1 to 9999).
    pub to: Option<DateTime<Utc>>,
    /// An opaque cursor from a `next` URL: the page starts after it (with no `page`).
    pub after: Option<String>,
}

impl OrderListQuery {
    /// The page and the filter, every bad value named.
    pub fn parse(self, errors: &mut FieldErrors) -> (Pagination, OrderFilter) {
        let mut page = Pagination::parse(self.page, self.limit, errors);
        let user_id = self.user_id.and_then(|id| match i32::try_from(id) {
            Ok(id) if id > 0 => Some(id),
            _ => {
                errors.add("user_id", format!("must be from 1 to {}", i32::MAX));
                None
            }
        });
        // `to` at or before `from` is an empty range, not an error.
        let after = self.after.as_deref().and_then(|raw| {
            if page.page != 1 {
                errors.add("page", "a page that starts `after` a row takes no `page`");
            }
            errors.check("after", Cursor::decode(raw, ORDER_LIST_ORDER))
        });
        if let Some(cursor) = &after {
            page.page = cursor.page;
        }
        let status = self
            .status
            .and_then(|word| errors.check("status", Status::parse(&word)));
        let [from, to] = [("from", self.from), ("to", self.to)].map(|(field, sent)| {
            sent.filter(|at| {
                let storable = time::in_range(at);
                if !storable {
                    errors.add(field, time::out_of_range());
                }
                storable
            })
        });
        let filter = OrderFilter {
            status,
            user_id,
            from,
            to,
            after: after.map(|cursor| cursor.id),
        };
        (page, filter)
    }
}
