//! A private Postgres cluster that a test may stop and start (the outage test).

use crate::net::free_port;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// Where Debian's Postgres 15 server binaries live (`SMTPY_TEST_PG_BIN` overrides).
fn pg_bin(tool: &str) -> PathBuf {
    let dir = std::env::var("SMTPY_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned());
    Path::new(&dir).join(tool)
}

/// Runs `tool ARGS` as the `postgres` OS user (the server refuses to run as root).
async fn run_as_postgres(tool: &str, args: &[&str]) -> Result<()> {
    let bin = pg_bin(tool);
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&bin)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {} via runuser", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{tool} {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(())
}

/// A cluster in `DIR/pg` on a free port of 127.0.0.1, superuser `root` (trust auth).
/// Stopped (immediate mode) on drop.
#[derive(Debug)]
pub struct PgCluster {
    root: PathBuf,
    port: u16,
    running: bool,
}

impl PgCluster {
    /// Creates the cluster under `dir` (initdb) and starts it.
    pub async fn start_new(dir: &Path) -> Result<Self> {
        let root = dir.join("pg");
        std::fs::create_dir_all(root.join("socket"))?;
        let status = std::process::Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root).status()?;
        if !status.success() {
            bail!("chown postgres {} failed", root.display());
        }
        let data = root.join("data");
        let data = data.to_str().context("non-UTF-8 temp path")?;
        run_as_postgres(
            "initdb",
            &["-D", data, "-U", "root", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
        )
        .await?;
        let mut cluster = Self { root, port: free_port()?, running: false };
        cluster.start().await?;
        Ok(cluster)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&mut self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.path("socket")?
        );
        let (data, log) = (self.path("data")?, self.path("server.log")?);
        run_as_postgres("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"])
            .await
            .with_context(|| format!("see {log}"))?;
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast mode: open connections are terminated), waiting until it is down.
    pub async fn stop(&mut self) -> Result<()> {
        run_as_postgres("pg_ctl", &["-D", &self.path("data")?, "-m", "fast", "-w", "-t", "60", "stop"]).await?;
        self.running = false;
        Ok(())
    }

    /// The superuser URL of the `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://root:root@127.0.0.1:{}/postgres", self.port)
    }

    fn path(&self, name: &str) -> Result<String> {
        self.root.join(name).to_str().map(str::to_owned).context("non-UTF-8 temp path")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let Ok(data) = self.path("data") else { return };
        let stopped = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
        if !stopped.is_ok_and(|out| out.status.success()) {
            eprintln!("smtpy-e2e: could not stop the private Postgres cluster in {data}");
        }
    }
}
