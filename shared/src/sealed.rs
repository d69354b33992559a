//! Secrets at rest (DKIM private keys, TOTP secrets), sealed with AES-256-GCM under the key
//! in `[secrets] key_file`.
//!
//! A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag). The caller's `context` (e.g.
//! `dkim:example.org:sel:rsa-sha256`) is the associated data, so a sealed value only opens in
//! the place it was written for: a DKIM key copied into a TOTP column fails to open.

use data_encoding::BASE64;
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use std::{fmt, os::unix::fs::PermissionsExt, path::Path};

/// The length of the key, in bytes.
pub const KEY_LEN: usize = 32;

/// The prefix of the current format; a later format gets `v2:` and both stay readable.
const PREFIX: &str = "v1:";

/// The AES-GCM tag appended to every ciphertext.
const TAG_LEN: usize = 16;

/// Why a key could not be loaded or a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file does not exist.
    #[error(
        "secret key file {path} does not exist; create it with: \
         head -c 32 /dev/urandom | base64 > {path} && chmod 600 {path}"
    )]
    MissingKeyFile {
        /// The configured path.
        path: String,
    },
    /// The key file exists but cannot be read.
    #[error("cannot read secret key file {path}: {reason}")]
    UnreadableKeyFile {
        /// The configured path.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The key file does not hold base64.
    #[error("secret key file {path} is not base64 ({reason}); it must hold 32 random bytes in base64")]
    KeyNotBase64 {
        /// The configured path.
        path: String,
        /// What the decoder said.
        reason: String,
    },
    /// The key file holds the wrong number of bytes.
    #[error("secret key file {path} holds {len} bytes; it must hold exactly 32 (in base64)")]
    WrongKeyLength {
        /// The configured path (empty for a key given in memory).
        path: String,
        /// The decoded length.
        len: usize,
    },
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random,
    /// The sealed value is not in a format we know.
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// The value did not open: another key, another context, or altered data.
    #[error("sealed value does not open: sealed with another key or for another purpose, or altered")]
    Open,
}

/// The key that seals and opens secrets at rest.
pub struct SealKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    /// Reads the base64 key from `path` (surrounding whitespace ignored). A file readable by
    /// group or others is accepted with a warning: refusing would stop mail over a chmod.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SealError::MissingKeyFile { path: shown.clone() },
            _ => SealError::UnreadableKeyFile { path: shown.clone(), reason: e.to_string() },
        })?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %shown,
                mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
                "secret key file is accessible to group or others; run: chmod 600 {shown}"
            );
        }
        let bytes = BASE64
            .decode(text.trim().as_bytes())
            .map_err(|e| SealError::KeyNotBase64 { path: shown.clone(), reason: e.to_string() })?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            SealError::WrongKeyLength { len, .. } => SealError::WrongKeyLength { path: shown, len },
            other => other,
        })
    }

    /// A fresh key as a key file holds it: 32 bytes from the OS random source, base64, with a
    /// line end (what `head -c 32 /dev/urandom | base64` writes).
    pub fn new_key_file_contents() -> Result<String, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| SealError::Random)?;
        Ok(format!("{}\n", BASE64.encode(&bytes)))
    }

    /// A key from its 32 raw bytes (tests, and keys not kept in a file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != KEY_LEN {
            return Err(SealError::WrongKeyLength { path: String::new(), len: bytes.len() });
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SealError::WrongKeyLength { path: String::new(), len: bytes.len() })?;
        Ok(Self { key: LessSafeKey::new(unbound), rng: SystemRandom::new() })
    }

    /// Seals `plaintext` for `context`: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    ///
    /// # Panics
    /// If the operating system's random source fails (`getrandom(2)` broken): without a fresh
    /// nonce there is no safe way to seal. Use [`SealKey::try_seal`] to get an error instead.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        match self.try_seal(plaintext, context) {
            Ok(sealed) => sealed,
            Err(e) => panic!("cannot seal a secret: {e}"),
        }
    }

    /// As [`SealKey::seal`], returning an error if the random source fails.
    pub fn try_seal(&self, plaintext: &[u8], context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        // A random 96-bit nonce per value: the number of values sealed under one key (DKIM
        // keys, TOTP secrets) stays far below the 2^32 bound of NIST SP 800-38D §8.3.
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut sealed)
            .map_err(|_| SealError::Malformed("plaintext too long"))?;
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", BASE64.encode(&out)))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed("unknown format (expected v1:)"))?;
        let mut bytes = BASE64.decode(encoded.as_bytes()).map_err(|_| SealError::Malformed("not base64"))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed("too short"));
        }
        let mut ciphertext = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SealError::Malformed("bad nonce"))?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| SealError::Open)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes(&[byte; KEY_LEN]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn temp_file(contents: &str, mode: u32) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("smtpy-seal-{}.key", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn round_trip() {
        let k = key(7);
        let sealed = k.seal(b"secret bytes", "dkim:example.org:s:rsa-sha256");
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains("secret"));
        let opened = k.open(&sealed, "dkim:example.org:s:rsa-sha256").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened, b"secret bytes");
    }

    #[test]
    fn same_plaintext_seals_differently() {
        let k = key(7);
        assert_ne!(k.seal(b"x", "c"), k.seal(b"x", "c"));
    }

    #[test]
    fn wrong_context_fails() {
        let k = key(7);
        let sealed = k.seal(b"secret", "dkim:example.org:s:rsa-sha256");
        assert!(matches!(k.open(&sealed, "totp:user"), Err(SealError::Open)));
    }

    #[test]
    fn tampered_fails() {
        let k = key(7);
        let sealed = k.seal(b"secret", "c");
        let mut raw = BASE64.decode(&sealed.as_bytes()[3..]).unwrap_or_else(|e| panic!("{e}"));
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let tampered = format!("v1:{}", BASE64.encode(&raw));
            assert!(matches!(k.open(&tampered, "c"), Err(SealError::Open)), "flipped byte {i}");
            raw[i] ^= 1;
        }
        assert!(matches!(k.open(&sealed[..sealed.len() - 8], "c"), Err(SealError::Open | SealError::Malformed(_))));
        assert!(matches!(k.open("v2:AAAA", "c"), Err(SealError::Malformed(_))));
        assert!(matches!(k.open("v1:AAAA", "c"), Err(SealError::Malformed(_))));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = key(7).seal(b"secret", "c");
        assert!(matches!(key(8).open(&sealed, "c"), Err(SealError::Open)));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", key(0x41)), "SealKey(<redacted>)");
    }

    #[test]
    fn load_trims_whitespace() {
        let path = temp_file(&format!("  {}\n\n", BASE64.encode(&[9u8; KEY_LEN])), 0o600);
        let loaded = SealKey::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_file(&path);
        assert_eq!(key(9).open(&loaded.seal(b"x", "c"), "c").unwrap_or_else(|e| panic!("{e}")), b"x");
    }

    #[test]
    fn load_errors_say_what_to_do() {
        let missing = std::env::temp_dir().join("smtpy-no-such-dir/secret.key");
        let e = SealKey::load(&missing).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("head -c 32 /dev/urandom | base64 >") && e.contains("smtpy-no-such-dir"), "{e}");

        let short = temp_file(&BASE64.encode(&[1u8; 16]), 0o600);
        let e = SealKey::load(&short).err();
        let _ = std::fs::remove_file(&short);
        assert!(matches!(e, Some(SealError::WrongKeyLength { len: 16, ref path }) if !path.is_empty()), "{e:?}");

        let garbage = temp_file("not base64!", 0o600);
        let e = SealKey::load(&garbage).err();
        let _ = std::fs::remove_file(&garbage);
        assert!(matches!(e, Some(SealError::KeyNotBase64 { .. })), "{e:?}");
    }

    #[test]
    fn new_key_file_contents_load() {
        let contents = SealKey::new_key_file_contents().unwrap_or_else(|e| panic!("{e}"));
        assert!(contents.ends_with('\n'));
        let path = temp_file(&contents, 0o600);
        let loaded = SealKey::load(&path);
        let _ = std::fs::remove_file(&path);
        assert!(loaded.is_ok(), "{loaded:?}");
        assert_ne!(SealKey::new_key_file_contents().ok(), Some(contents));
    }

    #[test]
    fn group_readable_key_file_still_loads() {
        let path = temp_file(&BASE64.encode(&[3u8; KEY_LEN]), 0o644);
        let loaded = SealKey::load(&path);
        let _ = std::fs::remove_file(&path);
        assert!(loaded.is_ok());
    }
}
