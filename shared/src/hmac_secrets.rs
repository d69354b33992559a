//! The HMAC secrets behind SRS and bounce addresses, in postsrsd's secret-file format: one
//! secret a line, the first line signs, every line verifies. An operator rotates by putting a
//! new line first and dropping the last one after the longest address lifetime (21 days).

use std::fmt;
use std::path::{Path, PathBuf};

/// postsrsd 1.x reads its secret file with `fgets` into a 1024-byte buffer, so a longer line
/// arrives as several pieces, each of which becomes a secret of its own. We read it the same
/// way, so that one file means the same secrets to both.
const FGETS_PIECE: usize = 1023;

/// The ordered secrets of one secret file: the first signs, all verify.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSet {
    secrets: Vec<Vec<u8>>,
}

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file could not be read.
    #[error("cannot read the secret file {path}: {source}")]
    Read {
        /// The file we tried.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file (or text) holds no secret at all.
    #[error("no secret found: put one random line in it (e.g. `head -c 24 /dev/urandom | base64`)")]
    NoSecret,
    /// The named file holds no secret at all.
    #[error(
        "the secret file {path} holds no secret: put one random line in it \
         (e.g. `head -c 24 /dev/urandom | base64`)"
    )]
    NoSecretInFile {
        /// The empty file.
        path: PathBuf,
    },
}

impl SecretSet {
    /// Reads a secret file (postsrsd's format).
    pub fn load(path: &Path) -> Result<Self, SecretsError> {
        let bytes = std::fs::read(path).map_err(|source| SecretsError::Read { path: path.to_owned(), source })?;
        Self::from_bytes(&bytes).map_err(|_| SecretsError::NoSecretInFile { path: path.to_owned() })
    }

    /// Parses the text of a secret file (postsrsd's format).
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        Self::from_bytes(text.as_bytes())
    }

    /// Parses raw file bytes exactly as postsrsd 1.x does: `fgets` pieces of at most 1023
    /// bytes, each cut at its first NUL and then `strtok(piece, "\r\n")`, which skips leading
    /// CR/LF and keeps what comes before the next one; a piece with nothing left is skipped.
    fn from_bytes(bytes: &[u8]) -> Result<Self, SecretsError> {
        let mut secrets = Vec::new();
        for piece in fgets_pieces(bytes) {
            let piece = piece.split(|&b| b == 0).next().unwrap_or_default();
            let token = piece.split(|&b| b == b'\r' || b == b'\n').find(|part| !part.is_empty());
            if let Some(secret) = token {
                secrets.push(secret.to_vec());
            }
        }
        if secrets.is_empty() {
            return Err(SecretsError::NoSecret);
        }
        Ok(Self { secrets })
    }

    /// The secret that signs new addresses (the file's first secret).
    pub fn signing(&self) -> &[u8] {
        // `from_bytes` never builds an empty set.
        self.secrets.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// Every secret, the signing one first; any of them verifies.
    pub fn all(&self) -> impl Iterator<Item = &[u8]> {
        self.secrets.iter().map(Vec::as_slice)
    }

    /// How many secrets the set holds (at least one).
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Always false: a set holds at least one secret (here for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Splits `bytes` the way repeated `fgets(buf, 1024, file)` calls would.
fn fgets_pieces(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(FGETS_PIECE)];
        let end = window.iter().position(|&b| b == b'\n').map_or(window.len(), |newline| newline + 1);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSet").field("secrets", &format_args!("<{} redacted>", self.secrets.len())).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secrets(set: &SecretSet) -> Vec<&[u8]> {
        set.all().collect()
    }

    #[test]
    fn first_line_signs_every_line_verifies() {
        let set = SecretSet::parse("new-secret\nold-secret\n").unwrap();
        assert_eq!(set.signing(), b"new-secret");
        assert_eq!(secrets(&set), [&b"new-secret"[..], b"old-secret"]);
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
    }

    #[test]
    fn crlf_missing_final_newline_and_empty_lines_are_ignored() {
        let set = SecretSet::parse("\r\n\none\r\n\r\n\ntwo").unwrap();
        assert_eq!(secrets(&set), [&b"one"[..], b"two"]);
    }

    #[test]
    fn spaces_are_part_of_a_secret_as_in_postsrsd() {
        let set = SecretSet::parse(" padded \n").unwrap();
        assert_eq!(set.signing(), b" padded ");
    }

    #[test]
    fn no_secret_is_an_error() {
        for text in ["", "\n", "\r\n\r\n", "\n\n\n"] {
            assert!(matches!(SecretSet::parse(text), Err(SecretsError::NoSecret)), "{text:?}");
        }
    }

    #[test]
    fn long_lines_split_like_fgets() {
        let long = "x".repeat(1030);
        let set = SecretSet::parse(&format!("{long}\nnext\n")).unwrap();
        let expected: Vec<&[u8]> = vec![&long.as_bytes()[..1023], &long.as_bytes()[1023..], b"next"];
        assert_eq!(secrets(&set), expected);
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("smtpy-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, b"s1\ns2\n").unwrap();
        assert_eq!(secrets(&SecretSet::load(&good).unwrap()), [&b"s1"[..], b"s2"]);

        let empty = dir.join("empty");
        std::fs::write(&empty, b"\n").unwrap();
        let err = SecretSet::load(&empty).unwrap_err();
        assert!(matches!(err, SecretsError::NoSecretInFile { .. }));
        assert!(err.to_string().contains("empty"), "{err}");

        let missing = dir.join("missing");
        assert!(matches!(SecretSet::load(&missing), Err(SecretsError::Read { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let set = SecretSet::parse("hunter2\n").unwrap();
        let shown = format!("{set:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("1 redacted"), "{shown}");
    }
}
