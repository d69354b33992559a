//! The message log (`messages`), written behind the mail path in small batches.
//!
//! A row per message is bookkeeping: the mail itself is safe in Postfix's queue (DESIGN §7).
//! Inserting it inline cost Postgres a third of a CPU-millisecond per message on our 2-core
//! machines, as much as the whole milter, so rows are queued in a bounded buffer and flushed
//! every `flush_interval` in one multi-row INSERT. The promise to the sender is kept by refusing
//! mail (451) whenever a row cannot be queued: when the buffer is full, or when the last flush
//! failed (the database is down), so an outage never piles up unlogged forwards. Rows that fail
//! to flush stay queued and are retried; a graceful shutdown flushes what is left.
//!
//! An idle writer sleeps until a row arrives and only then waits out the interval, so a milter
//! with no mail has no timer waking it 50 times a second.

use crate::{
    db::{Db, DbError},
    schema::messages,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::Notify;
use uuid::Uuid;

/// One log row to store.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = messages)]
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

/// Rows stored in one INSERT at most (Postgres allows 65535 bind parameters; 8 per row).
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
            shared.batches.fetch_add(1, Ordering::Relaxed);
            match insert(&db, &batch).await {
                Ok(()) => {
                    shared.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
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
        }
        shared.flushed.notify_waiters();
    }
}

async fn insert(db: &Db, rows: &[NewMessage]) -> Result<(), DbError> {
    db.bounded(async {
        let mut conn = db.conn().await?;
        diesel::insert_into(messages::table).values(rows).execute(&mut conn).await?;
        Ok(())
    })
    .await
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
