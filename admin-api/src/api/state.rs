//! What every handler shares: the database, the settings from `[api]`, the key that seals
//! TOTP secrets, and the clock.

use super::{
    ApiError,
    clock::{Clock, SystemClock},
    limits::RateLimiter,
    mail::Mailer,
};
use chrono::{DateTime, TimeDelta, Utc};
use ipnet::IpNet;
use smtpy_shared::{
    Db,
    config::{ApiConfig, parse_network},
    db::Conn,
    sealed::SealKey,
};
use std::{future::Future, sync::Arc};

/// Who may register over the API (`[api] registration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Anyone.
    Open,
    /// Whoever holds an unused, unexpired invitation code.
    Invite,
    /// Nobody: a sysadmin creates accounts with `smtpy-admin user add`.
    Closed,
}

impl Registration {
    /// The mode named in the configuration (validated at load; anything else is `Closed`, the
    /// mode that admits nobody).
    pub fn from_config(name: &str) -> Self {
        match name {
            "open" => Self::Open,
            "invite" => Self::Invite,
            _ => Self::Closed,
        }
    }
}

/// Shared state of the `/api/v1` scope.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub db: Db,
    /// Mark the session cookie `Secure`.
    pub cookie_secure: bool,
    /// Who may register.
    pub registration: Registration,
    /// How long a session lasts.
    pub session_ttl: TimeDelta,
    /// Where mail to owners goes ([`Mailer::disabled`] unless [`ApiState::with_mailer`]).
    pub mailer: Mailer,
    /// `[api] public_url` without a trailing slash: the start of links in mail.
    pub public_url: String,
    /// Seals and opens TOTP secrets (`[secrets] key_file`).
    pub seal: Arc<SealKey>,
    /// The time for TOTP codes, invitation expiry and deletion dates; tests set it.
    pub clock: Arc<dyn Clock>,
    /// Origins allowed to call the API from a browser with credentials (CORS).
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The rate limits (`state.limits.check(&state.db, Limit::..., &[...])`).
    pub limits: RateLimiter,
}

impl ApiState {
    /// The state for `config` (already validated at load), sealing secrets with `seal`, on the
    /// system clock.
    pub fn new(db: Db, config: &ApiConfig, seal: SealKey) -> Self {
        Self {
            db,
            cookie_secure: config.cookie_secure,
            registration: Registration::from_config(&config.registration),
            session_ttl: TimeDelta::hours(i64::from(config.session_hours)),
            mailer: Mailer::disabled(),
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            seal: Arc::new(seal),
            clock: Arc::new(SystemClock),
            cors_origins: config.cors_origins.clone(),
            trusted_proxies: config.trusted_proxies.iter().filter_map(|p| parse_network(p)).collect(),
            limits: RateLimiter::new(config, Arc::new(SystemClock)),
        }
    }

    /// The same state, sending mail to owners through `mailer`.
    pub fn with_mailer(mut self, mailer: Mailer) -> Self {
        self.mailer = mailer;
        self
    }

    /// The same state on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by [`ApiState::clock`].
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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
