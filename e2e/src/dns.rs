//! A local DNS server for SPF, DKIM, DMARC and ARC tests: Debian's dnsmasq on 127.0.0.1 (UDP
//! and TCP), answering only the records a test declares in a [`Zone`].
//!
//! dnsmasq reads its whole configuration from stdin (`--conf-file=-`), so nothing of the host
//! leaks in: no `/etc/dnsmasq.conf`, no `/etc/hosts`, no `resolv.conf`, no upstream server.
//! `local=/#/` makes every name it has no record for answer `NXDOMAIN` at once (without it,
//! dnsmasq answers `REFUSED` for lack of an upstream). A name that has records, but not of the
//! type asked, answers `NOERROR` with no data. Answers are not flagged authoritative (`aa`).

use crate::{net, wait::poll_until};
use anyhow::{Context, Result, bail};
use mail_auth::{
    MessageAuthenticator,
    hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts},
};
use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::{Child, ChildStderr, Command, Stdio},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::net::{TcpStream, UdpSocket};

/// The dnsmasq binary (package `dnsmasq-base`).
const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// How long dnsmasq may take to answer its first query.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// dnsmasq reads configuration lines into a buffer of about 1 KiB and rejects longer ones
/// ("missing \""), so a TXT value longer than this cannot be declared. An RSA-4096 DKIM key
/// record (about 740 characters) still fits.
const MAX_CONFIG_LINE: usize = 1000;

/// One record of a [`Zone`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A TXT record; dnsmasq splits a value longer than 255 bytes into 255-byte strings.
    Txt {
        /// The owner name.
        name: String,
        /// The value, as resolvers return it once the strings are joined.
        value: String,
    },
    /// An MX record.
    Mx {
        /// The domain that receives mail.
        domain: String,
        /// The mail exchanger.
        host: String,
        /// The preference (lower is tried first).
        preference: u16,
    },
    /// An A record (dnsmasq also answers the matching PTR query).
    A {
        /// The owner name.
        name: String,
        /// The address.
        ip: Ipv4Addr,
    },
}

/// The records a test's DNS server answers; every other name is `NXDOMAIN`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    records: Vec<Record>,
}

impl Zone {
    /// An empty zone: every query answers `NXDOMAIN`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TXT record (any length up to about 1000 characters, printable ASCII).
    pub fn txt(mut self, name: &str, value: &str) -> Self {
        self.records.push(Record::Txt { name: name.to_owned(), value: value.to_owned() });
        self
    }

    /// Adds an MX record of preference 10.
    pub fn mx(self, domain: &str, host: &str) -> Self {
        self.mx_with_preference(domain, host, 10)
    }

    /// Adds an MX record with an explicit preference.
    pub fn mx_with_preference(mut self, domain: &str, host: &str, preference: u16) -> Self {
        self.records.push(Record::Mx { domain: domain.to_owned(), host: host.to_owned(), preference });
        self
    }

    /// Adds an A record.
    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.records.push(Record::A { name: name.to_owned(), ip });
        self
    }

    /// Publishes `domain`'s SPF policy, e.g. `v=spf1 ip4:127.0.0.1 -all`.
    pub fn spf(self, domain: &str, policy: &str) -> Self {
        self.txt(domain, policy)
    }

    /// Publishes `domain`'s DMARC policy at `_dmarc.DOMAIN`, e.g. `v=DMARC1; p=reject`.
    pub fn dmarc(self, domain: &str, policy: &str) -> Self {
        self.txt(&format!("_dmarc.{domain}"), policy)
    }

    /// Publishes a DKIM key record at `SELECTOR._domainkey.DOMAIN`.
    pub fn dkim(self, selector: &str, domain: &str, key_record: &str) -> Self {
        self.txt(&format!("{selector}._domainkey.{domain}"), key_record)
    }

    /// The records declared so far, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The dnsmasq configuration that serves exactly this zone.
    pub fn dnsmasq_config(&self) -> Result<String> {
        let mut config = String::from("local=/#/\n");
        for record in &self.records {
            let line = match record {
                Record::Txt { name, value } => format!("txt-record={},{}", check_name(name)?, quote(name, value)?),
                Record::Mx { domain, host, preference } => {
                    format!("mx-host={},{},{preference}", check_name(domain)?, check_name(host)?)
                }
                Record::A { name, ip } => format!("host-record={},{ip}", check_name(name)?),
            };
            if line.len() > MAX_CONFIG_LINE {
                bail!(
                    "the record for {line:.60}… is {} bytes long: dnsmasq accepts at most {MAX_CONFIG_LINE}",
                    line.len()
                );
            }
            writeln!(config, "{line}")?;
        }
        Ok(config)
    }
}

/// A domain name as dnsmasq's option parser takes it: no separators, quotes or spaces.
fn check_name(name: &str) -> Result<&str> {
    let name = name.trim_end_matches('.');
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b));
    if !valid {
        bail!("{name:?} is not a domain name this test DNS server can serve");
    }
    Ok(name)
}

/// A TXT value as one quoted dnsmasq string: inside quotes `,` and `#` lose their meaning and
/// only `\\` and `\"` need escaping.
fn quote(name: &str, value: &str) -> Result<String> {
    if let Some(c) = value.chars().find(|c| !(' '..='~').contains(c)) {
        bail!("TXT value for {name} contains {c:?}: only printable ASCII is supported");
    }
    Ok(format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// What dnsmasq has written to stderr (its log, with every query), and whether it closed it.
#[derive(Debug, Default)]
struct Output {
    text: Mutex<String>,
    closed: AtomicBool,
}

impl Output {
    fn text(&self) -> String {
        self.text.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Copies `stderr` into `self` until dnsmasq closes it (that is, exits). A thread, not a
    /// task: the pipe must keep draining even while a test blocks its runtime (dkimpy runs).
    fn collect(&self, stderr: ChildStderr) {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
            text.push_str(&line);
            text.push('\n');
        }
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// A running dnsmasq serving a [`Zone`] on 127.0.0.1, killed (and reaped) on drop.
#[derive(Debug)]
pub struct DnsServer {
    child: Child,
    addr: SocketAddr,
    output: Arc<Output>,
}

impl DnsServer {
    /// Starts dnsmasq for `zone` on a free port and waits until it answers a query.
    pub async fn start(zone: &Zone) -> Result<Self> {
        let config = zone.dnsmasq_config()?;
        // The port was free for TCP a moment ago; UDP, or a racing test, may still hold it.
        let mut attempt = 1;
        loop {
            let addr = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
            match Self::start_on(addr, &config).await {
                Err(err) if attempt < 3 && format!("{err:#}").contains("Address already in use") => attempt += 1,
                result => return result,
            }
        }
    }

    async fn start_on(addr: SocketAddr, config: &str) -> Result<Self> {
        let mut child = Command::new(DNSMASQ)
            .args(["--keep-in-foreground", "--conf-file=-", "--no-resolv", "--no-hosts", "--no-poll"])
            .arg(format!("--port={}", addr.port()))
            .arg(format!("--listen-address={}", addr.ip()))
            // No DHCP, no pid file, no cache (every answer comes from the configuration anyway).
            .args(["--bind-interfaces", "--pid-file", "--cache-size=0", "--log-facility=-", "--log-queries"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {DNSMASQ} (Debian package dnsmasq-base)"))?;
        let output = Arc::new(Output::default());
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        // From here on, dropping `server` kills dnsmasq.
        let server = Self { child, addr, output };
        if let Some(stderr) = stderr {
            let output = Arc::clone(&server.output);
            std::thread::spawn(move || output.collect(stderr));
        }
        let mut stdin = stdin.context("dnsmasq's stdin")?;
        stdin.write_all(config.as_bytes()).context("writing dnsmasq's configuration")?;
        drop(stdin);
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> Result<()> {
        let addr = self.addr;
        let output = Arc::clone(&self.output);
        poll_until(&format!("dnsmasq on {addr}"), READY_TIMEOUT, || {
            let output = Arc::clone(&output);
            async move {
                if output.closed.load(Ordering::SeqCst) {
                    bail!("dnsmasq exited during start-up:\n{}", output.text());
                }
                Ok((answers_udp(addr).await && TcpStream::connect(addr).await.is_ok()).then_some(()))
            }
        })
        .await
        .with_context(|| format!("dnsmasq log:\n{}", self.output.text()))
    }

    /// Where the server listens, for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// dnsmasq's log so far: start-up messages and one line per query and answer.
    pub fn log(&self) -> String {
        self.output.text()
    }

    /// A hickory resolver configuration that asks only this server (UDP, then TCP).
    pub fn resolver_config(&self) -> ResolverConfig {
        let servers = NameServerConfigGroup::from_ips_clear(&[self.addr.ip()], self.addr.port(), true);
        ResolverConfig::from_parts(None, Vec::new(), servers)
    }

    /// Resolver options for tests: no hosts file, no cache, a short timeout.
    pub fn resolver_opts() -> ResolverOpts {
        let mut opts = ResolverOpts::default();
        opts.use_hosts_file = ResolveHosts::Never;
        opts.cache_size = 0;
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 1;
        opts
    }

    /// A mail-auth authenticator (SPF, DKIM, DMARC, ARC) that resolves through this server.
    pub fn authenticator(&self) -> Result<MessageAuthenticator> {
        MessageAuthenticator::new(self.resolver_config(), Self::resolver_opts())
            .context("creating a mail-auth authenticator")
    }
}

/// Whether a DNS server answers a query on `addr` over UDP within a moment.
async fn answers_udp(addr: SocketAddr) -> bool {
    // A query for `ready.invalid. IN A` with id 0x5e7d and recursion desired (RFC 1035 4.1).
    const QUERY: &[u8] = b"\x5e\x7d\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x07invalid\x00\x00\x01\x00\x01";
    let Ok(socket) = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await else {
        return false;
    };
    if socket.connect(addr).await.is_err() || socket.send(QUERY).await.is_err() {
        return false;
    }
    let mut reply = [0_u8; 512];
    match tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut reply)).await {
        // Same id, and the QR bit says it is a response.
        Ok(Ok(len)) => len >= 12 && reply[..2] == QUERY[..2] && reply[2] & 0x80 != 0,
        _ => false,
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
