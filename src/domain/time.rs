//! Points in time a client sends: chrono reads years from -262144 to
//! 262143, and PostgreSQL refuses one before 4713 BC or after 294276 AD
//! (a 500 if it got there). The service takes the years RFC 3339 spells
//! with four digits, year 0 (1 BC) left out with the other years BC: well
//! inside what PostgreSQL stores, and what a store's records can mean.

use chrono::{DateTime, Datelike, Utc};

/// The years a time a client sends may fall in (the service's rule, inside
/// what PostgreSQL stores).
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether `time` falls in [`YEARS`].
pub fn in_range(time: &DateTime<Utc>) -> bool {
    YEARS.contains(&time.year())
}

/// What a time outside [`YEARS`] is told.
pub fn out_of_range() -> String {
    format!(
        "must be a time from the year {} to the year {}",
        YEARS.start(),
        YEARS.end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_years_1_to_9999_are_in_range() {
        let time = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert!(in_range(&time("0001-01-01T00:00:00Z")));
        assert!(in_range(&time("9999-12-31T23:59:59Z")));
        assert!(!in_range(&time("-5000-01-01T00:00:00Z")));
        assert!(!in_range(&time("0000-12-31T23:59:59Z")));
        assert!(!in_range(&time("+10000-01-01T00:00:00Z")));
    }
}
