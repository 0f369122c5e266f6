//! The query of `GET /api/products`, and how it becomes a checked filter: a
//! value that does not parse is a 400, one out of range a 422.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::catalog::domain::{ProductFilter, SortBy, SortOrder};
use crate::domain::text::{lower_as_postgres, string_schema_of};
use crate::domain::{Cursor, JsonDecimal, Money, Name, Pagination};
use crate::error::{AppError, FieldErrors};

/// The query of `GET /api/products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// A category name (case-insensitive); several, comma-separated or
    /// repeated, mean any of them. An unknown name is a 422.
    #[param(value_type = Option<Name>, inline)]
    pub category: Option<String>,
    /// A tag name (case-insensitive); several, comma-separated or repeated,
    /// mean any of them. An unknown name is a 422.
    #[param(value_type = Option<Name>, inline)]
    pub tag: Option<String>,
    /// Lowest price, inclusive.
    #[param(value_type = Option<MoneyText>, inline)]
    #[serde(default, deserialize_with = "decimal_text")]
    pub min_price: Option<JsonDecimal>,
    /// Highest price, inclusive.
    #[param(value_type = Option<MoneyText>, inline)]
    #[serde(default, deserialize_with = "decimal_text")]
    pub max_price: Option<JsonDecimal>,
    /// `true`: only products in stock; `false`: only sold-out ones (in any case).
    #[serde(default, deserialize_with = "crate::extract::any_case_bool")]
    pub in_stock: Option<bool>,
    /// Words to search for in the name, slogan, description and category:
    /// matched exactly, by stem, or (in the name) with a typo or two.
    /// Blank means none.
    #[param(value_type = Option<SearchText>, inline)]
    pub q: Option<String>,
    /// `createdAt` (default), `price`, `name` or `relevance` (the default
    /// with `q`, which it needs; it ranks the newest 1,000 matches, every
    /// other order pages through all of them), in any case.
    #[param(value_type = Option<SortByText>, inline)]
    pub sort_by: Option<String>,
    /// `ASC` or `DESC` (default), in any case.
    #[param(value_type = Option<OrderText>, inline)]
    pub order: Option<String>,
    #[param(minimum = 1, maximum = 2147483647, default = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// An opaque cursor from a `next` URL: the page starts after it (with
    /// no `page`).
    pub after: Option<String>,
}

/// A price in a query: a decimal string (schema only).
pub struct MoneyText;
string_schema_of!(
    MoneyText,
    "An amount from 0 to 99999999.99 with at most two places",
    Some(Money::INPUT_PATTERN.to_owned()),
    "20"
);

/// A name search: blank, or what a name may be (schema only).
pub struct SearchText;
string_schema_of!(
    SearchText,
    "Part of a name: at most 255 characters once trimmed, no control characters; blank means no search",
    Some(crate::domain::text::search_pattern()),
    "shirt"
);

/// `createdAt`, `price` or `name`, in any case (schema only).
pub struct SortByText;
string_schema_of!(
    SortByText,
    "`createdAt`, `price` or `name` (case does not matter)",
    Some(any_case_choice(&SortBy::CHOICES)),
    "price"
);

/// `ASC` or `DESC`, in any case (schema only).
pub struct OrderText;
string_schema_of!(
    OrderText,
    "`ASC` or `DESC` (case does not matter)",
    Some(any_case_choice(&SortOrder::CHOICES)),
    "ASC"
);

/// `^(?:[aA][sS][cC]|...)$`: one of `choices`, in any case.
fn any_case_choice(choices: &[&str]) -> String {
    let alternatives: Vec<String> = choices
        .iter()
        .map(|choice| {
            choice
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

impl ProductListQuery {
    /// A value that does not parse is a 400; one out of range is a 422.
    pub fn parse(&self) -> Result<ProductFilter, AppError> {
        let query = self;
        let mut errors = FieldErrors::new();
        let min_price = parse_price_filter("minPrice", query.min_price, &mut errors);
        let max_price = parse_price_filter("maxPrice", query.max_price, &mut errors);
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.add("maxPrice", "must not be below minPrice");
        }
        let categories = names("category", query.category.as_deref(), &mut errors);
        let tags = names("tag", query.tag.as_deref(), &mut errors);
        let search = match query.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => errors.check("q", Name::parse(text)),
        };
        let sort_by = match query.sort_by.as_deref() {
            None if search.is_some() => Some(SortBy::Relevance),
            None => Some(SortBy::CreatedAt),
            Some(raw) => errors.check("sortBy", SortBy::parse(raw)),
        };
        if sort_by == Some(SortBy::Relevance) && search.is_none() && query.q.is_none() {
            errors.add("sortBy", "relevance needs a search `q`");
        }
        let order = match query.order.as_deref() {
            None => Some(SortOrder::Desc),
            Some(raw) => errors.check("order", SortOrder::parse(raw)),
        };
        let page = Pagination::parse(query.page, query.limit, &mut errors);
        let mut filter = ProductFilter {
            categories,
            tags,
            min_price,
            max_price,
            in_stock: query.in_stock,
            search,
            sort_by: sort_by.unwrap_or(SortBy::CreatedAt),
            order: order.unwrap_or(SortOrder::Desc),
            page,
            after: None,
        };
        if let Some(raw) = query.after.as_deref() {
            if page.page != 1 {
                errors.add("page", "a page that starts `after` a row takes no `page`");
            }
            filter.after = errors.check(
                "after",
                Cursor::decode(raw, &filter.order_key())
                    .and_then(|cursor| sort_value_fits(filter.sort_by, cursor)),
            );
            if let Some(cursor) = &filter.after {
                filter.page.page = cursor.page;
            }
        }
        errors.into_result(())?;
        Ok(filter)
    }
}

/// A cursor's sort value must be one of its order's (a timestamp, a price,
/// a name, a score), spelled as PostgreSQL reads it: a cursor that was made
/// up is a 422, never a query that fails in PostgreSQL. A timestamp goes in
/// UTC (PostgreSQL refuses offsets past 15:59 that RFC 3339 allows) and
/// within years 1 to 9999; a score as Rust read it (`1e-400` is 0, where
/// PostgreSQL refuses the underflow); a name without a NUL.
fn sort_value_fits(sort_by: SortBy, mut cursor: Cursor) -> Result<Cursor, String> {
    let value = cursor.value.as_deref().unwrap_or("");
    let spelled = match sort_by {
        SortBy::CreatedAt => chrono::DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|time| time.with_timezone(&chrono::Utc))
            .filter(crate::domain::time::in_range)
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        SortBy::Price => value
            .parse::<rust_decimal::Decimal>()
            .ok()
            .map(|price| price.to_string()),
        SortBy::Name => cursor.value.clone(),
        SortBy::Relevance => value
            .parse::<f64>()
            .ok()
            .filter(|score| score.is_finite())
            .map(|score| {
                if score.abs() < f64::MIN_POSITIVE {
                    "0".to_owned()
                } else {
                    format!("{score:e}")
                }
            }),
    };
    // (No PostgreSQL text holds a NUL.)
    match spelled.filter(|spelled| !spelled.contains('\0')) {
        Some(spelled) => {
            cursor.value = Some(spelled);
            Ok(cursor)
        }
        None => Err("is not a cursor of this list: copy it from a `next` URL".to_owned()),
    }
}

impl ProductListQuery {
    /// The categories and the tags it names, as far as they read.
    pub fn group_names(&self) -> (Vec<Name>, Vec<Name>) {
        let mut ignored = FieldErrors::new();
        (
            names("category", self.category.as_deref(), &mut ignored),
            names("tag", self.tag.as_deref(), &mut ignored),
        )
    }
}

/// The most categories (or tags) one list names, every value and
/// comma-separated part counted.
pub const MAX_NAMES_PER_FILTER: usize = 20;

/// The values of a repeatable name parameter, each checked; sorted
/// case-insensitively, without repeats, so that equal queries are one query.
fn names(field: &str, raw: Option<&str>, errors: &mut FieldErrors) -> Vec<Name> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    // Each name is looked up on its own: a list is kept short.
    let named = raw.split([crate::extract::REPEAT_SEPARATOR, ',']).count();
    if named > MAX_NAMES_PER_FILTER {
        errors.add(
            field,
            format!("names {named}; a list names at most {MAX_NAMES_PER_FILTER} (a comma counts)"),
        );
        return Vec::new();
    }
    // Each value as sent (a repeated parameter's values arrive apart); its
    // commas are read when it is resolved, since a name may hold one.
    let mut names: Vec<Name> = raw
        .split(crate::extract::REPEAT_SEPARATOR)
        .filter_map(|value| errors.check(field, Name::parse(value)))
        .collect();
    names.sort_by_key(|name| lower_as_postgres(name.as_str()));
    names.dedup_by_key(|name| lower_as_postgres(name.as_str()));
    names
}

/// A price in a query as read: text that is not a decimal fails the query's
/// reading (a 400 naming it with every other parameter that does not
/// parse); its range is checked after ([`parse_price_filter`], a 422).
fn decimal_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<JsonDecimal>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// A price filter out of range (negative, too many places, too large) is
/// recorded in `errors` (a 422).
fn parse_price_filter(
    field: &str,
    decimal: Option<JsonDecimal>,
    errors: &mut FieldErrors,
) -> Option<Money> {
    errors.check(field, Money::parse(decimal?.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &str) -> Result<ProductFilter, AppError> {
        let query: ProductListQuery = crate::extract::parse_query(pairs)?;
        query.parse()
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
        // Named with every other parameter that does not parse.
        let Err(AppError::BadQuery(errors)) = query("page=x&minPrice=abc&maxPrice=1.0.0&foo=1")
        else {
            panic!("a 400")
        };
        for parameter in ["page", "minPrice", "maxPrice", "foo"] {
            assert!(errors.has(parameter), "{parameter}: {errors:?}");
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
}
