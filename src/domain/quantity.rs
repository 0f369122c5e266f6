//! Quantities and ids as request bodies send them (JSON integers, read as
//! `i64` so that an out-of-range one is a 422 naming the field, not a 400).

/// A quantity: 1 to 2147483647.
pub fn parse_quantity(value: i64) -> Result<i32, String> {
    i32::try_from(value)
        .ok()
        .filter(|quantity| *quantity > 0)
        .ok_or_else(|| format!("must be an integer from 1 to {}", i32::MAX))
}

/// An id: a positive integer that fits PostgreSQL's `integer`.
pub fn parse_body_id(value: i64) -> Result<i32, String> {
    i32::try_from(value)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| "must be a positive integer".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_one_to_i32_max() {
        assert_eq!(parse_quantity(1), Ok(1));
        assert_eq!(parse_quantity(2_147_483_647), Ok(i32::MAX));
        assert!(parse_quantity(0).is_err() && parse_quantity(-1).is_err());
        assert!(parse_quantity(2_147_483_648).is_err());
        assert!(parse_body_id(0).is_err() && parse_body_id(i64::MAX).is_err());
    }
}
