//! A private Postfix instance, started and stopped with `postfix-config/instance.sh`.

use crate::{bins::postfix_config_dir, net, wait::poll_until};
use anyhow::{Context, Result, bail};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::process::Command;

/// Where the instance takes its `relay_domains` from.
#[derive(Debug, Clone)]
pub enum RelayDomains {
    /// The production socketmap: smtpy-milter's `[milter] map_listen` address.
    Socketmap(String),
    /// A fixed list (for tests whose database may be down).
    Static(Vec<String>),
}

/// A running instance: smtpd on a free port of 127.0.0.1, everything relayed to a sink port.
/// Its log is `DIR/maillog`. Stopped on drop.
#[derive(Debug)]
pub struct PostfixInstance {
    dir: PathBuf,
    smtp_addr: SocketAddr,
    running: bool,
}

fn script() -> PathBuf {
    postfix_config_dir().join("instance.sh")
}

impl PostfixInstance {
    /// Starts an instance in `dir` relaying to `127.0.0.1:sink_port`, with `milter` (a Postfix
    /// milter address) or none.
    pub async fn start(dir: &Path, sink_port: u16, milter: Option<&str>, relay: &RelayDomains) -> Result<Self> {
        // A port free a moment ago may be taken by then (any outgoing connection can get it):
        // try another one.
        let mut attempt = 1;
        loop {
            match Self::start_once(dir, sink_port, milter, relay).await {
                Err(err) if attempt < 3 && format!("{err:#}").contains("Address already in use") => attempt += 1,
                result => return result,
            }
        }
    }

    async fn start_once(dir: &Path, sink_port: u16, milter: Option<&str>, relay: &RelayDomains) -> Result<Self> {
        let smtp_addr: SocketAddr = ([127, 0, 0, 1], net::free_port()?).into();
        let mut cmd = Command::new("bash");
        cmd.arg(script()).arg("start").arg(dir);
        cmd.args(["--smtp-port", &smtp_addr.port().to_string(), "--sink-port", &sink_port.to_string()]);
        match milter {
            Some(milter) => cmd.args(["--milter", milter]),
            None => cmd.arg("--no-milter"),
        };
        match relay {
            RelayDomains::Socketmap(addr) => cmd.args(["--socketmap", addr]),
            RelayDomains::Static(domains) => cmd.args(["--relay-domains", &domains.join(" ")]),
        };
        let out = cmd.kill_on_drop(true).output().await.context("running postfix-config/instance.sh")?;
        if !out.status.success() {
            bail!(
                "instance.sh start failed:\n{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let instance = Self { dir: dir.to_owned(), smtp_addr, running: true };
        net::wait_for_listener(smtp_addr, Duration::from_secs(20))
            .await
            .with_context(|| format!("Postfix is not listening; maillog:\n{}", instance.maillog()))?;
        Ok(instance)
    }

    /// Where smtpd listens.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// The instance's log so far.
    pub fn maillog(&self) -> String {
        let path = self.dir.join("maillog");
        std::fs::read_to_string(&path).unwrap_or_else(|err| format!("({}: {err})", path.display()))
    }

    /// How many messages sit in the queue (incoming, active, deferred, hold, maildrop).
    pub fn queued_messages(&self) -> Result<usize> {
        let spool = self.dir.join("spool");
        ["maildrop", "incoming", "active", "deferred", "hold"].iter().map(|queue| count_files(&spool.join(queue))).sum()
    }

    /// Waits until the queue is empty: every accepted message was delivered (or bounced).
    pub async fn wait_queue_empty(&self, timeout: Duration) -> Result<()> {
        poll_until("an empty Postfix queue", timeout, || async { Ok((self.queued_messages()? == 0).then_some(())) })
            .await
            .with_context(|| format!("maillog:\n{}", self.maillog()))
    }

    /// Like [`Self::wait_queue_empty`], for a sending MTA that must retry on its own: asks it
    /// to flush its queue (`postqueue -f`) every second while waiting.
    ///
    /// With the instances' one-second backoff, qmgr can take a deferred message back while the
    /// delivery agent that deferred it still holds its lock. qmgr then logs "skipped, still
    /// being delivered" and sets the message aside for 60 seconds, longer than a test waits;
    /// it happened once under full-suite load. A flush rescans ignoring those time stamps.
    pub async fn flush_until_queue_empty(&self, timeout: Duration) -> Result<()> {
        let config = self.dir.join("etc");
        let mut next_flush = tokio::time::Instant::now() + Duration::from_secs(1);
        poll_until("an empty Postfix queue (flushed every second)", timeout, || {
            let config = config.clone();
            let flush = tokio::time::Instant::now() >= next_flush;
            if flush {
                next_flush = tokio::time::Instant::now() + Duration::from_secs(1);
            }
            async move {
                if self.queued_messages()? == 0 {
                    return Ok(Some(()));
                }
                if flush {
                    let out = Command::new("postqueue").arg("-c").arg(&config).arg("-f").output().await?;
                    if !out.status.success() {
                        bail!("postqueue -f failed: {}", String::from_utf8_lossy(&out.stderr));
                    }
                }
                Ok(None)
            }
        })
        .await
        .with_context(|| format!("maillog:\n{}", self.maillog()))
    }

    /// Looks `domain` up in the instance's `relay_domains` table with `postmap -q`, as Postfix
    /// does: `Some(value)` when listed.
    pub async fn lookup_relay_domain(&self, domain: &str) -> Result<Option<String>> {
        let config = self.dir.join("etc");
        let table = Command::new("postconf").arg("-c").arg(&config).args(["-h", "relay_domains"]).output().await?;
        let table = String::from_utf8_lossy(&table.stdout).trim().to_owned();
        let out = Command::new("postmap").arg("-c").arg(&config).args(["-q", domain, &table]).output().await?;
        match out.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
            Some(1) => Ok(None),
            _ => bail!("postmap -q {domain} {table} failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Stops the instance and waits until its master has exited.
    pub async fn stop(&mut self) -> Result<()> {
        let out = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).output().await?;
        if !out.status.success() {
            bail!("instance.sh stop failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        self.running = false;
        Ok(())
    }
}

fn count_files(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    let mut count = 0;
    for entry in entries {
        let entry = entry?;
        // The deferred queue hashes files into subdirectories.
        count += if entry.file_type()?.is_dir() { count_files(&entry.path())? } else { 1 };
    }
    Ok(count)
}

impl Drop for PostfixInstance {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let stopped = std::process::Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        if !stopped.is_ok_and(|status| status.success()) {
            eprintln!("smtpy-e2e: could not stop the Postfix instance in {}", self.dir.display());
        }
    }
}
