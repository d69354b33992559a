//! Driving the real `smtpy-admin` command line.

use crate::bins::binary;
use anyhow::{Context, Result, bail};
use std::{path::PathBuf, process::Stdio};
use tokio::{io::AsyncWriteExt, process::Command};

/// What one `smtpy-admin` run printed and how it ended.
#[derive(Debug)]
pub struct AdminOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// `smtpy-admin` bound to one database.
#[derive(Debug, Clone)]
pub struct Admin {
    bin: PathBuf,
    db_url: String,
    env: Vec<(String, String)>,
}

impl Admin {
    /// An admin CLI for the database at `db_url`.
    pub fn new(db_url: &str) -> Result<Self> {
        Ok(Self { bin: binary("smtpy-admin")?, db_url: db_url.to_owned(), env: Vec::new() })
    }

    /// The same CLI with more `SMTPY_*` settings (later ones win), e.g. [`crate::Secrets::env`].
    #[must_use]
    pub fn with_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(env);
        self
    }

    /// Runs `smtpy-admin ARGS` with `stdin`, whatever its exit status.
    pub async fn output(&self, args: &[&str], stdin: Option<&str>) -> Result<AdminOutput> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Only our settings: a developer's SMTPY_* variables must not leak into the test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SMTPY_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("SMTPY_DATABASE_URL", &self.db_url).env("SMTPY_LOG_LEVEL", "warn").envs(self.env.iter().cloned());
        let mut child = cmd.kill_on_drop(true).spawn().with_context(|| format!("starting {}", self.bin.display()))?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default().as_bytes()).await?;
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
            .await
            .with_context(|| format!("smtpy-admin {} did not finish within 60 s", args.join(" ")))??;
        Ok(AdminOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs `smtpy-admin ARGS`, failing with its stderr unless it succeeds; returns stdout.
    pub async fn run(&self, args: &[&str]) -> Result<String> {
        self.run_with_stdin(args, "").await
    }

    /// As [`Admin::run`], writing `stdin` to its standard input.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Result<String> {
        let out = self.output(args, Some(stdin)).await?;
        if !out.success {
            bail!("smtpy-admin {} failed:\n{}{}", args.join(" "), out.stderr, out.stdout);
        }
        Ok(out.stdout)
    }

    /// `smtpy-admin migrate`.
    pub async fn migrate(&self) -> Result<()> {
        self.run(&["migrate"]).await.map(drop)
    }

    /// `smtpy-admin alias add ADDRESS --to M1,M2`.
    pub async fn add_alias(&self, address: &str, targets: &[&str]) -> Result<()> {
        self.run(&["alias", "add", address, "--to", &targets.join(",")]).await.map(drop)
    }
}
