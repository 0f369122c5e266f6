//! The catalog's handlers, a file per resource.

pub mod categories;
pub mod products;
pub mod tags;
