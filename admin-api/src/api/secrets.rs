//! Session tokens, CSRF tokens and API keys: 256-bit values from the OS random source, stored
//! only as SHA-256 hashes and compared in constant time.

use super::ApiError;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every API key starts with, so secret scanners and people recognise it.
pub const API_KEY_PREFIX: &str = "smtpy_sk_";
/// How many characters of an API key's random part are stored in clear to tell keys apart.
pub const API_KEY_SHOWN_CHARS: usize = 8;

/// 32 bytes from the OS CSPRNG.
fn random_bytes() -> Result<[u8; 32], ApiError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| ApiError::Internal("the OS random source failed".to_owned()))?;
    Ok(bytes)
}

/// A fresh 256-bit token for a cookie or a CSRF header (URL-safe base64).
pub fn new_token() -> Result<String, ApiError> {
    Ok(BASE64URL_NOPAD.encode(&random_bytes()?))
}

/// SHA-256 of a token or key, as stored.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether two stored hashes are equal, in time independent of where they differ.
pub fn hashes_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new API key: the key itself (shown once), its visible prefix and its hash.
pub struct NewKey {
    /// `smtpy_sk_` followed by 64 hex digits.
    pub key: String,
    /// The first [`API_KEY_SHOWN_CHARS`] characters after `smtpy_sk_`.
    pub prefix: String,
    /// SHA-256 of `key`.
    pub hash: [u8; 32],
}

/// Makes a new API key. Hex rather than base64 so the key selects with a double click.
pub fn new_api_key() -> Result<NewKey, ApiError> {
    let random = HEXLOWER.encode(&random_bytes()?);
    let key = format!("{API_KEY_PREFIX}{random}");
    Ok(NewKey { prefix: random[..API_KEY_SHOWN_CHARS].to_owned(), hash: hash(&key), key })
}

/// A new invitation code: 128 random bits as 32 hex digits (long enough that guessing is
/// hopeless, short enough to paste into a form), and its hash as stored.
pub fn new_invitation_code() -> Result<(String, [u8; 32]), ApiError> {
    let code = HEXLOWER.encode(&random_bytes()?[..16]);
    let hash = invitation_hash(&code);
    Ok((code, hash))
}

/// SHA-256 of an invitation code as stored, ignoring surrounding space and case.
pub fn invitation_hash(code: &str) -> [u8; 32] {
    hash(&code.trim().to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(BASE64URL_NOPAD.decode(a.as_bytes()).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn api_keys_have_the_prefix_and_hash_to_what_is_stored() {
        let k = new_api_key().unwrap();
        assert!(k.key.starts_with("smtpy_sk_"));
        assert_eq!(k.key.len(), API_KEY_PREFIX.len() + 64);
        assert_eq!(k.prefix, k.key[API_KEY_PREFIX.len()..API_KEY_PREFIX.len() + 8]);
        assert!(hashes_match(&hash(&k.key), &k.hash));
        assert!(!hashes_match(&hash("smtpy_sk_other"), &k.hash));
    }

    #[test]
    fn invitation_codes_are_128_bit_hex_and_hash_as_typed() {
        let (code, stored) = new_invitation_code().unwrap();
        assert_eq!(code.len(), 32);
        assert!(code.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(hashes_match(&invitation_hash(&format!(" {} ", code.to_uppercase())), &stored));
        assert_ne!(new_invitation_code().unwrap().0, code);
    }
}
