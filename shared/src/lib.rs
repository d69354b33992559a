//! SMTPy's shared library: configuration, the database schema and models, recipient
//! resolution with its change-notified cache, and the message log.

pub mod address;
pub mod config;
pub mod db;
pub mod logging;
pub mod message_log;
pub mod models;
pub mod resolve;
pub mod routing_cache;
pub mod schema;

pub use config::{Config, ConfigError};
pub use db::{Db, DbError};
