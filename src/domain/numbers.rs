//! Whole numbers in request bodies: ids, quantities and stock.
//!
//! A JSON integer is read from its text ([`JsonInteger`]), so that `2`,
//! `2.0` and `2e0` are the same integer (as JSON Schema has it) and a
//! fraction or a number past `i64` is a field error naming what was sent,
//! never a silent rounding.

use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A whole JSON number, read exactly; not yet checked against a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JsonInteger(pub i64);

impl<'de> Deserialize<'de> for JsonInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Err(de::Error::custom(format!(
                "expected an integer, found {text}"
            )));
        }
        if let Ok(whole) = text.parse::<i64>() {
            return Ok(Self(whole));
        }
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (text, None),
        };
        let value = crate::domain::money::exact_decimal(mantissa, exponent)
            .ok_or_else(|| de::Error::custom(format!("{text} is out of range")))?;
        if !value.fract().is_zero() {
            return Err(de::Error::custom(format!(
                "expected an integer, found {text}"
            )));
        }
        value
            .to_i64()
            .map(Self)
            .ok_or_else(|| de::Error::custom(format!("{text} is out of range")))
    }
}

/// Declares a whole number from `$minimum` to `i32::MAX`, parsed from a
/// [`JsonInteger`], and its schema.
macro_rules! bounded_integer {
    ($(#[$doc:meta])* $name:ident, $minimum:literal, $description:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i32);

        impl $name {
            pub fn parse(value: JsonInteger) -> Result<Self, String> {
                i32::try_from(value.0)
                    .ok()
                    .filter(|value| *value >= $minimum)
                    .map(Self)
                    .ok_or_else(|| format!("must be an integer from {} to {}", $minimum, i32::MAX))
            }

            pub fn get(self) -> i32 {
                self.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                integer_schema($description, $minimum, $example)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

bounded_integer!(
    /// The id of a row, named in a body: a positive integer that fits
    /// PostgreSQL's `integer`.
    RowId, 1, "The id of a row", 42
);

impl RowId {
    /// The id, when `value` is one (else none): for looking up what a body
    /// names while its other fields are refused.
    pub fn read(value: JsonInteger) -> Option<i32> {
        Self::parse(value).ok().map(Self::get)
    }
}
bounded_integer!(
    /// How many of a thing: 1 to 2147483647.
    Quantity, 1, "How many: 1 to 2147483647", 2
);
bounded_integer!(
    /// Units in stock: 0 to 2147483647.
    Stock, 0, "Units that can be sold: 0 to 2147483647", 14
);

/// An integer schema from `minimum` to `i32::MAX`.
fn integer_schema(description: &str, minimum: i32, example: i32) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(description))
        .minimum(Some(minimum))
        .maximum(Some(i32::MAX))
        .examples([serde_json::Value::from(example)])
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integer(json: &str) -> Result<i64, String> {
        serde_json::from_str::<JsonInteger>(json)
            .map(|value| value.0)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn whole_numbers_are_integers_however_written() {
        assert_eq!(integer("2"), Ok(2));
        assert_eq!(integer("2.0"), Ok(2));
        assert_eq!(integer("2e3"), Ok(2000));
        assert_eq!(integer("-7"), Ok(-7));
        assert_eq!(integer("1.0000000000000000000000000000000"), Ok(1));
        assert_eq!(integer("1.00000000000000000000000000000000e2"), Ok(100));
        for bad in [
            "2.5",
            "\"2\"",
            "true",
            "null",
            "1e40",
            "99999999999999999999",
            // Past what a decimal holds: refused, never rounded to 2 or 0.
            "1.9999999999999999999999999999999",
            "1e-40",
            "0.00000000000000000000000000000001",
        ] {
            assert!(integer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_are_checked_per_kind() {
        let at = |value| JsonInteger(value);
        assert_eq!(Quantity::parse(at(1)).map(Quantity::get), Ok(1));
        assert_eq!(
            Quantity::parse(at(2_147_483_647)).map(Quantity::get),
            Ok(i32::MAX)
        );
        assert!(Quantity::parse(at(0)).is_err() && Quantity::parse(at(-1)).is_err());
        assert!(Quantity::parse(at(2_147_483_648)).is_err());
        assert!(RowId::parse(at(0)).is_err() && RowId::parse(at(i64::MAX)).is_err());
        assert_eq!(Stock::parse(at(0)).map(Stock::get), Ok(0));
        assert!(Stock::parse(at(-1)).is_err());
    }
}
