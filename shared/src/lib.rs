//! SMTPy's shared library: configuration, the database schema and models, recipient
//! resolution with its change-notified cache, and the message log.

pub mod address;
pub mod bounce;
pub mod config;
pub mod db;
pub mod dkim_keys;
pub mod dsn;
pub mod hmac_secrets;
pub mod logging;
pub mod message_log;
pub mod models;
pub mod resolve;
pub mod routing_cache;
pub mod schema;
pub mod sealed;
pub mod srs;

pub use config::{Config, ConfigError};
pub use db::{Db, DbError};
