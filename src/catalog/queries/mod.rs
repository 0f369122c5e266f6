//! Every catalog query, each taking `&mut AsyncPgConnection` so it runs the
//! same on a pooled connection or inside a transaction.

/// The columns of a `Product`, of a `products` row named `p`: never `p.*`,
/// so that the stored search document stays in the database.
macro_rules! product_columns {
    () => {
        "p.id, p.product_name, p.slogan, p.description, p.price, p.stock, p.category_id, \
         p.created_at, p.updated_at"
    };
}

mod groups;
mod listing;
mod products;
mod search;
mod variants;

pub use groups::*;
pub use listing::*;
pub use products::*;
pub use search::*;
pub use variants::*;

/// At most this many products are embedded in a category or a tag.
pub const EMBEDDED_PRODUCTS: i64 = 100;
pub use crate::domain::pagination::{TOTAL_CAP, Total};
