//! An independent DKIM and ARC implementation: dkimpy (Debian's python3-dkim) through
//! `e2e/tools/verify_mail.py` and `sign_mail.py`, asking only the test's DNS server. What
//! SMTPy signs with mail-auth must verify here too, or real receivers may disagree with us;
//! and what dkimpy signs stands for mail from an independent sender or forwarder.

use crate::dkim_key::DkimKey;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::{
    io::Write as _,
    net::SocketAddr,
    path::PathBuf,
    process::{Command, Stdio},
};

/// The interpreter Debian's python3-dkim is installed for (not a pyenv or venv one).
const PYTHON: &str = "/usr/bin/python3";

/// What dkimpy concluded about one message.
#[derive(Debug, Clone, Deserialize)]
pub struct DkimpyReport {
    /// One verdict per `DKIM-Signature`, topmost first.
    pub dkim: Vec<DkimVerdict>,
    /// The verdict on the ARC chain.
    pub arc: ArcVerdict,
    /// dkimpy's log lines (parsed tags, body hashes, errors): context for a failed assertion.
    pub log: Vec<String>,
}

/// dkimpy's verdict on one `DKIM-Signature`.
#[derive(Debug, Clone, Deserialize)]
pub struct DkimVerdict {
    /// The signing domain (`d=`).
    pub d: Option<String>,
    /// The selector (`s=`).
    pub s: Option<String>,
    /// The algorithm (`a=`), e.g. `rsa-sha256`.
    pub a: Option<String>,
    /// Whether the signature verified.
    pub result: bool,
    /// Why it did not verify, if it did not.
    pub reason: Option<String>,
}

/// dkimpy's verdict on the ARC chain.
#[derive(Debug, Clone, Deserialize)]
pub struct ArcVerdict {
    /// The chain validation status: `pass`, `fail` or `none` (no ARC set).
    pub cv: String,
    /// dkimpy's explanation (`success` on a pass).
    pub reason: String,
    /// Per ARC set, newest first: `instance`, `as-valid`, `ams-valid`, `cv`, domains, selectors.
    pub instances: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl DkimpyReport {
    /// Whether some `DKIM-Signature` by `domain` verified.
    pub fn dkim_pass_for(&self, domain: &str) -> bool {
        self.dkim.iter().any(|v| v.result && v.d.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(domain)))
    }

    /// Whether the ARC chain validated.
    pub fn arc_pass(&self) -> bool {
        self.arc.cv == "pass"
    }
}

/// A script in `e2e/tools/` of the source tree.
pub fn tool(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools").join(name)
}

/// Verifies every DKIM signature and the ARC chain of `message` with dkimpy, resolving keys
/// through the DNS server at `dns` only. A failed verification is a report, not an error.
pub fn verify_with_dkimpy(message: &[u8], dns: SocketAddr) -> Result<DkimpyReport> {
    let dns = dns.to_string();
    let report = run_python("verify_mail.py", &["--dns", &dns], &[], message)?;
    serde_json::from_slice(&report)
        .with_context(|| format!("parsing the verifier's report: {}", String::from_utf8_lossy(&report)))
}

/// `message` with a DKIM-Signature by dkimpy on top (relaxed/simple, rsa-sha256): mail as an
/// independent sender signs it.
pub fn sign_with_dkimpy(message: &[u8], selector: &str, domain: &str, key: &DkimKey) -> Result<Vec<u8>> {
    let env = [("SMTPY_DKIM_KEY", key.private_pem())];
    run_python("sign_mail.py", &["--domain", domain, "--selector", selector], &env, message)
}

/// `message` with the next ARC set by dkimpy on top, sealing the `Authentication-Results`
/// that `authserv_id` added (the message must carry one): mail as a forwarder passes it on.
pub fn arc_seal_with_dkimpy(
    message: &[u8],
    selector: &str,
    domain: &str,
    key: &DkimKey,
    authserv_id: &str,
) -> Result<Vec<u8>> {
    let env = [("SMTPY_DKIM_KEY", key.private_pem())];
    let args = ["--domain", domain, "--selector", selector, "--arc", authserv_id];
    run_python("sign_mail.py", &args, &env, message)
}

/// Runs `e2e/tools/SCRIPT ARGS` with Debian's python, `input` on stdin; returns its stdout.
fn run_python(script: &str, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Result<Vec<u8>> {
    let script = tool(script);
    let mut child = Command::new(PYTHON)
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {PYTHON} {}", script.display()))?;
    // The scripts read all of stdin before they print anything, so this cannot deadlock.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).with_context(|| format!("writing the message to {}", script.display()))?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{} failed ({}); are python3-dkim, python3-dnspython and python3-authres installed?\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}
