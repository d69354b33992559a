//! What every handler shares: the database and the settings from `[api]`.

use super::{
    ApiError,
    limits::{RateLimiter, system_clock},
};
use chrono::TimeDelta;
use ipnet::IpNet;
use smtpy_shared::{
    Db,
    config::{ApiConfig, parse_network},
    db::Conn,
};
use std::future::Future;

/// Shared state of the `/api/v1` scope.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub db: Db,
    /// Mark the session cookie `Secure`.
    pub cookie_secure: bool,
    /// Whether anyone may register.
    pub registration_open: bool,
    /// How long a session lasts.
    pub session_ttl: TimeDelta,
    /// Origins allowed to call the API from a browser with credentials (CORS).
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The rate limits (`state.limits.check(&state.db, Limit::..., &[...])`).
    pub limits: RateLimiter,
}

impl ApiState {
    /// The state for `config` (already validated at load).
    pub fn new(db: Db, config: &ApiConfig) -> Self {
        Self {
            db,
            cookie_secure: config.cookie_secure,
            registration_open: config.registration == "open",
            session_ttl: TimeDelta::hours(i64::from(config.session_hours)),
            cors_origins: config.cors_origins.clone(),
            trusted_proxies: config.trusted_proxies.iter().filter_map(|p| parse_network(p)).collect(),
            limits: RateLimiter::new(config, system_clock()),
        }
    }

    /// A pooled connection, within the configured bound.
    pub async fn conn(&self) -> Result<Conn, ApiError> {
        Ok(self.db.bounded(self.db.conn()).await?)
    }

    /// Runs one query within the configured bound.
    pub async fn bounded<T>(&self, query: impl Future<Output = diesel::QueryResult<T>>) -> Result<T, ApiError> {
        Ok(self.db.bounded(async { Ok(query.await?) }).await?)
    }
}
