//! Money: a non-negative amount with at most two decimal places, stored as
//! `NUMERIC(10,2)`, sent as a string with exactly two places (`"14.99"`).
//!
//! Requests may send money as a JSON number or a string. A number is read from
//! its JSON text, never through `f64`, so `14.999999999999999999` is seen for
//! what it is (too many places) instead of being rounded to `15`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

/// The largest amount `NUMERIC(10,2)` holds.
pub const MAX_MONEY: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 9999999999 / 100

/// A valid amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Checks range and places; the stored value always has scale 2.
    pub fn parse(amount: Decimal) -> Result<Self, String> {
        let normalized = amount.normalize();
        if normalized.is_sign_negative() && !normalized.is_zero() {
            return Err("must not be negative".into());
        }
        if normalized.scale() > 2 {
            return Err("must have at most two decimal places".into());
        }
        if normalized > MAX_MONEY {
            return Err(format!("must be at most {MAX_MONEY}"));
        }
        let mut stored = normalized.abs();
        stored.rescale(2);
        Ok(Self(stored))
    }

    /// Wraps an amount read from the database (already `NUMERIC(10,2)`).
    pub fn from_stored(amount: Decimal) -> Self {
        let mut stored = amount;
        stored.rescale(2);
        Self(stored)
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// `self × quantity`, or `None` when it would not fit `NUMERIC(10,2)`.
    pub fn times(self, quantity: i64) -> Option<Self> {
        let product = self.0.checked_mul(Decimal::from(quantity))?;
        (product <= MAX_MONEY && !product.is_sign_negative()).then(|| Self::from_stored(product))
    }

    /// `self + other`, or `None` when it would not fit `NUMERIC(10,2)`.
    pub fn plus(self, other: Self) -> Option<Self> {
        let sum = self.0.checked_add(other.0)?;
        (sum <= MAX_MONEY).then(|| Self::from_stored(sum))
    }

    /// The shortest form, for cache keys: `20.00` -> `20`, `19.50` -> `19.5`.
    pub fn shortest(self) -> String {
        self.0.normalize().to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:.2}", self.0)
    }
}

impl Money {
    /// The decimal strings [`Money::parse`] accepts (after [`JsonDecimal`]
    /// read them): digits with at most two significant places, no sign but
    /// on a zero, at most 99999999.99.
    pub const INPUT_PATTERN: &'static str = r"^(?:-0+(?:\.0+)?|0*[0-9]{1,8}(?:\.[0-9]{1,2}0*)?)$";
}

/// Money in a response: a string with exactly two places.
impl utoipa::PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An amount of money: a decimal string with two places"))
            .pattern(Some(r"^[0-9]{1,8}\.[0-9]{2}$"))
            .examples([serde_json::Value::from("14.99")])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// Money in a request: a decimal string, or a JSON number, from 0 to
/// 99999999.99 with at most two places (schema only; [`JsonDecimal`] reads it).
pub struct MoneyInput;

impl utoipa::PartialSchema for MoneyInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .description(Some(
                "An amount of money from 0 to 99999999.99 with at most two places: a decimal string (`\"14.99\"`) or a JSON number",
            ))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(Money::INPUT_PATTERN)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(99_999_999.99))
                    .multiple_of(Some(0.01)),
            )
            .examples([serde_json::Value::from("14.99")])
            .into()
    }
}

impl utoipa::ToSchema for MoneyInput {}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A decimal read exactly from a JSON number or string, not yet checked as money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonDecimal(pub Decimal);

impl JsonDecimal {
    /// Parses the text of a decimal: an optional minus, digits, an optional
    /// fraction, and (for JSON numbers) an optional exponent.
    pub fn parse_text(text: &str, allow_exponent: bool) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not a decimal number");
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) if allow_exponent => (&text[..at], Some(&text[at + 1..])),
            Some(_) => return Err(invalid()),
            None => (text, None),
        };
        let digits = mantissa.strip_prefix('-').unwrap_or(mantissa);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && fraction.is_empty());
        if !well_formed {
            return Err(invalid());
        }
        exact_decimal(mantissa, exponent)
            .map(JsonDecimal)
            .ok_or_else(|| {
                if whole_digits_of(whole, fraction, exponent) > 28 {
                    format!("{text:?} is out of range")
                } else {
                    format!("{text:?} has more digits than a decimal keeps exactly")
                }
            })
    }
}

/// How many digits the whole part of `whole.fraction` × 10^`exponent` has
/// (0 or less for a value under 1): past a decimal's 28, a number is too
/// large, not too precise. An exponent too long to read counts by its sign.
fn whole_digits_of(whole: &str, fraction: &str, exponent: Option<&str>) -> i64 {
    let count = |digits: &str| i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let significant = whole.trim_start_matches('0');
    let place = if significant.is_empty() {
        let zeros = fraction.len() - fraction.trim_start_matches('0').len();
        if zeros == fraction.len() {
            return 0; // zero
        }
        -count(&fraction[..zeros])
    } else {
        count(significant)
    };
    let shift = match exponent {
        None => 0,
        Some(text) => text.parse::<i64>().unwrap_or(if text.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        }),
    };
    place.saturating_add(shift)
}

/// The decimal `mantissa` × 10^`exponent`, or `None` where a decimal would
/// have to round it (past 28 places or 96 bits): rust_decimal's own
/// parsers round such text (`1.99…9` with 31 nines reads as 2).
pub fn exact_decimal(mantissa: &str, exponent: Option<&str>) -> Option<Decimal> {
    // Zeros that end a fraction say nothing (`1.000…0` is 1, however many).
    let mantissa = match mantissa.split_once('.') {
        Some((whole, fraction)) => match fraction.trim_end_matches('0') {
            "" => whole.to_owned(),
            kept => format!("{whole}.{kept}"),
        },
        None => mantissa.to_owned(),
    };
    let mut value = Decimal::from_str_exact(&mantissa).ok()?;
    let exponent: i64 = exponent.map_or(Ok(0), str::parse).ok()?;
    if value.is_zero() {
        return Some(Decimal::ZERO);
    }
    if exponent < 0 {
        let value = value.normalize();
        let scale = i64::from(value.scale()).checked_sub(exponent)?;
        return Decimal::try_from_i128_with_scale(value.mantissa(), u32::try_from(scale).ok()?)
            .ok();
    }
    for _ in 0..exponent.min(40) {
        value = value.checked_mul(Decimal::TEN)?;
    }
    (exponent <= 40).then_some(value)
}

impl FromStr for JsonDecimal {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_text(text, false)
    }
}

impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        if text.starts_with('"') {
            let inner: String = serde_json::from_str(text).map_err(de::Error::custom)?;
            Self::parse_text(&inner, false).map_err(de::Error::custom)
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Self::parse_text(text, true).map_err(de::Error::custom)
        } else {
            Err(de::Error::custom(format!(
                "expected a decimal number or string, found {text}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(json: &str) -> Result<Money, String> {
        let decimal: JsonDecimal = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Money::parse(decimal.0)
    }

    #[test]
    fn a_number_too_large_for_a_decimal_is_out_of_range_not_too_precise() {
        for huge in [
            "1e30",
            "0.00000001e40",
            "1e99999999999999999999",
            "100000000000000000000000000000",
            "\"-100000000000000000000000000000\"",
        ] {
            let refused = serde_json::from_str::<JsonDecimal>(huge)
                .unwrap_err()
                .to_string();
            assert!(refused.contains("is out of range"), "{huge}: {refused}");
        }
        let precise = serde_json::from_str::<JsonDecimal>("1.00000000000000000000000000001")
            .unwrap_err()
            .to_string();
        assert!(
            precise.contains("more digits than a decimal keeps"),
            "{precise}"
        );
    }

    #[test]
    fn accepts_numbers_and_strings() {
        assert_eq!(money("14.99").unwrap().to_string(), "14.99");
        assert_eq!(money("\"14.99\"").unwrap().to_string(), "14.99");
        assert_eq!(money("90").unwrap().to_string(), "90.00");
        assert_eq!(money("0").unwrap().to_string(), "0.00");
        assert_eq!(money("1.5e1").unwrap().to_string(), "15.00");
        assert_eq!(money("99999999.99").unwrap().to_string(), "99999999.99");
        assert_eq!(money("14.990").unwrap().to_string(), "14.99");
        // Zeros past 28 places say nothing: read, not refused.
        assert_eq!(
            money("14.990000000000000000000000000000")
                .unwrap()
                .to_string(),
            "14.99"
        );
        assert_eq!(
            money("0.00000000000000000000000000000000")
                .unwrap()
                .to_string(),
            "0.00"
        );
    }

    #[test]
    fn refuses_what_numeric_10_2_cannot_hold_exactly() {
        for json in [
            "14.999999999999999999",
            // Past what a decimal holds: refused, never rounded to 15.00 or 0.00.
            "14.999999999999999999999999999999",
            "\"14.999999999999999999999999999999\"",
            "0.00000000000000000000000000001",
            "1e-40",
            "1.5e-30",
            "1.001",
            "-1",
            "100000000",
            "1e400",
            "\"NaN\"",
            "\"1_000\"",
            "\"\"",
            "\"12.\"",
            "\" 1.00 \"",
            "\"1e3\"",
            "true",
            "null",
            "[1]",
        ] {
            assert!(money(json).is_err(), "{json} should be refused");
        }
    }

    #[test]
    fn the_input_pattern_accepts_exactly_the_strings_parse_accepts() {
        let pattern = regex_lite::Regex::new(Money::INPUT_PATTERN).unwrap();
        for text in [
            "0",
            "-0",
            "-0.00",
            "14.99",
            "14.990",
            "014.99",
            "1.5",
            "99999999.99",
            "99999999.990",
            "100000000",
            "99999999.999",
            "1.001",
            "-1",
            "12.",
            ".5",
            " 1.00 ",
            "1e3",
            "NaN",
            "",
            "0000000012345678.9",
        ] {
            assert_eq!(
                pattern.is_match(text),
                money(&format!("{text:?}")).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_shortest_form_drops_trailing_zeros() {
        assert_eq!(money("20.00").unwrap().shortest(), "20");
        assert_eq!(money("19.50").unwrap().shortest(), "19.5");
        assert_eq!(money("0").unwrap().shortest(), "0");
    }
}
