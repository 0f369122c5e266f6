//! Emporium: an e-commerce back end.
//!
//! The binary (`src/main.rs`) is a thin CLI over this library; tests drive the
//! same router in-process.

pub mod arrival;
pub mod auth;
pub mod background;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod catwalk;
pub mod cli;
pub mod config;
pub mod db;
pub mod deep_pages;
pub mod domain;
pub mod error;
pub mod extract;
pub mod hashing;
pub mod health;
pub mod idempotency;
pub mod inventory;
pub mod janitor;
pub mod jwt;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod progress;
pub mod rate_limit;
pub mod redis;
pub mod replicas;
pub mod request_id;
pub mod response;
pub mod router;
pub mod schema;
pub mod seed;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod views;
