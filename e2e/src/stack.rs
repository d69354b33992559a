//! The whole mail path for one test: database, milter, Postfix and the capture sink.

use crate::dns::{DnsServer, Zone};
use crate::{
    Admin, CaptureSink, MilterProcess, PostfixInstance, RelayDomains, Secrets, TempDir, TestDb, Transaction, fixture,
    net,
};
use anyhow::{Context, Result};

/// The DKIM selector the stack generates keys under.
pub const DKIM_SELECTOR: &str = "s1";

/// Generates the fixture domain's DKIM keys with the CLI and adds their records to `zone`.
async fn publish_dkim_keys(admin: &Admin, db: &TestDb, mut zone: Zone, ed25519: bool) -> Result<Zone> {
    let mut args = vec!["domain", "dkim", "generate", fixture::DOMAIN, "--selector", DKIM_SELECTOR];
    if ed25519 {
        args.push("--ed25519");
    }
    admin.run(&args).await?;
    let client = db.client().await?;
    let rows = client
        .query("SELECT selector, algorithm, public_key FROM dkim_keys WHERE active", &[])
        .await
        .context("reading the generated DKIM keys")?;
    for row in rows {
        let (selector, algorithm, public_key): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let k = if algorithm == "ed25519-sha256" { "ed25519" } else { "rsa" };
        zone = zone.dkim(&selector, fixture::DOMAIN, &format!("v=DKIM1; k={k}; p={public_key}"));
    }
    Ok(zone)
}

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
    /// A fixed relay_domains list instead of the production socketmap.
    pub static_relay_domains: Option<Vec<String>>,
    /// DNS records the milter resolves (a private dnsmasq; unknown names are NXDOMAIN).
    pub zone: Zone,
    /// Generate DKIM keys for [`fixture::DOMAIN`] with the real CLI before the milter starts,
    /// and publish them in the zone (`Some(true)`: also an Ed25519 key).
    pub dkim: Option<bool>,
    /// Extra environment for the milter (`SMTPY_*` overrides).
    pub milter_env: Vec<(&'static str, &'static str)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            milter: MilterMode::Running,
            pg_admin_url: None,
            static_relay_domains: None,
            zone: Zone::new(),
            dkim: None,
            milter_env: Vec::new(),
        }
    }
}

/// Everything one test needs. Fields drop in order: Postfix first, the database and the
/// temporary directory last.
#[derive(Debug)]
pub struct Stack {
    /// The private Postfix instance.
    pub postfix: PostfixInstance,
    /// The DNS server the milter uses.
    pub dns: DnsServer,
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
    /// The default stack: shared cluster, real milter, relay_domains from its socketmap.
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
        let mut zone = options.zone;
        if let Some(ed25519) = options.dkim {
            zone = publish_dkim_keys(&admin, &db, zone, ed25519).await?;
        }
        let dns = DnsServer::start(&zone).await?;
        let dns_addr = dns.addr().to_string();
        let mut env = vec![("SMTPY_DNS_NAMESERVERS", dns_addr.as_str())];
        env.extend(options.milter_env.iter().copied());
        let sink = CaptureSink::start().await?;
        let milter = match options.milter {
            MilterMode::Running => Some(MilterProcess::spawn_with(db.url(), dir.path(), false, &env).await?),
            MilterMode::RunningUnix => Some(MilterProcess::spawn_with(db.url(), dir.path(), true, &env).await?),
            MilterMode::Down => None,
        };
        let socket = match &milter {
            Some(milter) => milter.socket(),
            None => format!("inet:127.0.0.1:{}", net::free_port()?),
        };
        let relay = match (options.static_relay_domains, &milter) {
            (Some(domains), _) => RelayDomains::Static(domains),
            (None, Some(milter)) => RelayDomains::Socketmap(milter.map_socket()),
            // Down with the milter, as in production.
            (None, None) => RelayDomains::Socketmap(format!("inet:127.0.0.1:{}", net::free_port()?)),
        };
        let postfix = PostfixInstance::start(&dir.path().join("postfix"), sink.port(), Some(&socket), &relay).await?;
        Ok(Self { postfix, dns, milter, sink, admin, db, secrets, dir })
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
