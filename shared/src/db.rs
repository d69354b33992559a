//! The connection pool, the bounded wait on every operation, and embedded migrations.

use diesel_async::{
    AsyncPgConnection,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        AsyncDieselConnectionManager,
        deadpool::{Object, Pool},
    },
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::{future::Future, time::Duration};

/// The schema migrations, compiled into every binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A pooled connection.
pub type Conn = Object<AsyncPgConnection>;

/// What can go wrong talking to Postgres.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (server down, refused, bad credentials).
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The operation did not finish within the configured timeout.
    #[error("database operation timed out after {0:?}")]
    Timeout(Duration),
    /// The query itself failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl DbError {
    /// Whether this is a unique-constraint violation (for "already exists" answers).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Query(e) if is_unique_violation(e))
    }
}

/// Whether a query failed on a unique constraint.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// The database handle: a pool plus the bound on how long any operation may take.
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
    url: String,
    timeout: Duration,
}

impl Db {
    /// Builds the pool. No connection is opened until first use, so a process can start (and
    /// answer `451` rather than crash) while Postgres is down.
    pub fn new(url: &str, pool_size: usize, timeout: Duration) -> Result<Self, DbError> {
        Self::with_manager(AsyncDieselConnectionManager::<AsyncPgConnection>::new(url), url, pool_size, timeout)
    }

    /// Like [`Db::from_config`], but every connection commits without waiting for the WAL
    /// flush (`synchronous_commit = off`). For the milter, whose only writes are message-log
    /// rows: a commit then costs microseconds instead of a disk flush (about 4 ms on our
    /// machines, which would more than double a message's latency). A Postgres crash can lose
    /// the last fraction of a second of log rows, never mail: the mail is in Postfix's queue.
    ///
    /// A pooled connection is also handed out again without a `SELECT 1` first (a round trip
    /// and a statement for Postgres on every message-log flush): one whose server went away is
    /// still noticed (its socket is closed) and replaced; a query that fails on one anyway
    /// fails like any other, and the milter answers 451.
    pub fn relaxed_commit_from_config(config: &crate::config::DatabaseConfig) -> Result<Self, DbError> {
        use diesel_async::{
            AsyncConnection, RunQueryDsl,
            pooled_connection::{ManagerConfig, RecyclingMethod},
        };
        use futures_util::FutureExt;
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(|url| {
            async move {
                let mut conn = AsyncPgConnection::establish(url).await?;
                diesel::sql_query("SET synchronous_commit = off")
                    .execute(&mut conn)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::new_with_config(&config.url, manager_config);
        Self::with_manager(manager, &config.url, usize::try_from(config.pool_size).unwrap_or(8), config.timeout())
    }

    fn with_manager(
        manager: AsyncDieselConnectionManager<AsyncPgConnection>,
        url: &str,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<Self, DbError> {
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(|e| DbError::Connect(e.to_string()))?;
        Ok(Self { pool, url: url.to_owned(), timeout })
    }

    /// Builds the pool from the `[database]` section.
    pub fn from_config(config: &crate::config::DatabaseConfig) -> Result<Self, DbError> {
        Self::new(&config.url, usize::try_from(config.pool_size).unwrap_or(8), config.timeout())
    }

    /// The connection URL (for the change listener, which needs a connection of its own).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The per-operation bound.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Takes a connection from the pool (opening one if needed).
    pub async fn conn(&self) -> Result<Conn, DbError> {
        self.pool.get().await.map_err(|e| DbError::Connect(e.to_string()))
    }

    /// Runs `work` (which usually takes a connection and queries) within the configured bound.
    pub async fn bounded<T>(&self, work: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
        tokio::time::timeout(self.timeout, work).await.map_err(|_| DbError::Timeout(self.timeout))?
    }

    /// Applies pending migrations and returns the names of those applied.
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        let url = self.url.clone();
        // The migration harness is synchronous; it gets a thread of its own.
        tokio::task::spawn_blocking(move || {
            use diesel::Connection;
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
                .map_err(|e| DbError::Connect(e.to_string()))?;
            conn.run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(|e| DbError::Migration(e.to_string()))
        })
        .await
        .map_err(|e| DbError::Migration(e.to_string()))?
    }
}
