//! The integration tests: one binary, a module per domain, every test on its
//! own database and Redis prefix (see `helpers`).

mod accounts;
mod auth;
mod cache;
mod cart;
mod categories;
mod catwalk;
mod harness;
mod helpers;
mod http;
mod import;
mod operations;
mod orders;
mod products;
mod races;
mod redis_cluster;
mod reliability;
mod replicas;
mod schema;
mod search;
mod soak;
mod tags;
mod unpaid;
