//! Every catalog query, each taking `&mut AsyncPgConnection` so it runs the
//! same on a pooled connection or inside a transaction.

mod groups;
mod products;
mod variants;

pub use groups::*;
pub use products::*;
pub use variants::*;

/// At most this many products are embedded in a category or a tag.
pub const EMBEDDED_PRODUCTS: i64 = 100;
/// Product lists stop counting matches here (`total_capped`).
pub const TOTAL_CAP: i64 = 10_000;
