//! Value types shared by every domain, built only through `parse` so that a
//! value that exists is a valid one: money, names and free text, email
//! addresses, ids and quantities, pages. Each also describes itself to the
//! OpenAPI document, with a rule that accepts exactly what `parse` accepts.

pub mod cursor;
pub mod email;
pub mod money;
pub mod numbers;
pub mod pagination;
pub mod password;
pub mod role;
pub mod text;
pub mod text_enum;
pub mod time;

pub use cursor::Cursor;
pub use email::Email;
pub use money::{JsonDecimal, Money, MoneyInput};
pub use numbers::{JsonInteger, Quantity, RowId, Stock};
pub use pagination::Pagination;
pub use password::Password;
pub use role::Role;
pub use text::{Name, parse_free_text};
