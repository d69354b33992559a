//! The whole mail path for one test: database, milter, Postfix and the capture sink.

use crate::{
    Admin, CaptureSink, MilterProcess, PostfixInstance, RelayDomains, Secrets, TempDir, TestDb, Transaction, fixture,
    net,
};
use anyhow::Result;

/// What runs at the milter address Postfix is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilterMode {
    /// The real `smtpy-milter` on TCP.
    Running,
    /// The real `smtpy-milter` on a unix socket.
    RunningUnix,
    /// Nothing: Postfix is configured with a milter address where nobody listens.
    Down,
}

/// How to build a [`Stack`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Milter or not.
    pub milter: MilterMode,
    /// The admin URL of the cluster for the test database (default: the shared cluster).
    pub pg_admin_url: Option<String>,
    /// A fixed relay_domains list instead of the production pgsql map.
    pub static_relay_domains: Option<Vec<String>>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self { milter: MilterMode::Running, pg_admin_url: None, static_relay_domains: None }
    }
}

/// Everything one test needs. Fields drop in order: Postfix first, the database and the
/// temporary directory last.
#[derive(Debug)]
pub struct Stack {
    /// The private Postfix instance.
    pub postfix: PostfixInstance,
    /// The milter, unless the test runs without one.
    pub milter: Option<MilterProcess>,
    /// Where Postfix delivers.
    pub sink: CaptureSink,
    /// The CLI on the test database.
    pub admin: Admin,
    /// The test database, seeded with [`fixture::seed`].
    pub db: TestDb,
    /// The secret key and SRS secret files both binaries are pointed at (inside `dir`).
    pub secrets: Secrets,
    /// Logs and Postfix's files.
    pub dir: TempDir,
}

impl Stack {
    /// The default stack: shared cluster, real milter, pgsql relay_domains map.
    pub async fn start(label: &str) -> Result<Self> {
        Self::start_with(label, StackOptions::default()).await
    }

    /// A stack built as `options` say.
    pub async fn start_with(label: &str, options: StackOptions) -> Result<Self> {
        let dir = TempDir::new(label)?;
        let db = match &options.pg_admin_url {
            Some(url) => TestDb::create_on(url).await?,
            None => TestDb::create().await?,
        };
        let secrets = Secrets::create_in(dir.path())?;
        let admin = Admin::new(db.url())?.with_env(secrets.env());
        fixture::seed(&admin).await?;
        let sink = CaptureSink::start().await?;
        let milter = match options.milter {
            MilterMode::Running => Some(MilterProcess::spawn(db.url(), dir.path()).await?),
            MilterMode::RunningUnix => Some(MilterProcess::spawn_unix(db.url(), dir.path()).await?),
            MilterMode::Down => None,
        };
        let socket = match &milter {
            Some(milter) => milter.socket(),
            None => format!("inet:127.0.0.1:{}", net::free_port()?),
        };
        let relay = match options.static_relay_domains {
            Some(domains) => RelayDomains::Static(domains),
            None => RelayDomains::Pgsql(db.url().to_owned()),
        };
        let postfix = PostfixInstance::start(&dir.path().join("postfix"), sink.port(), Some(&socket), &relay).await?;
        Ok(Self { postfix, milter, sink, admin, db, secrets, dir })
    }

    /// Sends one message to Postfix over SMTP.
    pub async fn send(&self, sender: &str, recipients: &[&str], message: &[u8]) -> Result<Transaction> {
        Transaction::send(self.postfix.smtp_addr(), sender, recipients, message).await
    }

    /// The Postfix and milter logs, for assertion messages.
    pub fn logs(&self) -> String {
        let milter = self.milter.as_ref().map_or_else(|| "(no milter)".to_owned(), MilterProcess::log);
        format!("--- maillog ---\n{}\n--- milter log ---\n{milter}", self.postfix.maillog())
    }
}
