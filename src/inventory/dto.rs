//! A requested line as carts and orders send it: `{product_id, sku_id?, quantity}`.

use serde::Deserialize;
use utoipa::ToSchema;

use super::Item;
use crate::domain::{JsonInteger, Quantity, RowId};
use crate::error::FieldErrors;
use crate::extract::ParseBody;

/// One requested line: what the cart's `POST /api/cart/items` and each of
/// an order's `items` send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    #[schema(value_type = RowId, required)]
    pub product_id: Option<JsonInteger>,
    /// Required for a product sold by SKU (a Catwalk product), absent otherwise.
    #[schema(value_type = Option<RowId>)]
    pub sku_id: Option<JsonInteger>,
    #[schema(value_type = Quantity, required)]
    pub quantity: Option<JsonInteger>,
}

impl LineBody {
    /// The line, with what is wrong recorded under `field` (`""` for a body
    /// that is one line, `items[2]` for one of several).
    pub fn parse_at(self, field: &str, errors: &mut FieldErrors) -> Option<(Item, Quantity)> {
        let name = |member: &str| {
            if field.is_empty() {
                member.to_owned()
            } else {
                format!("{field}.{member}")
            }
        };
        let product_id = errors
            .required(&name("product_id"), self.product_id)
            .and_then(|id| errors.check(&name("product_id"), RowId::parse(id)));
        let sku_id = match self.sku_id {
            None => Some(None),
            Some(id) => errors.check(&name("sku_id"), RowId::parse(id)).map(Some),
        };
        let quantity = errors
            .required(&name("quantity"), self.quantity)
            .and_then(|quantity| errors.check(&name("quantity"), Quantity::parse(quantity)));
        Some((
            Item {
                product_id: product_id?.get(),
                sku_id: sku_id?.map(RowId::get),
            },
            quantity?,
        ))
    }
}

impl ParseBody for LineBody {
    type Parsed = (Item, Quantity);

    fn parse(self, errors: &mut FieldErrors) -> Option<Self::Parsed> {
        self.parse_at("", errors)
    }
}
