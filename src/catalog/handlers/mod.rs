//! The catalog's handlers: products, and categories and tags (one generic piece).

pub mod groups;
pub mod products;
