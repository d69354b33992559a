//! SMTPy's milter: at RCPT it decides every recipient of a hosted domain (forward, reject or
//! tempfail); at end of message it swaps each alias for its mailboxes and records the message.

mod callbacks;
mod listener;
pub mod metrics;
mod reply;
mod session;

pub use listener::MilterListener;

use smtpy_shared::{
    config::{Config, LogConfig},
    db::{Db, DbError},
    message_log::MessageLog,
    routing_cache::RoutingCache,
};
use std::{future::Future, sync::Arc, time::Duration};

/// Everything the callbacks share: database, cache, log writer, counters.
pub struct App {
    /// The connection pool.
    pub db: Db,
    /// Cached recipient resolutions.
    pub cache: Arc<RoutingCache>,
    /// The message-log writer.
    pub log: MessageLog,
    /// Counters for `/metrics`.
    pub counters: metrics::Counters,
    max_connections: usize,
}

impl App {
    /// Builds the shared state and starts the background tasks (change listener, log writer).
    /// Must run inside a tokio runtime.
    pub fn new(config: &Config) -> Result<Arc<Self>, DbError> {
        let db = Db::relaxed_commit_from_config(&config.database)?;
        let cache = RoutingCache::new(usize::try_from(config.milter.cache_capacity).unwrap_or(usize::MAX));
        tokio::spawn(cache.clone().listen(db.url().to_owned(), Duration::from_secs(10)));
        let log = MessageLog::spawn(
            db.clone(),
            Duration::from_millis(config.milter.log_flush_ms),
            usize::try_from(config.milter.log_buffer_rows).unwrap_or(usize::MAX),
        );
        Ok(Arc::new(Self {
            db,
            cache,
            log,
            counters: metrics::Counters::default(),
            max_connections: usize::try_from(config.milter.max_connections).unwrap_or(500),
        }))
    }
}

/// Serves milter connections until `shutdown` completes.
pub async fn run(listener: MilterListener, app: Arc<App>, shutdown: impl Future) -> std::io::Result<()> {
    let unix = listener.is_unix();
    let config = indymilter::Config { max_connections: app.max_connections, ..Default::default() };
    indymilter::run(listener, callbacks::build(app, unix), config, shutdown).await
}

/// Installs the `tracing` subscriber from the `[log]` section.
pub fn init_logging(log: &LogConfig) {
    smtpy_shared::logging::init(log);
}
