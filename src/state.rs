//! The state every handler can reach, cloned cheaply per request.

use std::sync::Arc;

use crate::auth::tokens::TokenKeys;
use crate::cache::Cache;
use crate::config::Config;
use crate::db::{DbConn, DbPool};
use crate::error::AppError;
use crate::redis::Redis;

/// Configuration and pools. Every field is an `Arc` or a pool handle.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DbPool,
    pub redis: Redis,
    pub tokens: Arc<TokenKeys>,
    pub cache: Arc<Cache>,
}

impl AppState {
    /// Builds the pools from `config`; no connection is opened yet.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let redis = Redis::new(&config)?;
        Ok(Self {
            db: crate::db::build_pool(&config),
            cache: Arc::new(Cache::new(&config, redis.clone())),
            redis,
            tokens: Arc::new(TokenKeys::new(&config.jwt_secret)),
            config: Arc::new(config),
        })
    }

    /// Borrows a PostgreSQL connection, or answers 503 when none can be had.
    pub async fn conn(&self) -> Result<DbConn<'_>, AppError> {
        Ok(self.db.get().await?)
    }
}
