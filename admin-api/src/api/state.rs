//! What every handler shares: the database and the settings from `[api]`.

use super::{ApiError, mail::Mailer};
use chrono::TimeDelta;
use smtpy_shared::{Db, config::ApiConfig, db::Conn};
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
    /// Where mail to owners goes ([`Mailer::disabled`] unless [`ApiState::with_mailer`]).
    pub mailer: Mailer,
    /// `[api] public_url` without a trailing slash: the start of links in mail.
    pub public_url: String,
}

impl ApiState {
    /// The state for `config` (already validated at load).
    pub fn new(db: Db, config: &ApiConfig) -> Self {
        Self {
            db,
            cookie_secure: config.cookie_secure,
            registration_open: config.registration == "open",
            session_ttl: TimeDelta::hours(i64::from(config.session_hours)),
            mailer: Mailer::disabled(),
            public_url: config.public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The same state, sending mail to owners through `mailer`.
    pub fn with_mailer(mut self, mailer: Mailer) -> Self {
        self.mailer = mailer;
        self
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
