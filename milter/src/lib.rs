//! SMTPy's milter: at RCPT it decides every recipient of a hosted domain (forward, reject or
//! tempfail); at end of message it swaps each alias for its mailboxes and records the message.

mod auth;
mod busy;
mod callbacks;
mod coalesce;
mod dns_cache;
mod eom;
mod listener;
mod message;
pub mod metrics;
mod privacy;
mod reply;
mod returns;
mod session;
mod sign;
pub mod socketmap;

pub use listener::MilterListener;
/// The no-reply options smtpy-milter asks for (the bench's floor milter asks for the same).
pub use session::NOREPLY_WANTED;

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
    /// Messages between their first accepted recipient and their end.
    in_progress: busy::InProgress,
    /// SPF/DKIM/ARC/DMARC checks.
    verifier: auth::Verifier,
    /// Whether DMARC `p=reject` failures are refused.
    dmarc_reject: bool,
    /// DKIM/ARC signers per domain.
    keys: sign::KeyStore,
    /// Makes and checks our bounce addresses.
    bounces: smtpy_shared::bounce::BounceSigner,
    /// SRS for transparent-mode forwards.
    srs: smtpy_shared::srs::Srs,
    /// Contacts (reverse aliases) by alias and sender.
    contacts: privacy::ContactCache,
    max_connections: usize,
}

impl App {
    /// Builds the shared state and starts the background tasks (change listener, log writer).
    /// Must run inside a tokio runtime.
    pub fn new(config: &Config) -> Result<Arc<Self>, SetupError> {
        let db = Db::relaxed_commit_from_config(&config.database)?;
        let cache = RoutingCache::new(usize::try_from(config.milter.cache_capacity).unwrap_or(usize::MAX));
        tokio::spawn(cache.clone().listen(db.url().to_owned(), Duration::from_secs(10)));
        let log = MessageLog::spawn(
            db.clone(),
            Duration::from_millis(config.milter.log_flush_ms),
            usize::try_from(config.milter.log_buffer_rows).unwrap_or(usize::MAX),
        );
        let authserv_id =
            if config.milter.authserv_id.is_empty() { host_name() } else { config.milter.authserv_id.clone() };
        let verifier = auth::Verifier::new(&config.dns.nameservers, authserv_id).map_err(SetupError::Dns)?;
        let seal = smtpy_shared::sealed::SealKey::load(std::path::Path::new(&config.secrets.key_file))
            .map_err(|e| SetupError::Secrets(format!("secrets.key_file: {e}")))?;
        let secrets = smtpy_shared::hmac_secrets::SecretSet::load(std::path::Path::new(&config.srs.secret_file))
            .map_err(|e| SetupError::Secrets(format!("srs.secret_file: {e}")))?;
        Ok(Arc::new(Self {
            keys: sign::KeyStore::new(seal),
            bounces: smtpy_shared::bounce::BounceSigner::new(&secrets),
            srs: smtpy_shared::srs::Srs::new(secrets),
            contacts: privacy::ContactCache::default(),
            verifier,
            dmarc_reject: config.milter.dmarc_reject,
            db,
            cache,
            log,
            counters: metrics::Counters::default(),
            in_progress: busy::InProgress::default(),
            max_connections: usize::try_from(config.milter.max_connections).unwrap_or(500),
        }))
    }
}

/// Why the milter could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The database pool could not be built.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The DNS resolver could not be set up.
    #[error("{0}")]
    Dns(String),
    /// The key that opens DKIM private keys is missing or unusable.
    #[error("{0}")]
    Secrets(String),
}

/// This host's name, the default authserv-id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Serves milter connections until `shutdown` completes.
pub async fn run(listener: MilterListener, app: Arc<App>, shutdown: impl Future) -> std::io::Result<()> {
    let config = indymilter::Config { max_connections: app.max_connections, ..Default::default() };
    indymilter::run(listener, callbacks::build(app), config, shutdown).await
}

/// Installs the `tracing` subscriber from the `[log]` section.
pub fn init_logging(log: &LogConfig) {
    smtpy_shared::logging::init(log);
}
