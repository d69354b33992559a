//! Temporary directories that the `postfix` and `postgres` users can reach.

use anyhow::{Context, Result};
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

/// A directory under the system temp dir, removed on drop unless the test is panicking (then
/// kept, and its path printed, so its logs can be read) or `SMTPY_E2E_KEEP` is set.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `smtpy-e2e-<label>-<random>` with mode 755.
    pub fn new(label: &str) -> Result<Self> {
        let name = format!("smtpy-e2e-{label}-{}", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        // Postfix's daemons run as `postfix` and must traverse this directory.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SMTPY_E2E_KEEP").is_some() {
            eprintln!("smtpy-e2e: kept {} for debugging", self.path.display());
            return;
        }
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!("smtpy-e2e: could not remove {}: {err}", self.path.display());
        }
    }
}
