//! `page` and `limit` of every list: 1-based pages, 20 rows by default, 100 at most.
//! Values that do not parse were already refused (400) by the query extractor;
//! values out of range are a 422 here, never silently clamped.

use crate::error::FieldErrors;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Lists stop counting matches here and say so (`total_capped`), so that
/// no request counts a million rows.
pub const TOTAL_CAP: i64 = 10_000;

/// How many rows a list matches, counted up to one past [`TOTAL_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Total {
    pub total: i64,
    pub capped: bool,
}

impl Total {
    /// From a count of `matched` rows that stopped one past the cap.
    pub fn of_matched(matched: i64) -> Self {
        Self {
            total: matched.min(TOTAL_CAP),
            capped: matched > TOTAL_CAP,
        }
    }
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pagination {
    pub page: i64,
    pub limit: i64,
}

impl Pagination {
    /// Checks `page` and `limit`, recording what is wrong in `errors`.
    pub fn parse(page: Option<i64>, limit: Option<i64>, errors: &mut FieldErrors) -> Self {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=i64::from(i32::MAX)).contains(&page) {
            errors.add("page", format!("must be from 1 to {}", i32::MAX));
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.add("limit", format!("must be from 1 to {MAX_LIMIT}"));
        }
        Self { page, limit }
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        (self.page - 1) * self.limit
    }

    /// The rows a page's query skips: [`Pagination::offset`], or none when
    /// it starts after a cursor instead.
    pub fn skips(self, after_a_cursor: bool) -> i64 {
        if after_a_cursor { 0 } else { self.offset() }
    }
}
