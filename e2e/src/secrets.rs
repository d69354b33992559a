//! The secret files both binaries read at start-up: `[secrets] key_file` (seals DKIM keys
//! and TOTP secrets) and `[srs] secret_file` (postsrsd's format), one pair per test.

use anyhow::{Context, Result};
use smtpy_shared::sealed::SealKey;
use std::{
    io::Write as _,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// The secret files of one test, inside its temporary directory.
#[derive(Debug, Clone)]
pub struct Secrets {
    key_file: PathBuf,
    srs_secret_file: PathBuf,
}

impl Secrets {
    /// `DIR/secret.key` (base64 of 32 random bytes) and `DIR/srs.secret` (one random line),
    /// mode 600, each created unless it exists, so the stack and its milter share them.
    pub fn create_in(dir: &Path) -> Result<Self> {
        let secrets = Self { key_file: dir.join("secret.key"), srs_secret_file: dir.join("srs.secret") };
        write_new(&secrets.key_file, &SealKey::new_key_file_contents()?)?;
        let srs = format!("{}{}\n", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        write_new(&secrets.srs_secret_file, &srs)?;
        Ok(secrets)
    }

    /// The key file (`SMTPY_SECRETS_KEY_FILE`).
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The SRS secret file (`SMTPY_SRS_SECRET_FILE`).
    pub fn srs_secret_file(&self) -> &Path {
        &self.srs_secret_file
    }

    /// The `SMTPY_*` overrides that point a binary at these files.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SMTPY_SECRETS_KEY_FILE".to_owned(), self.key_file.display().to_string()),
            ("SMTPY_SRS_SECRET_FILE".to_owned(), self.srs_secret_file.display().to_string()),
        ]
    }
}

/// Writes `contents` to a new file of mode 600; an existing file is left as it is.
fn write_new(path: &Path, contents: &str) -> Result<()> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => file.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}
