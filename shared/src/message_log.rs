//! The message log (`messages`), written with group commit.
//!
//! The milter must not accept a message before its log row is stored, but one INSERT and
//! COMMIT per message would make Postgres, sharing the cores with Postfix, the bottleneck.
//! Each caller hands its rows to one writer task and waits; the writer takes everything queued
//! meanwhile and stores it in one multi-row INSERT, then answers every waiter. Under load the
//! batches grow by themselves; alone, a message waits for exactly one INSERT.

use crate::{
    db::{Db, DbError},
    schema::messages,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// One log row to store.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage {
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
}

/// Why rows were not stored.
#[derive(Clone, Debug, thiserror::Error)]
#[error("message log not written: {0}")]
pub struct LogError(String);

type Job = (Vec<NewMessage>, oneshot::Sender<Result<(), LogError>>);

/// Handle to the writer task.
#[derive(Clone)]
pub struct MessageLog {
    jobs: mpsc::Sender<Job>,
}

/// Rows stored in one INSERT at most (Postgres allows 65535 bind parameters; 8 per row).
const MAX_BATCH_ROWS: usize = 1000;

impl MessageLog {
    /// Spawns the writer on the current runtime.
    pub fn spawn(db: Db) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(write_batches(db, rx));
        Self { jobs }
    }

    /// Stores `rows`, returning once they are committed.
    pub async fn record(&self, rows: Vec<NewMessage>) -> Result<(), LogError> {
        if rows.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.jobs.send((rows, done)).await.map_err(|_| LogError("writer stopped".to_owned()))?;
        wait.await.map_err(|_| LogError("writer stopped".to_owned()))?
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut rows: usize = batch[0].0.len();
        while rows < MAX_BATCH_ROWS {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.0.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let all: Vec<NewMessage> = batch.iter().flat_map(|(r, _)| r.iter().cloned()).collect();
        let result = insert(&db, &all).await.map_err(|e| {
            tracing::error!("message log: {e}");
            LogError(e.to_string())
        });
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
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
