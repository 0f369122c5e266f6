//! Catalog rules: what a valid product or list query is. Inputs come in as
//! wire types ([`super::dto`]) and leave as checked values or a 422 that
//! lists every field that is wrong.

use super::dto::{CreateProductBody, ProductListQuery, UpdateProductBody};
use super::models::{NewProduct, ProductChanges};
use crate::domain::text::parse_free_text;
use crate::domain::{JsonDecimal, JsonInteger, Money, Name, Pagination, RowId, Stock};
use crate::error::{AppError, FieldErrors};
use crate::extract::ParseBody;

/// A product may carry at most this many tags.
pub const MAX_TAGS_PER_PRODUCT: usize = 100;
pub const MAX_SLOGAN_CHARS: usize = 1_000;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// How a product list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortBy {
    CreatedAt,
    Price,
    Name,
}

impl SortBy {
    pub const CHOICES: [&'static str; 3] = ["createdAt", "price", "name"];

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "createdat" => Ok(Self::CreatedAt),
            "price" => Ok(Self::Price),
            "name" => Ok(Self::Name),
            _ => Err(format!("must be one of {}", Self::CHOICES.join(", "))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "createdAt",
            Self::Price => "price",
            Self::Name => "name",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub const CHOICES: [&'static str; 2] = ["ASC", "DESC"];

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_uppercase().as_str() {
            "ASC" => Ok(Self::Asc),
            "DESC" => Ok(Self::Desc),
            _ => Err("must be ASC or DESC".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        }
    }
}

/// A checked, normalized product list query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    /// A category name, compared case-insensitively.
    pub category: Option<Name>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    /// `true`: only products in stock; `false`: only those sold out.
    pub in_stock: Option<bool>,
    /// Part of the product name, case-insensitive.
    pub search: Option<Name>,
    pub sort_by: SortBy,
    pub order: SortOrder,
    pub page: Pagination,
}

impl ProductFilter {
    /// A value that does not parse is a 400; one out of range is a 422.
    pub fn parse(query: &ProductListQuery) -> Result<Self, AppError> {
        let mut unreadable = FieldErrors::new();
        let mut errors = FieldErrors::new();
        let min_price = parse_price_filter(
            "minPrice",
            query.min_price.as_deref(),
            &mut unreadable,
            &mut errors,
        );
        let max_price = parse_price_filter(
            "maxPrice",
            query.max_price.as_deref(),
            &mut unreadable,
            &mut errors,
        );
        if !unreadable.is_empty() {
            return Err(AppError::BadQuery(unreadable));
        }
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.add("maxPrice", "must not be below minPrice");
        }
        let category = match query.category.as_deref() {
            None => None,
            Some(name) => errors.check("category", Name::parse(name)),
        };
        let search = match query.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => errors.check("q", Name::parse(text)),
        };
        let sort_by = match query.sort_by.as_deref() {
            None => Some(SortBy::CreatedAt),
            Some(raw) => errors.check("sortBy", SortBy::parse(raw)),
        };
        let order = match query.order.as_deref() {
            None => Some(SortOrder::Desc),
            Some(raw) => errors.check("order", SortOrder::parse(raw)),
        };
        let page = Pagination::parse(query.page, query.limit, &mut errors);
        errors.into_result(())?;
        Ok(Self {
            category,
            min_price,
            max_price,
            in_stock: query.in_stock,
            search,
            sort_by: sort_by.unwrap_or(SortBy::CreatedAt),
            order: order.unwrap_or(SortOrder::Desc),
            page,
        })
    }
}

/// A price filter: a value that is not a decimal is recorded in
/// `unreadable` (a 400), one out of range in `errors` (a 422).
fn parse_price_filter(
    field: &str,
    raw: Option<&str>,
    unreadable: &mut FieldErrors,
    errors: &mut FieldErrors,
) -> Option<Money> {
    let decimal: JsonDecimal = unreadable.check(field, raw?.parse())?;
    errors.check(field, Money::parse(decimal.0))
}

/// A product ready to insert, and its tags.
#[derive(Debug)]
pub struct ValidNewProduct {
    pub product: NewProduct,
    pub tag_ids: Vec<i32>,
}

impl ParseBody for CreateProductBody {
    type Parsed = ValidNewProduct;

    /// Checks every field of a new product, reporting all that are wrong.
    fn parse(self, errors: &mut FieldErrors) -> Option<ValidNewProduct> {
        let product_name = errors
            .required("product_name", self.product_name)
            .and_then(|name| errors.check("product_name", Name::parse(&name)));
        let price = errors
            .required("price", self.price)
            .and_then(|price| errors.check("price", Money::parse(price.0)));
        let stock = errors.check("stock", Stock::parse(self.stock.unwrap_or(JsonInteger(0))));
        let slogan = errors.check("slogan", parse_text(self.slogan, MAX_SLOGAN_CHARS));
        let description = errors.check(
            "description",
            parse_text(self.description, MAX_DESCRIPTION_CHARS),
        );
        let category_id = match self.category_id {
            None => Some(None),
            Some(id) => errors.check("category_id", RowId::parse(id)).map(Some),
        };
        let tag_ids = errors.check("tagIds", parse_tag_ids(self.tag_ids.unwrap_or_default()));
        Some(ValidNewProduct {
            product: NewProduct {
                product_name: product_name?.into_inner(),
                slogan: slogan?,
                description: description?,
                price: price?.amount(),
                stock: stock?.get(),
                category_id: category_id?.map(RowId::get),
            },
            tag_ids: tag_ids?,
        })
    }
}

/// A checked partial update, and the new tag set when one was sent.
#[derive(Debug)]
pub struct ValidProductChanges {
    pub changes: ProductChanges,
    pub tag_ids: Option<Vec<i32>>,
}

impl ParseBody for UpdateProductBody {
    type Parsed = ValidProductChanges;

    /// Checks the fields a partial update sends; absent fields stay as they are.
    fn parse(self, errors: &mut FieldErrors) -> Option<ValidProductChanges> {
        let mut changes = ProductChanges::default();
        if let Some(name) = self.product_name {
            changes.product_name = errors
                .check("product_name", Name::parse(&name))
                .map(Name::into_inner);
        }
        if let Some(price) = self.price {
            changes.price = errors.check("price", Money::parse(price.0).map(Money::amount));
        }
        if let Some(stock) = self.stock {
            changes.stock = errors.check("stock", Stock::parse(stock)).map(Stock::get);
        }
        if let Some(slogan) = self.slogan {
            changes.slogan = errors.check("slogan", parse_text(slogan, MAX_SLOGAN_CHARS));
        }
        if let Some(description) = self.description {
            changes.description = errors.check(
                "description",
                parse_text(description, MAX_DESCRIPTION_CHARS),
            );
        }
        if let Some(category_id) = self.category_id {
            changes.category_id = match category_id {
                None => Some(None),
                Some(id) => errors
                    .check("category_id", RowId::parse(id))
                    .map(|id| Some(id.get())),
            };
        }
        let tag_ids = match self.tag_ids {
            None => None,
            Some(ids) => errors.check("tagIds", parse_tag_ids(ids)),
        };
        errors
            .is_empty()
            .then_some(ValidProductChanges { changes, tag_ids })
    }
}

fn parse_tag_ids(ids: Vec<JsonInteger>) -> Result<Vec<i32>, String> {
    if ids.len() > MAX_TAGS_PER_PRODUCT {
        return Err(format!("must name at most {MAX_TAGS_PER_PRODUCT} tags"));
    }
    let mut parsed = ids
        .into_iter()
        .map(|id| RowId::parse(id).map(RowId::get))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// Optional free text (absent and blank are none).
fn parse_text(text: Option<String>, max_chars: usize) -> Result<Option<String>, String> {
    match text {
        None => Ok(None),
        Some(text) => parse_free_text(&text, max_chars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &str) -> Result<ProductFilter, AppError> {
        let query: ProductListQuery = serde_urlencoded::from_str(pairs).unwrap();
        ProductFilter::parse(&query)
    }

    #[test]
    fn defaults_are_written_out() {
        let filter = query("").unwrap();
        assert_eq!(filter.sort_by, SortBy::CreatedAt);
        assert_eq!(filter.order, SortOrder::Desc);
        assert_eq!((filter.page.page, filter.page.limit), (1, 20));
    }

    #[test]
    fn equal_queries_normalize_equally() {
        assert_eq!(
            query("minPrice=20&order=desc&sortBy=price").unwrap(),
            query("minPrice=20.00&order=DESC&sortBy=PRICE").unwrap()
        );
    }

    #[test]
    fn unparseable_values_are_bad_requests_and_out_of_range_ones_are_422() {
        for unreadable in ["minPrice=abc", "maxPrice=%201.00%20"] {
            assert!(
                matches!(query(unreadable), Err(AppError::BadQuery(_))),
                "{unreadable} should be a 400"
            );
        }
        for bad in [
            "minPrice=-1",
            "minPrice=1.234",
            "page=0",
            "limit=500",
            "limit=0",
            "sortBy=drop",
            "order=sideways",
            "minPrice=50&maxPrice=10",
        ] {
            assert!(
                matches!(query(bad), Err(AppError::Validation(_))),
                "{bad} should be a 422"
            );
        }
    }

    #[test]
    fn tag_ids_are_deduplicated_and_bounded() {
        let ids = |values: Vec<i64>| values.into_iter().map(JsonInteger).collect::<Vec<_>>();
        assert_eq!(parse_tag_ids(ids(vec![3, 1, 3])).unwrap(), vec![1, 3]);
        assert!(parse_tag_ids(ids(vec![0])).is_err());
        assert!(parse_tag_ids(ids((1..=101).collect())).is_err());
    }
}
