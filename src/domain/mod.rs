//! Value types shared by every domain, built only through `parse` so that a
//! value that exists is a valid one: money, names, email addresses, pages.

pub mod email;
pub mod money;
pub mod names;
pub mod pagination;
pub mod quantity;

pub use email::parse_email;
pub use money::{JsonDecimal, Money};
pub use names::parse_name;
pub use pagination::{PageQuery, Pagination};
pub use quantity::{parse_body_id, parse_quantity};
