//! Databases: a fresh one per test, migrated by the real `smtpy-admin migrate`.

use anyhow::{Context, Result, bail};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// The shared cluster's admin URL: `SMTPY_TEST_PG_URL`, or the local default.
pub fn shared_admin_url() -> String {
    std::env::var("SMTPY_TEST_PG_URL").unwrap_or_else(|_| "postgres://root:root@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn url_with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").context("database URL has no scheme")? + 3;
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Connects to `url`, giving up after ten seconds.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio::time::timeout(Duration::from_secs(10), tokio_postgres::connect(url, NoTls))
        .await
        .with_context(|| format!("connecting to {url} timed out"))?
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes away.
        let _ = connection.await;
    });
    Ok(client)
}

/// One row of the `messages` log, with its alias's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// The alias recipient as received.
    pub recipient: String,
    /// The envelope sender (MAIL FROM).
    pub envelope_sender: String,
    /// The mailboxes the message went to.
    pub forwarded_to: Vec<String>,
    /// The message size the milter measured.
    pub size_bytes: i64,
    /// `forwarded`, `rejected`, ...
    pub status: String,
    /// Postfix's queue id.
    pub queue_id: Option<String>,
    /// The address of the alias the row belongs to.
    pub alias: Option<String>,
}

/// A database created for one test and dropped (`WITH (FORCE)`) when the guard goes.
#[derive(Debug)]
pub struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates and migrates a database on the shared cluster.
    pub async fn create() -> Result<Self> {
        Self::create_on(&shared_admin_url()).await
    }

    /// Creates and migrates a database on the cluster that `admin_url` reaches.
    pub async fn create_on(admin_url: &str) -> Result<Self> {
        let name = format!("smtpy_e2e_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(admin_url).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
        let db = Self { admin_url: admin_url.to_owned(), url: url_with_database(admin_url, &name)?, name };
        crate::Admin::new(&db.url)?.migrate().await?;
        Ok(db)
    }

    /// The database's URL (for `SMTPY_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to the database.
    pub async fn client(&self) -> Result<Client> {
        connect(&self.url).await
    }

    /// Every row of the message log, oldest first.
    pub async fn messages(&self) -> Result<Vec<MessageRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT m.recipient, m.envelope_sender, m.forwarded_to, m.size_bytes, m.status, \
                 m.queue_id, a.address FROM messages m LEFT JOIN aliases a ON a.id = m.alias_id \
                 ORDER BY m.received_at, m.id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    recipient: r.try_get(0)?,
                    envelope_sender: r.try_get(1)?,
                    forwarded_to: r.try_get(2)?,
                    size_bytes: r.try_get(3)?,
                    status: r.try_get(4)?,
                    queue_id: r.try_get(5)?,
                    alias: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Waits until the message log holds at least `n` rows; returns them all.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Result<Vec<MessageRow>> {
        crate::wait::poll_until(&format!("{n} messages rows"), timeout, || async {
            let rows = self.messages().await?;
            Ok((rows.len() >= n).then_some(rows))
        })
        .await
    }

    async fn drop_database(admin_url: String, name: String) -> Result<()> {
        let admin = connect(&admin_url).await?;
        // FORCE: the milter may still hold connections.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await; run the DROP on a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(Self::drop_database(admin_url, name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("smtpy-e2e: could not drop database {}: {err:#}", self.name),
            Err(_) => eprintln!("smtpy-e2e: dropping database {} panicked", self.name),
        }
    }
}

/// Fails unless exactly one row exists; returns it.
pub fn single_row(rows: &[MessageRow]) -> Result<&MessageRow> {
    match rows {
        [row] => Ok(row),
        _ => bail!("expected exactly one messages row, found {}: {rows:#?}", rows.len()),
    }
}
