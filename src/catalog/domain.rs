//! Catalog rules: what a valid product, name or list query is. Inputs come in
//! as wire types ([`super::dto`]) and leave as checked values or a 422 that
//! lists every field that is wrong.

use super::dto::{CreateProductBody, ProductListQuery, UpdateProductBody};
use super::models::{NewProduct, ProductChanges};
use crate::domain::{JsonDecimal, Money, Pagination, parse_name};
use crate::error::{AppError, FieldErrors};

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
    pub category: Option<String>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    /// `true`: only products in stock; `false`: only those sold out.
    pub in_stock: Option<bool>,
    /// Part of the product name, case-insensitive.
    pub search: Option<String>,
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
        let category = match query.category.as_deref().map(str::trim) {
            None => None,
            Some(name) => errors.check("category", parse_name(name)),
        };
        let search = match query.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => errors.check("q", parse_name(text)),
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

/// Checks every field of a new product, reporting all that are wrong.
pub fn validate_new_product(body: CreateProductBody) -> Result<ValidNewProduct, AppError> {
    let mut errors = FieldErrors::new();
    let product_name = errors.check("product_name", parse_name(&body.product_name));
    let price = errors.check("price", Money::parse(body.price.0));
    let stock = errors.check("stock", parse_stock(body.stock.unwrap_or(0)));
    let slogan = errors.check("slogan", parse_text(body.slogan, MAX_SLOGAN_CHARS));
    let description = errors.check(
        "description",
        parse_text(body.description, MAX_DESCRIPTION_CHARS),
    );
    let category_id = match body.category_id {
        None => Some(None),
        Some(id) => errors.check("category_id", parse_reference(id)).map(Some),
    };
    let tag_ids = errors.check("tagIds", parse_tag_ids(body.tag_ids.unwrap_or_default()));
    errors.into_result(())?;
    // Every `check` above succeeded, or `into_result` returned early.
    let (Some(product_name), Some(price), Some(stock), Some(slogan), Some(description)) =
        (product_name, price, stock, slogan, description)
    else {
        unreachable!("validated above")
    };
    Ok(ValidNewProduct {
        product: NewProduct {
            product_name,
            slogan,
            description,
            price: price.amount(),
            stock,
            category_id: category_id.flatten(),
        },
        tag_ids: tag_ids.unwrap_or_default(),
    })
}

/// A checked partial update, and the new tag set when one was sent.
#[derive(Debug)]
pub struct ValidProductChanges {
    pub changes: ProductChanges,
    pub tag_ids: Option<Vec<i32>>,
}

/// Checks the fields a partial update sends; absent fields stay as they are.
pub fn validate_product_changes(body: UpdateProductBody) -> Result<ValidProductChanges, AppError> {
    let mut errors = FieldErrors::new();
    let mut changes = ProductChanges::default();
    if let Some(name) = body.product_name {
        changes.product_name = errors.check("product_name", parse_name(&name));
    }
    if let Some(price) = body.price {
        changes.price = errors.check("price", Money::parse(price.0).map(Money::amount));
    }
    if let Some(stock) = body.stock {
        changes.stock = errors.check("stock", parse_stock(stock));
    }
    if let Some(slogan) = body.slogan {
        changes.slogan = errors.check("slogan", parse_text(slogan, MAX_SLOGAN_CHARS));
    }
    if let Some(description) = body.description {
        changes.description = errors.check(
            "description",
            parse_text(description, MAX_DESCRIPTION_CHARS),
        );
    }
    if let Some(category_id) = body.category_id {
        changes.category_id = match category_id {
            None => Some(None),
            Some(id) => errors.check("category_id", parse_reference(id)).map(Some),
        };
    }
    let tag_ids = match body.tag_ids {
        None => None,
        Some(ids) => errors.check("tagIds", parse_tag_ids(ids)),
    };
    errors.into_result(ValidProductChanges { changes, tag_ids })
}

fn parse_stock(stock: i64) -> Result<i32, String> {
    i32::try_from(stock)
        .ok()
        .filter(|stock| *stock >= 0)
        .ok_or_else(|| format!("must be an integer from 0 to {}", i32::MAX))
}

/// An id in a body that must name an existing row.
fn parse_reference(id: i64) -> Result<i32, String> {
    i32::try_from(id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("must be a positive integer up to {}", i32::MAX))
}

fn parse_tag_ids(ids: Vec<i64>) -> Result<Vec<i32>, String> {
    if ids.len() > MAX_TAGS_PER_PRODUCT {
        return Err(format!("must name at most {MAX_TAGS_PER_PRODUCT} tags"));
    }
    let mut parsed = ids
        .into_iter()
        .map(parse_reference)
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// Optional free text: trimmed, blank means none, bounded, no control
/// characters but line breaks and tabs.
fn parse_text(text: Option<String>, max_chars: usize) -> Result<Option<String>, String> {
    let Some(text) = text else { return Ok(None) };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters".into());
    }
    Ok(Some(text.to_owned()))
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
        assert_eq!(parse_tag_ids(vec![3, 1, 3]).unwrap(), vec![1, 3]);
        assert!(parse_tag_ids(vec![0]).is_err());
        assert!(parse_tag_ids((1..=101).collect()).is_err());
    }
}
