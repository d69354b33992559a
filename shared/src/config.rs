//! The one configuration file (`/etc/smtpy/smtpy.toml`) and its `SMTPY_<SECTION>_<KEY>`
//! environment overrides.
//!
//! Loading never stops at the first problem: every bad key is reported with its path, so an
//! operator fixes the file in one pass, and all of it happens before any socket is bound.

use serde::{Deserialize, Serialize};
use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/smtpy/smtpy.toml";

/// The whole configuration, one struct per TOML section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[database]`: where the state lives.
    pub database: DatabaseConfig,
    /// `[milter]`: the milter daemon's sockets and cache.
    pub milter: MilterConfig,
    /// `[api]`: the HTTP API server.
    pub api: ApiConfig,
    /// `[smtp]`: how we hand mail to Postfix.
    pub smtp: SmtpConfig,
    /// `[log]`: log level and format.
    pub log: LogConfig,
    /// `[dns]`: the resolver for SPF/DKIM/DMARC/ARC and domain checks.
    pub dns: DnsConfig,
    /// `[secrets]`: the key that encrypts DKIM private keys and TOTP secrets at rest.
    pub secrets: SecretsConfig,
    /// `[srs]`: secrets for SRS and for our signed bounce addresses.
    pub srs: SrsConfig,
}

/// `[dns]` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Name servers as `IP:PORT` (e.g. `["127.0.0.1:5353"]`); empty means the system resolver.
    pub nameservers: Vec<String>,
}

/// `[secrets]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File holding a base64 32-byte key (the package creates it on install).
    pub key_file: String,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self { key_file: "/etc/smtpy/secret.key".to_owned() }
    }
}

/// `[srs]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SrsConfig {
    /// postsrsd's format: one secret a line; the first signs, every line verifies. A site
    /// moving from postsrsd points this at its existing file and old bounces still resolve.
    pub secret_file: String,
}

impl Default for SrsConfig {
    fn default() -> Self {
        Self { secret_file: "/etc/smtpy/srs.secret".to_owned() }
    }
}

/// `[database]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Postgres connection URL, e.g. `postgres://smtpy:secret@127.0.0.1/smtpy`.
    pub url: String,
    /// Upper bound in milliseconds on any one database operation, connecting included; past it
    /// the milter answers `451 4.3.0` rather than keeping Postfix waiting.
    pub timeout_ms: u64,
    /// Connections kept in each process's pool.
    pub pool_size: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: String::new(), timeout_ms: 2000, pool_size: 8 }
    }
}

impl DatabaseConfig {
    /// The per-operation timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[milter]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilterConfig {
    /// Milter socket: `inet:HOST:PORT` or `unix:PATH`.
    pub listen: String,
    /// Address of the small HTTP listener serving `/metrics` and `/healthz`; empty disables it.
    pub metrics_listen: String,
    /// Socketmap server for Postfix's lookups (`inet:HOST:PORT` or `unix:PATH`; empty disables
    /// it): `relay_domains = socketmap:inet:127.0.0.1:8892:relay_domains` answers from the
    /// milter's cache instead of a Postgres query per lookup.
    pub map_listen: String,
    /// Recipient resolutions kept in memory; the cache is emptied when it grows past this.
    pub cache_capacity: u64,
    /// Milter connections served at once (one per Postfix smtpd process).
    pub max_connections: u64,
    /// How often queued message-log rows are written, in milliseconds.
    pub log_flush_ms: u64,
    /// Message-log rows that may wait for a write; past this, mail is refused with 451.
    pub log_buffer_rows: u64,
    /// Our authserv-id in `Authentication-Results` (RFC 8601); empty means the host name.
    pub authserv_id: String,
    /// Refuse (`550 5.7.1`) mail that fails DMARC for a domain whose policy is `p=reject`.
    pub dmarc_reject: bool,
}

impl Default for MilterConfig {
    fn default() -> Self {
        Self {
            listen: "inet:127.0.0.1:8891".to_owned(),
            metrics_listen: "127.0.0.1:9891".to_owned(),
            map_listen: "inet:127.0.0.1:8892".to_owned(),
            cache_capacity: 100_000,
            max_connections: 500,
            log_flush_ms: 20,
            log_buffer_rows: 20_000,
            authserv_id: String::new(),
            dmarc_reject: true,
        }
    }
}

/// `[api]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// Clients reach the API over TLS (directly or through a TLS-terminating proxy): mark the
    /// session cookie `Secure` and send `Strict-Transport-Security`.
    pub cookie_secure: bool,
    /// Who may create an account over the API: `open` (anyone), `invite` (whoever holds an
    /// unused invitation code from `smtpy-admin user invite`) or `closed` (only a sysadmin, with
    /// `smtpy-admin user add`).
    pub registration: String,
    /// How long a login session lasts, in hours.
    pub session_hours: u32,
    /// The address owners reach the web UI at (`https://...`), for links in the mail we send:
    /// `<public_url>/verify-email?token=...` and `<public_url>/reset-password?token=...`.
    pub public_url: String,
    /// Browser origins (`https://app.example.org`) allowed to call the API with credentials
    /// (CORS); empty: no CORS headers, only same-origin pages can call it.
    pub cors_origins: Vec<String>,
    /// Proxies (IP addresses or CIDR networks) whose `X-Forwarded-For` is believed; the client
    /// address is otherwise the TCP peer. Empty: never read the header.
    pub trusted_proxies: Vec<String>,
    /// Login attempts per client address and per email ([`Rate`] syntax, or `off`).
    pub rate_limit_login: String,
    /// Registrations per client address.
    pub rate_limit_register: String,
    /// Password-reset requests per client address and per email.
    pub rate_limit_password_reset: String,
    /// Verification mails re-sent per account.
    pub rate_limit_verification_resend: String,
    /// Second-factor code attempts per account.
    pub rate_limit_two_factor: String,
}

impl ApiConfig {
    /// Every `rate_limit_*` key with its value, for validation and for building the limiter.
    pub fn rate_limits(&self) -> [(&'static str, &str); 5] {
        [
            ("rate_limit_login", &self.rate_limit_login),
            ("rate_limit_register", &self.rate_limit_register),
            ("rate_limit_password_reset", &self.rate_limit_password_reset),
            ("rate_limit_verification_resend", &self.rate_limit_verification_resend),
            ("rate_limit_two_factor", &self.rate_limit_two_factor),
        ]
    }
}

/// A rate limit: at most `max` attempts per fixed window of `window_secs` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Attempts allowed in one window.
    pub max: u32,
    /// The window's length in seconds.
    pub window_secs: u32,
}

impl Rate {
    /// Parses `N/UNIT` or `N/kUNIT` (`5/minute`, `3/hour`, `5/day`, `10/30s`, `2/15m`), with UNIT
    /// one of s, m, h, d or second, minute, hour, day (plural too); `off` is no limit (`None`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let expected = || format!("'{s}': expected N/UNIT (e.g. 5/minute, 3/hour, 10/30s) or off");
        let s = s.trim();
        if s == "off" {
            return Ok(None);
        }
        let (max, per) = s.split_once('/').ok_or_else(expected)?;
        let max: u32 = max.trim().parse().map_err(|_| expected())?;
        let per = per.trim();
        let digits = per.len() - per.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (count, unit) = per.split_at(digits);
        let count: u32 = if count.is_empty() { 1 } else { count.parse().map_err(|_| expected())? };
        let unit_secs = match unit.trim() {
            "s" | "second" | "seconds" => 1,
            "m" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(expected()),
        };
        let window_secs = count.checked_mul(unit_secs).filter(|w| *w > 0).ok_or_else(expected)?;
        if max == 0 {
            return Err(format!("'{s}': allow at least one attempt, or write off"));
        }
        Ok(Some(Self { max, window_secs }))
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            cookie_secure: false,
            registration: "open".to_owned(),
            session_hours: 720,
            public_url: "http://localhost:8080".to_owned(),
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            rate_limit_login: "5/minute".to_owned(),
            rate_limit_register: "3/hour".to_owned(),
            rate_limit_password_reset: "3/hour".to_owned(),
            rate_limit_verification_resend: "5/day".to_owned(),
            rate_limit_two_factor: "5/minute".to_owned(),
        }
    }
}

/// `[smtp]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Where we hand mail to Postfix for re-injection and notifications.
    pub relay: String,
    /// The `From` of the mail we send to owners (verification, password reset, sign-in
    /// alerts), e.g. `SMTPy <no-reply@example.org>`.
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self { relay: "127.0.0.1:25".to_owned(), from: "SMTPy <no-reply@localhost>".to_owned() }
    }
}

/// `[log]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `smtpy_milter=debug,info`.
    pub level: String,
    /// `text` for people, `json` for log shippers.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: "text".to_owned() }
    }
}

/// Where the milter listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MilterSocket {
    /// A TCP socket.
    Inet(SocketAddr),
    /// A unix-domain socket at this path.
    Unix(PathBuf),
}

impl FromStr for MilterSocket {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = s.strip_prefix("inet:") {
            addr.parse()
                .map(Self::Inet)
                .map_err(|_| format!("'{s}': expected inet:HOST:PORT with a numeric host, e.g. inet:127.0.0.1:8891"))
        } else if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                Err(format!("'{s}': unix: needs a path"))
            } else {
                Ok(Self::Unix(PathBuf::from(path)))
            }
        } else {
            Err(format!("'{s}': expected inet:HOST:PORT or unix:PATH"))
        }
    }
}

impl fmt::Display for MilterSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet(addr) => write!(f, "inet:{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Everything wrong with a configuration, each problem with its key path.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// One line per problem, starting with the key path or the file.
    pub problems: Vec<String>,
}

/// Which parts of the configuration the calling program needs, so that each checks only
/// what it uses (the CLI's `migrate` needs no milter socket).
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// `[database] url` must be set.
    pub database: bool,
}

impl Config {
    /// Loads `path` (or the default path when `path` is `None` and the default file exists),
    /// applies `SMTPY_*` environment overrides from `env`, and validates the result.
    pub fn load(
        path: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
        needs: Needs,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let text = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => {
                    return Err(ConfigError { problems: vec![format!("{}: cannot read: {e}", p.display())] });
                }
            },
            None => std::fs::read_to_string(DEFAULT_PATH).unwrap_or_default(),
        };
        let source = path.map_or_else(|| DEFAULT_PATH.to_owned(), |p| p.display().to_string());
        let mut table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                return Err(ConfigError { problems: vec![format!("{source}: {e}")] });
            }
        };
        apply_env(&mut table, env, &mut problems);
        let config: Config = match Config::deserialize(toml::Value::Table(table)) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{source}: {}", e.to_string().trim()));
                return Err(ConfigError { problems });
            }
        };
        config.validate(needs, &mut problems);
        if problems.is_empty() { Ok(config) } else { Err(ConfigError { problems }) }
    }

    fn validate(&self, needs: Needs, problems: &mut Vec<String>) {
        let db = &self.database;
        if db.url.is_empty() {
            if needs.database {
                problems.push("database.url: not set (or set SMTPY_DATABASE_URL)".to_owned());
            }
        } else if !(db.url.starts_with("postgres://") || db.url.starts_with("postgresql://")) {
            problems.push("database.url: must start with postgres:// or postgresql://".to_owned());
        }
        if db.timeout_ms == 0 {
            problems.push("database.timeout_ms: must be at least 1".to_owned());
        }
        if db.pool_size == 0 {
            problems.push("database.pool_size: must be at least 1".to_owned());
        }
        if let Err(e) = self.milter.listen.parse::<MilterSocket>() {
            problems.push(format!("milter.listen: {e}"));
        }
        if !self.milter.metrics_listen.is_empty() && self.milter.metrics_listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("milter.metrics_listen: '{}' is not HOST:PORT", self.milter.metrics_listen));
        }
        if self.milter.log_flush_ms == 0 {
            problems.push("milter.log_flush_ms: must be at least 1".to_owned());
        }
        if self.milter.log_buffer_rows == 0 {
            problems.push("milter.log_buffer_rows: must be at least 1".to_owned());
        }
        if self.api.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("api.listen: '{}' is not HOST:PORT", self.api.listen));
        }
        if !matches!(self.api.registration.as_str(), "open" | "invite" | "closed") {
            problems.push(format!("api.registration: '{}' must be open, invite or closed", self.api.registration));
        }
        if self.api.session_hours == 0 {
            problems.push("api.session_hours: must be at least 1".to_owned());
        }
        if !(self.api.public_url.starts_with("http://") || self.api.public_url.starts_with("https://")) {
            problems.push(format!("api.public_url: '{}' must start with http:// or https://", self.api.public_url));
        }
        if !self.smtp.from.contains('@') {
            problems.push(format!(
                "smtp.from: '{}' is not an address such as SMTPy <no-reply@example.org>",
                self.smtp.from
            ));
        }
        for (key, value) in self.api.rate_limits() {
            if let Err(e) = Rate::parse(value) {
                problems.push(format!("api.{key}: {e}"));
            }
        }
        for (i, origin) in self.api.cors_origins.iter().enumerate() {
            if let Err(e) = check_origin(origin) {
                problems.push(format!("api.cors_origins[{i}]: {e}"));
            }
        }
        for (i, proxy) in self.api.trusted_proxies.iter().enumerate() {
            if parse_network(proxy).is_none() {
                problems.push(format!("api.trusted_proxies[{i}]: '{proxy}' is not an IP address or CIDR network"));
            }
        }
        for (i, ns) in self.dns.nameservers.iter().enumerate() {
            if ns.parse::<SocketAddr>().is_err() {
                problems.push(format!("dns.nameservers[{i}]: '{ns}' is not IP:PORT"));
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(format!("log.format: '{}' must be text or json", self.log.format));
        }
    }
}

/// An IP address (a network of one) or a CIDR network such as `10.0.0.0/8`.
pub fn parse_network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A browser origin as it appears in the `Origin` header: `scheme://host[:port]`, nothing more.
/// `*` is refused because the API's cookies must never be readable from any site.
fn check_origin(origin: &str) -> Result<(), String> {
    let expected = || format!("'{origin}': expected an origin like https://app.example.org (no path, no *)");
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")).ok_or_else(expected)?;
    let host = match rest.rsplit_once(':') {
        Some((host, port)) if !rest.ends_with(']') => {
            if port.parse::<u16>().is_ok() {
                host
            } else {
                ""
            }
        }
        _ => rest,
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if host_ok && origin == origin.to_ascii_lowercase() { Ok(()) } else { Err(expected()) }
}

/// Applies `SMTPY_<SECTION>_<KEY>` variables. The type of each key comes from the defaults, so
/// `SMTPY_DATABASE_TIMEOUT_MS=500` becomes a number; lists are comma-separated. Variables for
/// sections we do not have are left alone (tests and tools use their own `SMTPY_TEST_*`), but an
/// unknown key in a known section is an error, as it would be in the file.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>, problems: &mut Vec<String>) {
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => return,
    };
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("SMTPY_") else { continue };
        let rest = rest.to_ascii_lowercase();
        let Some((section, key)) = rest.split_once('_') else { continue };
        let Some(toml::Value::Table(section_defaults)) = defaults.get(section) else { continue };
        let Some(default) = section_defaults.get(key) else {
            problems.push(format!("{name}: {section}.{key} is not a setting"));
            continue;
        };
        let parsed = match default {
            toml::Value::Integer(_) => {
                value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| "a whole number")
            }
            toml::Value::Boolean(_) => {
                value.trim().parse::<bool>().map(toml::Value::Boolean).map_err(|_| "true or false")
            }
            toml::Value::Array(_) => Ok(toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            )),
            _ => Ok(toml::Value::String(value.clone())),
        };
        match parsed {
            Ok(v) => {
                let entry = table.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(t) = entry {
                    t.insert(key.to_owned(), v);
                }
            }
            Err(expected) => problems.push(format!("{name}: '{value}' is not {expected}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(text)
    }

    /// A tiny temp-file helper so the tests need no extra crate.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(text: &str) -> Self {
                let p = std::env::temp_dir().join(format!("smtpy-config-{}.toml", uuid::Uuid::new_v4()));
                std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
                Self(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn env_overrides_file_and_keeps_types() {
        let f = write("[database]\nurl = \"postgres://a@h/db\"\ntimeout_ms = 100\n");
        let c = Config::load(
            Some(&f.0),
            env(&[
                ("SMTPY_DATABASE_TIMEOUT_MS", "250"),
                ("SMTPY_MILTER_LISTEN", "unix:/run/m.sock"),
                ("SMTPY_TEST_PG_URL", "x"),
            ]),
            Needs { database: true },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.database.url, "postgres://a@h/db");
        assert_eq!(c.database.timeout_ms, 250);
        assert_eq!(c.milter.listen.parse::<MilterSocket>(), Ok(MilterSocket::Unix("/run/m.sock".into())));
    }

    #[test]
    fn unknown_file_key_is_reported_with_its_path() {
        let f = write("[database]\nurl = \"postgres://a@h/db\"\nurll = 1\n");
        let e = Config::load(Some(&f.0), env(&[]), Needs::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("urll"), "{e}");
    }

    #[test]
    fn every_problem_reported_at_once() {
        let f = write("[milter]\nlisten = \"tcp:1\"\nmetrics_listen = \"nope\"\n[log]\nformat = \"xml\"\n");
        let e = Config::load(Some(&f.0), env(&[("SMTPY_DATABASE_TIMEOUT_MS", "soon")]), Needs { database: true })
            .err()
            .map(|e| e.problems)
            .unwrap_or_default();
        let joined = e.join("\n");
        for key in ["database.url", "milter.listen", "milter.metrics_listen", "log.format", "SMTPY_DATABASE_TIMEOUT_MS"]
        {
            assert!(joined.contains(key), "missing {key} in:\n{joined}");
        }
    }

    #[test]
    fn unknown_env_key_in_known_section_is_an_error() {
        let e = Config::load(Some(&write("").0), env(&[("SMTPY_DATABASE_URLL", "x")]), Needs::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("SMTPY_DATABASE_URLL"), "{e}");
    }

    #[test]
    fn api_account_settings_are_validated() {
        let env_of = env(&[
            ("SMTPY_API_REGISTRATION", "invited"),
            ("SMTPY_API_SESSION_HOURS", "0"),
            ("SMTPY_API_COOKIE_SECURE", "yes"),
        ]);
        let e =
            Config::load(Some(&write("").0), env_of, Needs::default()).err().map(|e| e.to_string()).unwrap_or_default();
        for key in ["api.registration", "api.session_hours", "SMTPY_API_COOKIE_SECURE"] {
            assert!(e.contains(key), "{key} not reported: {e}");
        }
        let ok = env(&[("SMTPY_API_REGISTRATION", "closed"), ("SMTPY_API_COOKIE_SECURE", "true")]);
        let c = Config::load(Some(&write("").0), ok, Needs::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.api.cookie_secure && c.api.registration == "closed" && c.api.session_hours == 720);
        let invite = env(&[("SMTPY_API_REGISTRATION", "invite")]);
        let c = Config::load(Some(&write("").0), invite, Needs::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.api.registration, "invite");
    }

    #[test]
    fn account_mail_settings_are_validated() {
        let bad = env(&[("SMTPY_API_PUBLIC_URL", "smtpy.example.org"), ("SMTPY_SMTP_FROM", "nobody")]);
        let e =
            Config::load(Some(&write("").0), bad, Needs::default()).err().map(|e| e.to_string()).unwrap_or_default();
        for key in ["api.public_url", "smtp.from"] {
            assert!(e.contains(key), "{key} not reported: {e}");
        }
        let ok =
            env(&[("SMTPY_API_PUBLIC_URL", "https://mail.example.org"), ("SMTPY_SMTP_FROM", "no-reply@example.org")]);
        let c = Config::load(Some(&write("").0), ok, Needs::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.api.public_url.as_str(), c.smtp.from.as_str()),
            ("https://mail.example.org", "no-reply@example.org")
        );
    }

    #[test]
    fn rates_parse_in_every_spelling() {
        let rate = |max, window_secs| Ok(Some(Rate { max, window_secs }));
        assert_eq!(Rate::parse("5/minute"), rate(5, 60));
        assert_eq!(Rate::parse("3/hour"), rate(3, 3600));
        assert_eq!(Rate::parse("5/day"), rate(5, 86_400));
        assert_eq!(Rate::parse("10/30s"), rate(10, 30));
        assert_eq!(Rate::parse(" 2 / 15m "), rate(2, 900));
        assert_eq!(Rate::parse("1/2days"), rate(1, 172_800));
        assert_eq!(Rate::parse("off"), Ok(None));
        for bad in ["", "5", "5/", "x/minute", "5/fortnight", "0/minute", "5/0s", "-1/minute", "5/99999999999d"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn api_security_settings_are_validated() {
        let env_of = env(&[
            ("SMTPY_API_RATE_LIMIT_LOGIN", "5/fortnight"),
            ("SMTPY_API_CORS_ORIGINS", "https://app.example.org,*,https://x.example.org/path"),
            ("SMTPY_API_TRUSTED_PROXIES", "10.0.0.0/8,proxy.example.org"),
        ]);
        let e =
            Config::load(Some(&write("").0), env_of, Needs::default()).err().map(|e| e.problems).unwrap_or_default();
        let joined = e.join("\n");
        for key in ["api.rate_limit_login", "api.cors_origins[1]", "api.cors_origins[2]", "api.trusted_proxies[1]"] {
            assert!(joined.contains(key), "{key} not reported: {joined}");
        }
        assert!(!joined.contains("cors_origins[0]") && !joined.contains("trusted_proxies[0]"), "{joined}");
        let ok = env(&[
            ("SMTPY_API_RATE_LIMIT_REGISTER", "off"),
            ("SMTPY_API_CORS_ORIGINS", "https://app.example.org, http://localhost:5173"),
            ("SMTPY_API_TRUSTED_PROXIES", "127.0.0.1, ::1, 10.0.0.0/8"),
        ]);
        let c = Config::load(Some(&write("").0), ok, Needs::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.api.cors_origins, ["https://app.example.org", "http://localhost:5173"]);
        assert_eq!(c.api.trusted_proxies.len(), 3);
        assert_eq!(Rate::parse(&c.api.rate_limit_register), Ok(None));
        assert_eq!(Rate::parse(&c.api.rate_limit_login), Ok(Some(Rate { max: 5, window_secs: 60 })));
    }

    #[test]
    fn packaged_sample_config_is_valid() {
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/smtpy.toml");
        let c = Config::load(Some(&sample), env(&[]), Needs { database: true }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.milter.listen, "inet:127.0.0.1:8891");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let e = Config::load(Some(std::path::Path::new("/nonexistent/smtpy.toml")), env(&[]), Needs::default());
        assert!(e.is_err());
    }
}
