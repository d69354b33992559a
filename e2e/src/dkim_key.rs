//! DKIM keys for tests: RSA-2048 made by Debian's openssl, in the forms that signers (PEM) and
//! the test DNS zone (`v=DKIM1; k=rsa; p=...`) take.

use anyhow::{Context, Result, bail};
use std::{
    io::Write as _,
    process::{Command, Stdio},
};

/// An RSA key pair for DKIM and ARC signing.
#[derive(Clone)]
pub struct DkimKey {
    private_pem: String,
    public_base64: String,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey").field("public_base64", &self.public_base64).finish_non_exhaustive()
    }
}

impl DkimKey {
    /// A fresh RSA-2048 key (the size DESIGN section 2 signs forwards with).
    pub fn generate_rsa_2048() -> Result<Self> {
        let private_pem = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], b"")?;
        let public_pem = openssl(&["pkey", "-pubout"], private_pem.as_bytes())?;
        // The PEM body is the base64 of the SubjectPublicKeyInfo, which is what p= carries.
        let public_base64: String = public_pem.lines().filter(|line| !line.starts_with("-----")).collect();
        if public_base64.is_empty() {
            bail!("openssl printed no public key: {public_pem}");
        }
        Ok(Self { private_pem, public_base64 })
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), which dkimpy and
    /// `rustls_pki_types::PrivateKeyDer::from_pem_slice` both read.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key, base64 DER (SubjectPublicKeyInfo), as the `p=` tag carries it.
    pub fn public_base64(&self) -> &str {
        &self.public_base64
    }

    /// The DKIM key record to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn dns_record(&self) -> String {
        format!("v=DKIM1; k=rsa; p={}", self.public_base64)
    }
}

/// Runs `openssl ARGS` with `input` on stdin and returns what it printed.
fn openssl(args: &[&str], input: &[u8]) -> Result<String> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running openssl (Debian package openssl)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).context("writing to openssl")?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("openssl {} failed ({}): {}", args.join(" "), output.status, String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8(output.stdout).context("openssl printed non-UTF-8")
}
