//! The real `smtpy-milter`, as a child process.

use crate::{Secrets, bins::binary, net, wait::poll_until};
use anyhow::{Context, Result, bail};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UnixStream},
    process::{Child, Command},
};

/// Where the milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterSocket {
    /// TCP on 127.0.0.1.
    Inet(SocketAddr),
    /// A unix-domain socket.
    Unix(PathBuf),
}

impl MilterSocket {
    /// The address as Postfix and `smtpy-milter --listen` write it.
    pub fn postfix_address(&self) -> String {
        match self {
            Self::Inet(addr) => format!("inet:{addr}"),
            Self::Unix(path) => format!("unix:{}", path.display()),
        }
    }

    async fn accepts_connections(&self) -> bool {
        match self {
            Self::Inet(addr) => TcpStream::connect(addr).await.is_ok(),
            Self::Unix(path) => UnixStream::connect(path).await.is_ok(),
        }
    }
}

/// A running `smtpy-milter`, killed on drop. Its output goes to `DIR/milter.log`.
#[derive(Debug)]
pub struct MilterProcess {
    child: Child,
    /// The empty DNS zone the milter resolves against when the test gave it no server.
    _dns: Option<crate::dns::DnsServer>,
    socket: MilterSocket,
    metrics_addr: SocketAddr,
    /// The socketmap answering Postfix's `relay_domains` lookups.
    map_addr: SocketAddr,
    log: PathBuf,
}

impl MilterProcess {
    /// Starts the milter on a free TCP port against `db_url` (schema already migrated) and
    /// waits until it accepts connections.
    pub async fn spawn(db_url: &str, dir: &Path) -> Result<Self> {
        Self::spawn_with(db_url, dir, false, &[]).await
    }

    /// As [`MilterProcess::spawn`], on the unix socket `DIR/milter.sock`.
    pub async fn spawn_unix(db_url: &str, dir: &Path) -> Result<Self> {
        Self::spawn_with(db_url, dir, true, &[]).await
    }

    /// On a free TCP port or (`unix`) on `DIR/milter.sock`, with extra `SMTPY_*` variables.
    pub async fn spawn_with(db_url: &str, dir: &Path, unix: bool, env: &[(&str, &str)]) -> Result<Self> {
        if unix {
            Self::spawn_retrying(db_url, dir, env, || Ok(MilterSocket::Unix(dir.join("milter.sock")))).await
        } else {
            Self::spawn_retrying(db_url, dir, env, || {
                Ok(MilterSocket::Inet(([127, 0, 0, 1], net::free_port()?).into()))
            })
            .await
        }
    }

    /// A port free a moment ago may be taken by the time the milter binds it (any outgoing
    /// connection can get it): try fresh ports a few times.
    async fn spawn_retrying(
        db_url: &str,
        dir: &Path,
        env: &[(&str, &str)],
        socket: impl Fn() -> Result<MilterSocket>,
    ) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::spawn_on(socket()?, db_url, dir, env).await {
                Err(err) if attempt < 3 && format!("{err:#}").contains("Address already in use") => attempt += 1,
                result => return result,
            }
        }
    }

    /// Starts the milter on `socket`, with extra environment variables (`SMTPY_*` overrides).
    /// It reads the secret files in `dir` ([`Secrets::create_in`], made if missing).
    pub async fn spawn_on(socket: MilterSocket, db_url: &str, dir: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let metrics_addr: SocketAddr = ([127, 0, 0, 1], net::free_port()?).into();
        let map_addr: SocketAddr = ([127, 0, 0, 1], net::free_port()?).into();
        let log = dir.join("milter.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(binary("smtpy-milter")?);
        cmd.arg("--listen").arg(socket.postfix_address()).arg("--metrics-listen").arg(metrics_addr.to_string());
        cmd.arg("--map-listen").arg(format!("inet:{map_addr}"));
        // Only our settings: a developer's SMTPY_* variables must not leak into the test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SMTPY_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("SMTPY_DATABASE_URL", db_url).env("SMTPY_LOG_LEVEL", "debug");
        // Never the system resolver: only loopback may be queried here. Tests that need DNS
        // records pass their own server in `env`; otherwise an empty zone answers NXDOMAIN at
        // once (a closed port would cost resolver time-outs on every message).
        let dns = if env.iter().any(|(k, _)| *k == "SMTPY_DNS_NAMESERVERS") {
            None
        } else {
            let server = crate::dns::DnsServer::start(&crate::dns::Zone::new()).await?;
            cmd.env("SMTPY_DNS_NAMESERVERS", server.addr().to_string());
            Some(server)
        };
        cmd.envs(Secrets::create_in(dir)?.env()).envs(env.iter().copied());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting smtpy-milter")?;
        let mut milter = Self { child, _dns: dns, socket, metrics_addr, map_addr, log };
        milter.wait_ready().await?;
        Ok(milter)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let what = format!("smtpy-milter on {}", self.socket.postfix_address());
        let socket = self.socket.clone();
        let ready = poll_until(&what, Duration::from_secs(20), || {
            let socket = socket.clone();
            async move { Ok(socket.accepts_connections().await.then_some(())) }
        })
        .await;
        if let Some(status) = self.child.try_wait()? {
            bail!("smtpy-milter exited ({status}) during start-up:\n{}", self.log());
        }
        ready.with_context(|| format!("milter log:\n{}", self.log()))
    }

    /// The milter's socket as Postfix writes it: `inet:127.0.0.1:PORT` or `unix:/path`.
    pub fn socket(&self) -> String {
        self.socket.postfix_address()
    }

    /// The socketmap as Postfix's `relay_domains` names it: `inet:127.0.0.1:PORT`.
    pub fn map_socket(&self) -> String {
        format!("inet:{}", self.map_addr)
    }

    /// The milter's TCP address (for `indymilter-test`); an error for a unix socket.
    pub fn addr(&self) -> Result<SocketAddr> {
        match &self.socket {
            MilterSocket::Inet(addr) => Ok(*addr),
            MilterSocket::Unix(path) => bail!("the milter listens on unix:{}", path.display()),
        }
    }

    /// Everything the milter has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|err| format!("({}: {err})", self.log.display()))
    }

    /// The value of an unlabelled counter or gauge from `/metrics`.
    pub async fn metric(&self, name: &str) -> Result<u64> {
        let (code, body) = self.http_get("/metrics").await?;
        anyhow::ensure!(code == 200, "/metrics answered {code}");
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("no metric {name} in:\n{body}"))
    }

    /// Waits until the milter has emptied its routing cache more often than `before` times:
    /// a change made with the CLI has reached it through LISTEN/NOTIFY.
    pub async fn wait_for_invalidation(&self, before: u64) -> Result<()> {
        const METRIC: &str = "smtpy_milter_cache_invalidations_total";
        poll_until("the milter to hear the routing change", Duration::from_secs(10), || async {
            Ok((self.metric(METRIC).await? > before).then_some(()))
        })
        .await
    }

    /// `GET path` on the metrics listener: (status code, body).
    pub async fn http_get(&self, path: &str) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect(self.metrics_addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.metrics_addr);
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n").context("malformed HTTP response")?;
        let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no HTTP status")?;
        Ok((code, body.to_owned()))
    }
}

impl Drop for MilterProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
