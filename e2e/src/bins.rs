//! The binaries under test, found next to the test executable (as `assert_cmd` does).

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The path of the workspace binary `name` (`smtpy-admin`, `smtpy-milter`), from
/// `SMTPY_BIN_DIR` if set, else the target directory that holds this test executable.
pub fn binary(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("SMTPY_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // target/debug/deps/e2e-<hash> -> target/debug
            let exe = std::env::current_exe().context("locating the test executable")?;
            exe.parent()
                .and_then(|deps| deps.parent())
                .map(PathBuf::from)
                .context("the test executable has no grandparent directory")?
        }
    };
    let path = dir.join(name);
    if !path.is_file() {
        bail!("{} not found: run `cargo build --bins` first", path.display());
    }
    Ok(path)
}

/// The directory of the Postfix scripts (`postfix-config/` in the source tree).
pub fn postfix_config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../postfix-config")
}
