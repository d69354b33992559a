//! Rate limits on the endpoints that guess or send: counted in Postgres, so every API instance
//! behind a load balancer sees the same counts.
//!
//! Fixed windows aligned to the epoch (a `5/minute` window is one clock minute): one upsert per
//! attempt, and `Retry-After` is simply the time left in the window. The price is that a client
//! can spend its allowance at the end of one window and again at the start of the next (twice
//! the rate over a moment), which is acceptable for limits meant to slow guessing, not meter it.
//! Every attempt counts, refused ones too, so hammering while limited never earns a retry.
//!
//! A handler calls [`RateLimiter::check`] before doing the work:
//! `state.limits.check(&state.db, Limit::Login, &[RateKey::ip(client.ip), RateKey::email(&email)]).await?`

use super::{ApiError, clock::Clock};
use chrono::{DateTime, TimeDelta, Utc};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};
use smtpy_shared::{
    Db,
    address::Address,
    config::{ApiConfig, Rate},
    models::RateLimitCounter,
};
use std::{
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
};
use uuid::Uuid;

/// The limited actions. Each has its own counters and its own `[api] rate_limit_*` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `POST /auth/login`, per client address and per email.
    Login,
    /// `POST /auth/register`, per client address.
    Register,
    /// Password-reset requests, per client address and per email.
    PasswordReset,
    /// Re-sending the verification mail, per account.
    VerificationResend,
    /// Second-factor code attempts, per account.
    TwoFactor,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Self; 5] =
        [Self::Login, Self::Register, Self::PasswordReset, Self::VerificationResend, Self::TwoFactor];

    /// The `bucket` its counters are stored under.
    pub fn bucket(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::PasswordReset => "password_reset",
            Self::VerificationResend => "verification_resend",
            Self::TwoFactor => "two_factor",
        }
    }

    /// Its `[api]` key and the configured value.
    fn configured(self, config: &ApiConfig) -> (&'static str, &str) {
        match self {
            Self::Login => ("rate_limit_login", &config.rate_limit_login),
            Self::Register => ("rate_limit_register", &config.rate_limit_register),
            Self::PasswordReset => ("rate_limit_password_reset", &config.rate_limit_password_reset),
            Self::VerificationResend => ("rate_limit_verification_resend", &config.rate_limit_verification_resend),
            Self::TwoFactor => ("rate_limit_two_factor", &config.rate_limit_two_factor),
        }
    }
}

/// Whom an attempt is counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateKey(String);

impl RateKey {
    /// The client address; an IPv6 client counts as its /64, which one subscriber usually has
    /// whole. No address (a unix socket, a test request) shares one counter.
    pub fn ip(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => Self(format!("ip:{v4}")),
            Some(IpAddr::V6(v6)) => {
                let network = Ipv6Addr::from_bits(v6.to_bits() & (u128::MAX << 64));
                Self(format!("ip:{network}/64"))
            }
            None => Self("ip:unknown".to_owned()),
        }
    }

    /// An email address as typed (normalised like logins are), whether or not it has an account.
    /// Stored as a SHA-256, so the table is not a list of the addresses people tried.
    pub fn email(email: &str) -> Self {
        let normalised =
            Address::parse(email).map_or_else(|_| email.trim().to_lowercase(), |address| address.to_string());
        Self(format!("email:{}", HEXLOWER.encode(&Sha256::digest(normalised.as_bytes()))))
    }

    /// An account, for limits on logged-in actions.
    pub fn user(id: Uuid) -> Self {
        Self(format!("user:{id}"))
    }

    /// The stored key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configured rates and the clock they are counted by.
#[derive(Clone)]
pub struct RateLimiter {
    rates: [(Limit, Option<Rate>); 5],
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// The rates of `[api] rate_limit_*` (validated at load), counted by `clock`.
    pub fn new(config: &ApiConfig, clock: Arc<dyn Clock>) -> Self {
        let rates = Limit::ALL.map(|limit| {
            let (key, value) = limit.configured(config);
            let rate = Rate::parse(value).unwrap_or_else(|e| {
                // Unreachable for a loaded config; a config built in code falls back to the default.
                tracing::error!("api.{key}: {e}; using the default");
                Rate::parse(limit.configured(&ApiConfig::default()).1).ok().flatten()
            });
            (limit, rate)
        });
        Self { rates, clock }
    }

    /// The rate of `limit`; `None` when it is off.
    pub fn rate(&self, limit: Limit) -> Option<Rate> {
        self.rates.iter().find(|(l, _)| *l == limit).and_then(|(_, rate)| *rate)
    }

    /// The limiter's "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Counts one attempt at `limit` against each of `keys` and refuses it with
    /// [`ApiError::RateLimited`] (429, `Retry-After`) when any key is over the limit.
    ///
    /// It takes a connection of its own from `db` rather than the caller's, so a count is never
    /// rolled back with the caller's transaction (a failed attempt must still count).
    pub async fn check(&self, db: &Db, limit: Limit, keys: &[RateKey]) -> Result<(), ApiError> {
        let Some(rate) = self.rate(limit) else { return Ok(()) };
        let now = self.now();
        let (window_start, window_end) = window(rate, now)?;
        let mut distinct: Vec<&str> = keys.iter().map(RateKey::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return Ok(());
        }
        let counts = db
            .bounded(async {
                let mut conn = db.conn().await?;
                Ok(RateLimitCounter::hit(&mut conn, limit.bucket(), &distinct, window_start, window_end).await?)
            })
            .await?;
        let over: Vec<&str> = counts
            .iter()
            .filter(|(_, count)| u32::try_from(*count).unwrap_or(u32::MAX) > rate.max)
            .map(|(key, _)| key.split(':').next().unwrap_or_default())
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        // Rounded up: a client that waits exactly this long lands in the next window.
        let left_ms = u64::try_from((window_end - now).num_milliseconds()).unwrap_or(0).max(1);
        let retry_after_secs = left_ms.div_ceil(1000);
        tracing::info!(limit = limit.bucket(), over = ?over, retry_after_secs, "rate limited");
        Err(ApiError::RateLimited { retry_after_secs })
    }

    /// Deletes the counters of windows that have ended; returns how many.
    pub async fn delete_expired(&self, db: &Db) -> Result<usize, ApiError> {
        let now = self.now();
        Ok(db
            .bounded(async {
                let mut conn = db.conn().await?;
                Ok(RateLimitCounter::delete_expired(&mut conn, now).await?)
            })
            .await?)
    }
}

/// The fixed window of `rate` that contains `now`: (start, end).
fn window(rate: Rate, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let length = i64::from(rate.window_secs);
    let start = DateTime::from_timestamp(now.timestamp().div_euclid(length) * length, 0)
        .ok_or_else(|| ApiError::Internal(format!("no rate-limit window for {now}")))?;
    Ok((start, start + TimeDelta::seconds(length)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::clock::SystemClock;

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let minute = Rate { max: 5, window_secs: 60 };
        assert_eq!(
            window(minute, at("2026-11-26T10:15:42.5Z")).unwrap(),
            (at("2026-11-26T10:15:00Z"), at("2026-11-26T10:16:00Z"))
        );
        let day = Rate { max: 5, window_secs: 86_400 };
        assert_eq!(
            window(day, at("2026-11-26T23:59:59Z")).unwrap(),
            (at("2026-11-26T00:00:00Z"), at("2026-11-27T00:00:00Z"))
        );
    }

    #[test]
    fn keys_group_ipv6_by_64_and_hash_emails() {
        let v6a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(RateKey::ip(Some(v6a)), RateKey::ip(Some(v6b)));
        assert_eq!(RateKey::ip(Some(v6a)).as_str(), "ip:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(RateKey::ip(Some(mapped)).as_str(), "ip:192.0.2.7");
        assert_eq!(RateKey::email("Owner@Example.org"), RateKey::email(" owner@example.org"));
        assert!(!RateKey::email("owner@example.org").as_str().contains("owner"));
        assert_eq!(RateKey::email("owner@example.org").as_str().len(), "email:".len() + 64);
    }

    #[test]
    fn every_limit_reads_its_own_key() {
        let config = ApiConfig {
            rate_limit_login: "1/s".into(),
            rate_limit_register: "2/s".into(),
            rate_limit_password_reset: "3/s".into(),
            rate_limit_verification_resend: "4/s".into(),
            rate_limit_two_factor: "off".into(),
            ..ApiConfig::default()
        };
        let limiter = RateLimiter::new(&config, Arc::new(SystemClock));
        let maxima: Vec<Option<u32>> = Limit::ALL.iter().map(|l| limiter.rate(*l).map(|r| r.max)).collect();
        assert_eq!(maxima, [Some(1), Some(2), Some(3), Some(4), None]);
        let defaults = RateLimiter::new(&ApiConfig::default(), Arc::new(SystemClock));
        assert_eq!(defaults.rate(Limit::Login), Some(Rate { max: 5, window_secs: 60 }));
        assert_eq!(defaults.rate(Limit::Register), Some(Rate { max: 3, window_secs: 3600 }));
        assert_eq!(defaults.rate(Limit::VerificationResend), Some(Rate { max: 5, window_secs: 86_400 }));
    }
}
