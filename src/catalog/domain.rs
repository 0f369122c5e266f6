//! Catalog rules: what a valid product or list query is. Inputs come in as
//! wire types ([`super::dto`]) and leave as checked values or a 422 that
//! lists every field that is wrong.

use super::models::{NewProduct, ProductChanges};
use crate::domain::text::parse_free_text;
use crate::domain::{Cursor, JsonInteger, Money, Name, Pagination, RowId};

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
    /// How well a product matches the search `q` (best first by default).
    Relevance,
}

impl SortBy {
    pub const CHOICES: [&'static str; 4] = ["createdAt", "price", "name", "relevance"];

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "createdat" => Ok(Self::CreatedAt),
            "price" => Ok(Self::Price),
            "name" => Ok(Self::Name),
            "relevance" => Ok(Self::Relevance),
            _ => Err(format!("must be one of {}", Self::CHOICES.join(", "))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "createdAt",
            Self::Price => "price",
            Self::Name => "name",
            Self::Relevance => "relevance",
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

    pub fn parse(raw: &str) -> Result<Self, String> {
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
    /// Category names, compared case-insensitively: a product in any of
    /// them (none: every product). Sorted and without repeats.
    pub categories: Vec<Name>,
    /// Tag names, likewise: a product with any of them.
    pub tags: Vec<Name>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    /// `true`: only products in stock; `false`: only those sold out.
    pub in_stock: Option<bool>,
    /// Part of the product name, case-insensitive.
    pub search: Option<Name>,
    pub sort_by: SortBy,
    pub order: SortOrder,
    pub page: Pagination,
    /// Where the page starts: right after this row (no OFFSET).
    pub after: Option<Cursor>,
}

impl ProductFilter {
    /// The list's order, as its cursors name it (`price:ASC`).
    pub fn order_key(&self) -> String {
        format!("{}:{}", self.sort_by.as_str(), self.order.as_str())
    }

    /// How many rows the page's query skips: none after a cursor.
    pub fn skips(&self) -> i64 {
        self.page.skips(self.after.is_some())
    }
}

/// A product ready to insert, and its tags.
#[derive(Debug)]
pub struct ValidNewProduct {
    pub product: NewProduct,
    pub tag_ids: Vec<i32>,
}

/// A checked partial update, and the new tag set when one was sent.
#[derive(Debug)]
pub struct ValidProductChanges {
    pub changes: ProductChanges,
    pub tag_ids: Option<Vec<i32>>,
}

pub fn parse_tag_ids(ids: Vec<JsonInteger>) -> Result<Vec<i32>, String> {
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
pub fn parse_text(text: Option<String>, max_chars: usize) -> Result<Option<String>, String> {
    match text {
        None => Ok(None),
        Some(text) => parse_free_text(&text, max_chars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ids_are_deduplicated_and_bounded() {
        let ids = |values: Vec<i64>| values.into_iter().map(JsonInteger).collect::<Vec<_>>();
        assert_eq!(parse_tag_ids(ids(vec![3, 1, 3])).unwrap(), vec![1, 3]);
        assert!(parse_tag_ids(ids(vec![0])).is_err());
        assert!(parse_tag_ids(ids((1..=101).collect())).is_err());
    }
}
