//! The message log (`messages`), written behind the mail path in small batches.
//!
//! A row per message is bookkeeping: the mail itself is safe in Postfix's queue (DESIGN §7).
//! Inserting it inline cost Postgres a third of a CPU-millisecond per message on our 2-core
//! machines, as much as the whole milter, so rows are queued in a bounded buffer and flushed
//! every `flush_interval` in one INSERT, prepared once on the writer's own connection. The
//! promise to the sender is kept by refusing mail (451) whenever a row cannot be queued: when
//! the buffer is full, or when the last flush failed (the database is down), so an outage never
//! piles up unlogged forwards. Rows that fail to flush stay queued and are retried; a graceful
//! shutdown flushes what is left. Rows whose owner, alias or contact was deleted while they
//! waited are stored as the foreign keys' ON DELETE would have left them.
//!
//! An idle writer sleeps until a row arrives and only then waits out the interval, so a milter
//! with no mail has no timer waking it 50 times a second.

use crate::db::{Conn, Db, DbError};
use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    result::DatabaseErrorKind,
};
use diesel_async::RunQueryDsl;
use std::{
    collections::{BTreeSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::Notify;
use uuid::Uuid;

/// One log row to store.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Chosen by the milter, so the bounce address can name the row before it is written.
    pub id: Uuid,
    /// The alias owner.
    pub owner_id: Uuid,
    /// The alias that matched.
    pub alias_id: Option<Uuid>,
    /// The recipient address as resolved (lower-cased).
    pub recipient: String,
    /// The envelope sender (empty for the null sender).
    pub envelope_sender: String,
    /// The mailboxes it went to.
    pub forwarded_to: Vec<Option<String>>,
    /// Message size in bytes as received.
    pub size_bytes: i64,
    /// `forwarded`, `rejected`, `bounced` or `replied`.
    pub status: String,
    /// Postfix's queue id.
    pub queue_id: Option<String>,
    /// `privacy`, `transparent` or `reply`.
    pub mode: Option<String>,
    /// The Subject header as received (raw, possibly RFC 2047-encoded), at most 998 bytes.
    pub subject: Option<String>,
    /// SPF result for the envelope sender.
    pub auth_spf: Option<String>,
    /// Best DKIM result.
    pub auth_dkim: Option<String>,
    /// DMARC result for the From domain.
    pub auth_dmarc: Option<String>,
    /// ARC chain validation result.
    pub auth_arc: Option<String>,
    /// The contact (external sender) of a privacy-mode forward.
    pub contact_id: Option<Uuid>,
    /// The reverse alias used for the contact.
    pub reverse_alias: Option<String>,
}

/// Why rows were not queued.
#[derive(Clone, Debug, thiserror::Error)]
pub enum LogError {
    /// The last flush failed: the database is unreachable.
    #[error("message log unavailable: the last write to the database failed")]
    Unhealthy,
    /// The buffer is full.
    #[error("message log buffer full ({0} rows waiting)")]
    Full(usize),
}

/// Rows stored in one INSERT at most.
const MAX_BATCH_ROWS: usize = 1000;

struct Shared {
    queue: Mutex<VecDeque<NewMessage>>,
    capacity: usize,
    unhealthy: AtomicBool,
    /// Wakes an idle writer: the queue went from empty to not empty.
    queued: Notify,
    /// Wakes the writer before its interval is up (buffer filling, shutdown).
    urgent: Notify,
    /// Signalled after every flush attempt.
    flushed: Notify,
    /// Rows taken from `queue` whose INSERT has not finished (changed under the queue's lock).
    in_flight: AtomicUsize,
    written: AtomicU64,
    /// INSERTs attempted (successful or not).
    batches: AtomicU64,
    /// Times the writer woke up to look at the queue.
    rounds: AtomicU64,
}

/// Handle to the background writer.
#[derive(Clone)]
pub struct MessageLog {
    shared: Arc<Shared>,
}

impl MessageLog {
    /// Spawns the writer on the current runtime.
    pub fn spawn(db: Db, flush_interval: Duration, capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            unhealthy: AtomicBool::new(false),
            queued: Notify::new(),
            urgent: Notify::new(),
            flushed: Notify::new(),
            in_flight: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
        });
        tokio::spawn(write_behind(db, shared.clone(), flush_interval));
        Self { shared }
    }

    /// Queues `rows` for the next flush, or says why the message must be refused.
    pub fn record(&self, rows: Vec<NewMessage>) -> Result<(), LogError> {
        if AtomicBool::load(&self.shared.unhealthy, Ordering::Acquire) {
            return Err(LogError::Unhealthy);
        }
        let mut queue = self.lock();
        if queue.len() + rows.len() > self.shared.capacity {
            return Err(LogError::Full(queue.len()));
        }
        let was_empty = queue.is_empty();
        queue.extend(rows);
        if was_empty {
            self.shared.queued.notify_one();
        }
        if queue.len() >= MAX_BATCH_ROWS {
            self.shared.urgent.notify_one();
        }
        Ok(())
    }

    /// Writes everything queued now and waits until it is in the database (nothing queued,
    /// nothing being written) or a flush fails.
    pub async fn flush(&self) -> Result<(), LogError> {
        loop {
            let flushed = self.shared.flushed.notified();
            if self.lock().is_empty() && AtomicUsize::load(&self.shared.in_flight, Ordering::Acquire) == 0 {
                return Ok(());
            }
            self.shared.urgent.notify_one();
            flushed.await;
            if AtomicBool::load(&self.shared.unhealthy, Ordering::Acquire) {
                return Err(LogError::Unhealthy);
            }
        }
    }

    /// Rows waiting to be written.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Rows written since start.
    pub fn written(&self) -> u64 {
        AtomicU64::load(&self.shared.written, Ordering::Relaxed)
    }

    /// INSERTs attempted since start, successful or not.
    pub fn batches(&self) -> u64 {
        AtomicU64::load(&self.shared.batches, Ordering::Relaxed)
    }

    /// Whether the last flush succeeded.
    pub fn healthy(&self) -> bool {
        !AtomicBool::load(&self.shared.unhealthy, Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<NewMessage>> {
        lock(&self.shared)
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, VecDeque<NewMessage>> {
    // Rows are only pushed or drained whole under this lock; a panic elsewhere cannot leave a
    // half-written queue behind.
    shared.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn write_behind(db: Db, shared: Arc<Shared>, interval: Duration) {
    let mut retry = interval;
    // The writer keeps one connection: its Postgres backend has the INSERT prepared and its
    // caches warm, instead of each flush landing on whichever pooled backend is next.
    let mut conn = None;
    loop {
        let unhealthy = AtomicBool::load(&shared.unhealthy, Ordering::Acquire);
        if !unhealthy && lock(&shared).is_empty() {
            // `record` leaves a permit if a row arrived since the check.
            shared.queued.notified().await;
        }
        let wait = if unhealthy { retry } else { interval };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.urgent.notified() => {}
        }
        shared.rounds.fetch_add(1, Ordering::Relaxed);
        loop {
            let batch: Vec<NewMessage> = {
                let mut queue = lock(&shared);
                let n = queue.len().min(MAX_BATCH_ROWS);
                shared.in_flight.store(n, Ordering::Release);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            let full = batch.len() == MAX_BATCH_ROWS;
            shared.batches.fetch_add(1, Ordering::Relaxed);
            match insert(&db, &mut conn, &batch).await {
                Ok(stored) => {
                    shared.written.fetch_add(stored as u64, Ordering::Relaxed);
                    if shared.unhealthy.swap(false, Ordering::AcqRel) {
                        tracing::info!("message log: database writable again");
                    }
                    retry = interval;
                }
                Err(e) => {
                    let mut queue = lock(&shared);
                    for row in batch.into_iter().rev() {
                        queue.push_front(row);
                    }
                    if !shared.unhealthy.swap(true, Ordering::AcqRel) {
                        tracing::error!(
                            "message log: {e}; {} rows kept for retry, refusing new mail meanwhile",
                            queue.len()
                        );
                    }
                    shared.in_flight.store(0, Ordering::Release);
                    retry = (retry * 2).clamp(Duration::from_millis(50), Duration::from_secs(2));
                    break;
                }
            }
            shared.in_flight.store(0, Ordering::Release);
            // Rows queued while this batch was written wait for the next round (`flush` asks for
            // one at once): writing them straight away would halve the batches under load.
            if !full {
                break;
            }
        }
        shared.flushed.notify_waiters();
    }
}

/// Stores `rows` over `held` (taken from the pool first if empty); returns how many were
/// stored (fewer when their owner was deleted meanwhile). A connection that failed or timed out
/// mid-query is let go.
async fn insert(db: &Db, held: &mut Option<Conn>, rows: &[NewMessage]) -> Result<usize, DbError> {
    let stored = db.bounded(insert_over(db, held, rows)).await;
    if stored.is_err() {
        *held = None;
    }
    stored
}

async fn insert_over(db: &Db, held: &mut Option<Conn>, rows: &[NewMessage]) -> Result<usize, DbError> {
    let conn = match held {
        Some(conn) => conn,
        None => held.insert(db.conn().await?),
    };
    match InsertRows::new(rows).execute(conn).await {
        Err(diesel::result::Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            // An owner, alias or contact was deleted while its rows waited here. Store the rows
            // as the foreign keys' ON DELETE would have left them; retrying them unchanged would
            // fail forever and keep the milter refusing mail.
            let rows = without_deleted_parents(conn, rows).await?;
            Ok(InsertRows::new(&rows).execute(conn).await?)
        }
        stored => Ok(stored?),
    }
}

/// `rows` as they may still be stored: those of deleted owners dropped (ON DELETE CASCADE),
/// links to deleted aliases and contacts cleared (ON DELETE SET NULL).
async fn without_deleted_parents(conn: &mut Conn, rows: &[NewMessage]) -> Result<Vec<NewMessage>, DbError> {
    use crate::schema::{aliases, contacts, users};
    let owners: Vec<Uuid> = rows.iter().map(|r| r.owner_id).collect();
    let owners: BTreeSet<Uuid> =
        users::table.filter(users::id.eq_any(owners)).select(users::id).load(conn).await?.into_iter().collect();
    let aliases: Vec<Uuid> = rows.iter().filter_map(|r| r.alias_id).collect();
    let aliases: BTreeSet<Uuid> =
        aliases::table.filter(aliases::id.eq_any(aliases)).select(aliases::id).load(conn).await?.into_iter().collect();
    let contacts: Vec<Uuid> = rows.iter().filter_map(|r| r.contact_id).collect();
    let contacts: BTreeSet<Uuid> = contacts::table
        .filter(contacts::id.eq_any(contacts))
        .select(contacts::id)
        .load(conn)
        .await?
        .into_iter()
        .collect();
    let dropped = rows.iter().filter(|r| !owners.contains(&r.owner_id)).count();
    if dropped > 0 {
        tracing::info!("message log: {dropped} rows of deleted owners not stored");
    }
    Ok(rows
        .iter()
        .filter(|r| owners.contains(&r.owner_id))
        .map(|r| NewMessage {
            alias_id: r.alias_id.filter(|id| aliases.contains(id)),
            contact_id: r.contact_id.filter(|id| contacts.contains(id)),
            ..r.clone()
        })
        .collect())
}

/// One INSERT of a batch, its columns bound as arrays: the same statement text for every batch
/// size, so each connection prepares and plans it once (a multi-row `VALUES` list is a new
/// statement for every row count, parsed and planned again each flush).
struct InsertRows {
    id: Vec<Uuid>,
    owner_id: Vec<Uuid>,
    alias_id: Vec<Option<Uuid>>,
    recipient: Vec<String>,
    envelope_sender: Vec<String>,
    /// Each row's `forwarded_to` as a Postgres array literal (arrays of arrays must be
    /// rectangular, so a text[] per row cannot be bound as one two-dimensional array).
    forwarded_to: Vec<String>,
    size_bytes: Vec<i64>,
    status: Vec<String>,
    queue_id: Vec<Option<String>>,
    mode: Vec<Option<String>>,
    subject: Vec<Option<String>>,
    auth_spf: Vec<Option<String>>,
    auth_dkim: Vec<Option<String>>,
    auth_dmarc: Vec<Option<String>>,
    auth_arc: Vec<Option<String>>,
    contact_id: Vec<Option<Uuid>>,
    reverse_alias: Vec<Option<String>>,
}

impl InsertRows {
    fn new(rows: &[NewMessage]) -> Self {
        let column = |f: fn(&NewMessage) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        Self {
            id: rows.iter().map(|r| r.id).collect(),
            owner_id: rows.iter().map(|r| r.owner_id).collect(),
            alias_id: rows.iter().map(|r| r.alias_id).collect(),
            recipient: rows.iter().map(|r| r.recipient.clone()).collect(),
            envelope_sender: rows.iter().map(|r| r.envelope_sender.clone()).collect(),
            forwarded_to: rows.iter().map(|r| text_array_literal(&r.forwarded_to)).collect(),
            size_bytes: rows.iter().map(|r| r.size_bytes).collect(),
            status: rows.iter().map(|r| r.status.clone()).collect(),
            queue_id: column(|r| r.queue_id.clone()),
            mode: column(|r| r.mode.clone()),
            subject: column(|r| r.subject.clone()),
            auth_spf: column(|r| r.auth_spf.clone()),
            auth_dkim: column(|r| r.auth_dkim.clone()),
            auth_dmarc: column(|r| r.auth_dmarc.clone()),
            auth_arc: column(|r| r.auth_arc.clone()),
            contact_id: rows.iter().map(|r| r.contact_id).collect(),
            reverse_alias: column(|r| r.reverse_alias.clone()),
        }
    }
}

impl QueryFragment<Pg> for InsertRows {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid as SqlUuid};
        out.push_sql(
            "INSERT INTO messages (id, owner_id, alias_id, recipient, envelope_sender, forwarded_to, \
             size_bytes, status, queue_id, mode, subject, auth_spf, auth_dkim, auth_dmarc, auth_arc, \
             contact_id, reverse_alias) \
             SELECT id, owner_id, alias_id, recipient, envelope_sender, forwarded_to::text[], \
             size_bytes, status, queue_id, mode, subject, auth_spf, auth_dkim, auth_dmarc, auth_arc, \
             contact_id, reverse_alias FROM unnest(",
        );
        out.push_bind_param::<Array<SqlUuid>, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SqlUuid>, _>(&self.owner_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<SqlUuid>>, _>(&self.alias_id)?;
        for text in [&self.recipient, &self.envelope_sender, &self.forwarded_to] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.size_bytes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.status)?;
        for text in [
            &self.queue_id,
            &self.mode,
            &self.subject,
            &self.auth_spf,
            &self.auth_dkim,
            &self.auth_dmarc,
            &self.auth_arc,
        ] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<SqlUuid>>, _>(&self.contact_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.reverse_alias)?;
        out.push_sql(
            ") AS r(id, owner_id, alias_id, recipient, envelope_sender, forwarded_to, size_bytes, status, \
             queue_id, mode, subject, auth_spf, auth_dkim, auth_dmarc, auth_arc, contact_id, reverse_alias)",
        );
        Ok(())
    }
}

impl QueryId for InsertRows {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// `items` as a Postgres array literal: every element double-quoted (backslash before `"` and
/// `\`), SQL NULLs as the bare word NULL.
fn text_array_literal(items: &[Option<String>]) -> String {
    let mut literal = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        match item {
            None => literal.push_str("NULL"),
            Some(text) => {
                literal.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        literal.push('\\');
                    }
                    literal.push(c);
                }
                literal.push('"');
            }
        }
    }
    literal.push('}');
    literal
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A pool that never connects: nothing listens on port 1.
    fn unreachable_db() -> Db {
        Db::new("postgres://nobody@127.0.0.1:1/none", 1, Duration::from_millis(200)).unwrap()
    }

    fn row() -> NewMessage {
        NewMessage {
            id: Uuid::new_v4(),
            owner_id: Uuid::new_v4(),
            alias_id: None,
            recipient: "a@example.com".to_owned(),
            envelope_sender: String::new(),
            forwarded_to: Vec::new(),
            size_bytes: 1,
            status: "forwarded".to_owned(),
            queue_id: None,
            mode: None,
            subject: None,
            auth_spf: None,
            auth_dkim: None,
            auth_dmarc: None,
            auth_arc: None,
            contact_id: None,
            reverse_alias: None,
        }
    }

    #[tokio::test]
    async fn an_idle_writer_does_not_wake_until_a_row_arrives() {
        let log = MessageLog::spawn(unreachable_db(), Duration::from_millis(2), 10);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(AtomicU64::load(&log.shared.rounds, Ordering::Relaxed), 0, "nothing queued, yet the writer woke up");
        assert_eq!(log.batches(), 0);
        assert!(log.healthy());

        log.record(vec![row()]).unwrap();
        // The write fails (no database): the attempt is counted and the log turns unhealthy.
        for _ in 0..200 {
            if !log.healthy() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // More than one attempt if this thread was slow: the writer retries every 50 ms.
        assert!(log.batches() >= 1);
        assert!(!log.healthy());
        assert!(matches!(log.record(vec![row()]), Err(LogError::Unhealthy)));
    }

    #[tokio::test]
    async fn a_row_queued_while_idle_is_not_held_past_the_interval() {
        // A long interval: only the wake from `record` plus the interval can start the write.
        let log = MessageLog::spawn(unreachable_db(), Duration::from_millis(50), 10);
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.record(vec![row()]).unwrap();
        let start = std::time::Instant::now();
        while log.batches() == 0 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(log.batches() >= 1);
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "written after {:?}, before the interval",
            start.elapsed()
        );
    }
}
