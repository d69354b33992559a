//! The milter's in-memory cache of recipient resolutions, kept honest by Postgres
//! `LISTEN/NOTIFY`.
//!
//! Every write to a routing table fires `NOTIFY smtpy_routing` (see the migrations), and the
//! listener empties the cache when it hears one. The cache is only trusted while the listener's
//! connection is up: when it drops, a notification could be missed, so the cache is emptied and
//! bypassed until the listener is back (then every RCPT asks the database, which is also how a
//! database outage turns into `451 4.3.0` instead of answers from stale memory).

use crate::{
    address::Address,
    db::{Db, DbError},
    resolve::{Resolution, resolve_recipient},
};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::Notify;

/// The Postgres channel our triggers notify.
pub const CHANNEL: &str = "smtpy_routing";

/// Cached recipient resolutions and hosted-domain answers.
pub struct RoutingCache {
    entries: Mutex<Entries>,
    capacity: usize,
    /// Bumped on every invalidation, so a lookup that raced with one does not store stale data.
    generation: AtomicU64,
    /// Whether the listener is connected and listening.
    live: AtomicBool,
    /// Signalled each time the listener (re)subscribes, for tests and readiness.
    subscribed: Notify,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Whether `domain` has a row in `domains`, verified or not.
async fn hosted_domain(conn: &mut diesel_async::AsyncPgConnection, domain: &str) -> diesel::QueryResult<bool> {
    use crate::schema::domains;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let found: Option<uuid::Uuid> =
        domains::table.filter(domains::name.eq(domain)).select(domains::id).first(conn).await.optional()?;
    Ok(found.is_some())
}

/// What the cache holds; one lock, so one invalidation empties both.
#[derive(Default)]
struct Entries {
    /// Recipient address -> resolution.
    recipients: HashMap<String, Resolution>,
    /// Domain -> whether it is hosted here (verified or not), for Postfix's `relay_domains`.
    domains: HashMap<String, bool>,
}

impl Entries {
    fn len(&self) -> usize {
        self.recipients.len() + self.domains.len()
    }

    fn clear(&mut self) {
        self.recipients.clear();
        self.domains.clear();
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that went to the database.
    pub misses: u64,
    /// Whether the change listener is connected.
    pub live: bool,
    /// Entries held.
    pub entries: usize,
    /// Invalidations so far (routing changes heard, listener reconnects).
    pub invalidations: u64,
}

impl RoutingCache {
    /// An empty cache, bypassed until the listener connects.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            subscribed: Notify::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Resolves `address`, from memory when possible.
    pub async fn resolve(&self, db: &Db, address: &Address) -> Result<Resolution, DbError> {
        let key = address.to_string();
        let generation = self.generation.load(Ordering::Acquire);
        let cached = if self.live.load(Ordering::Acquire) { self.lock().recipients.get(&key).cloned() } else { None };
        if let Some(hit) = cached {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let resolution = db
            .bounded(async {
                let mut conn = db.conn().await?;
                Ok(resolve_recipient(&mut conn, address).await?)
            })
            .await?;
        self.store(generation, |entries| entries.recipients.insert(key, resolution.clone()));
        Ok(resolution)
    }

    /// Whether `domain` (lower case, no trailing dot) is hosted here, verified or not: what
    /// Postfix's `relay_domains` asks through the milter's socketmap.
    pub async fn is_hosted_domain(&self, db: &Db, domain: &str) -> Result<bool, DbError> {
        let generation = self.generation.load(Ordering::Acquire);
        let cached = if self.live.load(Ordering::Acquire) { self.lock().domains.get(domain).copied() } else { None };
        if let Some(hit) = cached {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let hosted = db
            .bounded(async {
                let mut conn = db.conn().await?;
                Ok(hosted_domain(&mut conn, domain).await?)
            })
            .await?;
        self.store(generation, |entries| entries.domains.insert(domain.to_owned(), hosted));
        Ok(hosted)
    }

    fn store<R>(&self, generation: u64, insert: impl FnOnce(&mut Entries) -> R) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.lock();
        // Checked under the lock: an invalidation after our query began voids this answer.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        insert(&mut entries);
    }

    /// Forgets everything (a routing table changed, or the listener lost track).
    pub fn invalidate(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_live(&self, live: bool) {
        self.invalidate();
        self.live.store(live, Ordering::Release);
        if live {
            self.subscribed.notify_waiters();
        }
    }

    /// Bumped at every invalidation: other caches tied to the routing tables compare it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether change notifications are being received (else nothing may be cached).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            live: self.live.load(Ordering::Acquire),
            entries: self.lock().len(),
            invalidations: self.generation.load(Ordering::Acquire),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding this lock cannot leave the map half-written in a way that
        // matters: the worst case is a missing entry, which is re-read from the database.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a `LISTEN` connection open for as long as the returned future runs, reconnecting
    /// with back-off, and empties the cache on every notification.
    pub async fn listen(self: Arc<Self>, url: String, heartbeat: Duration) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.listen_once(&url, heartbeat).await {
                Ok(()) => tracing::warn!("routing change listener: connection closed; cache bypassed until it is back"),
                Err(e) => tracing::warn!("routing change listener: {e}; cache bypassed until it is back"),
            }
            self.set_live(false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn listen_once(&self, url: &str, heartbeat: Duration) -> Result<(), tokio_postgres::Error> {
        use futures_util::StreamExt;
        let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // The connection must be polled for the LISTEN query itself to complete, so the driver
        // runs beside the client.
        let driver = async move {
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                        if tx.send(()).is_err() {
                            return Ok(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        let session = async {
            client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
            self.set_live(true);
            tracing::info!("routing change listener: listening on {CHANNEL}");
            let mut tick = tokio::time::interval(heartbeat);
            tick.tick().await;
            loop {
                tokio::select! {
                    note = rx.recv() => {
                        if note.is_none() {
                            return Ok(());
                        }
                        // Coalesce a burst of notifications into one invalidation.
                        while rx.try_recv().is_ok() {}
                        self.invalidate();
                    }
                    _ = tick.tick() => {
                        // A half-open connection would otherwise look live for ever.
                        client.simple_query("").await?;
                    }
                }
            }
        };
        tokio::select! {
            r = driver => r,
            r = session => r,
        }
    }

    /// Waits until the listener is subscribed (returns at once if it already is).
    pub async fn wait_live(&self) {
        loop {
            let notified = self.subscribed.notified();
            if self.live.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}
