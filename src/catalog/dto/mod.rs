//! What the catalog sends and accepts over the wire.

mod groups;
mod list_query;
mod products;

pub use groups::*;
pub use list_query::*;
pub use products::*;
