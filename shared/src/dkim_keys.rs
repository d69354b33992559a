//! DKIM keys of hosted domains: generating a key pair, the DNS record that publishes it, and
//! turning a stored private key into a signing key `mail-auth` accepts.
//!
//! Private keys are PKCS#8 DER; they reach the database only sealed ([`crate::sealed`]) with
//! the context from [`seal_context`].
//!
//! RSA keys are generated and used through OpenSSL ([`RsaSha256Key`]): an RSA-2048 signature
//! costs 0.28 ms there against 0.47 ms with `ring` (mail-auth's own backend) on our 2-core
//! machines, and every forward makes three (DKIM, ARC-Message-Signature, ARC-Seal). Ed25519
//! stays with `ring`.

use crate::sealed::{SealError, SealKey};
use chrono::{DateTime, Utc};
use data_encoding::BASE64;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, ResolverCache, Txt,
    common::{
        crypto::{Algorithm, Ed25519Key, HashOutput, Sha256, SigningKey},
        headers::{HeaderWriter, Writable, Writer},
        parse::TxtRecordParser,
        verify::DomainKey,
    },
    dkim::DkimSigner,
    hickory_resolver::config::{ResolverConfig, ResolverOpts},
};
use openssl::{hash::MessageDigest, pkey::PKey, pkey::Private, rsa::Rsa, sign::Signer};
use ring::signature::KeyPair;
use std::{borrow::Borrow, fmt, hash::Hash, str::FromStr, time::Instant};

/// RSA modulus size: 2048 bits is what RFC 8301 §3.2 asks signers for and what every DNS
/// provider's TXT records hold without trouble.
pub const RSA_BITS: usize = 2048;

/// The longest string one TXT character-string may hold (RFC 1035 §3.3.14).
pub const TXT_STRING_MAX: usize = 255;

/// The headers we ask signers to cover (RFC 6376 §5.4.1 recommends at least these).
pub const SIGNED_HEADERS: [&str; 7] = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To"];

/// A DKIM signing algorithm, as stored in `dkim_keys.algorithm` and written in `a=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DkimAlgorithm {
    /// `rsa-sha256` (RFC 6376), understood by every verifier.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463), short keys, not yet understood everywhere.
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The stored name, also the `a=` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The record's `k=` tag value.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa",
            Self::Ed25519Sha256 => "ed25519",
        }
    }
}

impl fmt::Display for DkimAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DkimAlgorithm {
    type Err = DkimKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rsa-sha256" => Ok(Self::RsaSha256),
            "ed25519-sha256" => Ok(Self::Ed25519Sha256),
            other => Err(DkimKeyError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// What can go wrong with a DKIM key.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    /// An algorithm name we do not know.
    #[error("unknown DKIM algorithm '{0}' (expected rsa-sha256 or ed25519-sha256)")]
    UnknownAlgorithm(String),
    /// A selector that is not one DNS label.
    #[error(
        "invalid DKIM selector '{0}': use one DNS label of letters, digits and inner hyphens, at most 63 characters"
    )]
    InvalidSelector(String),
    /// Key generation failed.
    #[error("cannot generate a {algorithm} key: {reason}")]
    Generate {
        /// The algorithm asked for.
        algorithm: DkimAlgorithm,
        /// The library's reason.
        reason: String,
    },
    /// A private key the signer does not accept.
    #[error("the {algorithm} private key is not usable for signing: {reason}")]
    UnusableKey {
        /// The key's algorithm.
        algorithm: DkimAlgorithm,
        /// The library's reason.
        reason: String,
    },
    /// A signature over a test message did not verify against the DNS record.
    #[error("the key pair failed its sign-and-verify check: {0}")]
    CheckFailed(String),
    /// The sealed private key does not open.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A fresh key pair.
pub struct GeneratedKey {
    /// Its algorithm.
    pub algorithm: DkimAlgorithm,
    /// The private key, PKCS#8 DER.
    pub private_pkcs8_der: Vec<u8>,
    /// The public key in base64, exactly as it goes in `p=`: SubjectPublicKeyInfo for RSA
    /// (what `openssl rsa -pubout` gives, RFC 6376 §3.6.1), the raw 32 bytes for Ed25519
    /// (RFC 8463 §4).
    pub public_key_b64: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("private_pkcs8_der", &"<redacted>")
            .field("public_key_b64", &self.public_key_b64)
            .finish()
    }
}

impl GeneratedKey {
    /// The private key sealed for `domain` and `selector`, ready for `dkim_keys`.
    pub fn seal(&self, key: &SealKey, domain: &str, selector: &str) -> Result<String, DkimKeyError> {
        Ok(key.try_seal(&self.private_pkcs8_der, &seal_context(domain, selector, self.algorithm))?)
    }

    /// The TXT record value publishing this key.
    pub fn record_value(&self) -> String {
        record_value(self.algorithm, &self.public_key_b64)
    }
}

/// Generates a key pair from the operating system's random source.
pub fn generate(algorithm: DkimAlgorithm) -> Result<GeneratedKey, DkimKeyError> {
    let failed = |reason: String| DkimKeyError::Generate { algorithm, reason };
    let (private_pkcs8_der, public_key) = match algorithm {
        DkimAlgorithm::RsaSha256 => {
            let openssl_failed = |e: openssl::error::ErrorStack| failed(e.to_string());
            let bits = u32::try_from(RSA_BITS).map_err(|e| failed(e.to_string()))?;
            let private = PKey::from_rsa(Rsa::generate(bits).map_err(openssl_failed)?).map_err(openssl_failed)?;
            (
                private.private_key_to_pkcs8().map_err(openssl_failed)?,
                private.public_key_to_der().map_err(openssl_failed)?,
            )
        }
        DkimAlgorithm::Ed25519Sha256 => {
            let rng = ring::rand::SystemRandom::new();
            let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| failed(e.to_string()))?;
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(der.as_ref()).map_err(|e| failed(e.to_string()))?;
            (der.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
    };
    // What we store must be what the signer reads; find out now rather than at the first mail.
    signing_key(algorithm, &private_pkcs8_der)?;
    Ok(GeneratedKey { algorithm, private_pkcs8_der, public_key_b64: BASE64.encode(&public_key) })
}

/// A private key ready for `mail-auth`'s [`DkimSigner`].
pub enum DkimSigningKey {
    /// An `rsa-sha256` key.
    Rsa(RsaSha256Key),
    /// An `ed25519-sha256` key.
    Ed25519(Ed25519Key),
}

impl fmt::Debug for DkimSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "DkimSigningKey::Rsa(<redacted>)",
            Self::Ed25519(_) => "DkimSigningKey::Ed25519(<redacted>)",
        })
    }
}

impl DkimSigningKey {
    /// The `DKIM-Signature:` header (with its CRLF) for `message`, signed as `domain`/`selector`
    /// over the [`SIGNED_HEADERS`] the message has.
    pub fn sign(self, domain: &str, selector: &str, message: &[u8]) -> Result<String, DkimKeyError> {
        fn with<K: SigningKey<Hasher = Sha256>>(
            key: K,
            domain: &str,
            selector: &str,
            message: &[u8],
        ) -> mail_auth::Result<String> {
            let signature =
                DkimSigner::from_key(key).domain(domain).selector(selector).headers(SIGNED_HEADERS).sign(message)?;
            Ok(signature.to_header())
        }
        match self {
            Self::Rsa(key) => with(key, domain, selector, message),
            Self::Ed25519(key) => with(key, domain, selector, message),
        }
        .map_err(|e| DkimKeyError::CheckFailed(format!("signing failed: {e}")))
    }
}

/// Reads a PKCS#8 DER private key the way the milter will sign with it.
pub fn signing_key(algorithm: DkimAlgorithm, pkcs8_der: &[u8]) -> Result<DkimSigningKey, DkimKeyError> {
    match algorithm {
        DkimAlgorithm::RsaSha256 => RsaSha256Key::from_pkcs8_der(pkcs8_der)
            .map(DkimSigningKey::Rsa)
            .map_err(|reason| DkimKeyError::UnusableKey { algorithm, reason }),
        DkimAlgorithm::Ed25519Sha256 => Ed25519Key::from_pkcs8_der(pkcs8_der)
            .map(DkimSigningKey::Ed25519)
            .map_err(|e| DkimKeyError::UnusableKey { algorithm, reason: e.to_string() }),
    }
}

/// An RSA private key that signs `rsa-sha256` (PKCS#1 v1.5) through OpenSSL, for
/// `mail-auth`'s DKIM signer and ARC sealer. A clone shares the same OpenSSL key.
#[derive(Clone)]
pub struct RsaSha256Key {
    key: PKey<Private>,
}

impl RsaSha256Key {
    /// Reads a PKCS#8 DER RSA private key; refuses keys under 1024 bits (RFC 8301 §3.2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        let key = PKey::private_key_from_pkcs8(der).map_err(|e| e.to_string())?;
        let rsa = key.rsa().map_err(|_| "not an RSA key".to_owned())?;
        rsa.check_key().map_err(|e| e.to_string())?;
        if rsa.size() * 8 < 1024 {
            return Err(format!("an RSA key of {} bits is too short to sign with", rsa.size() * 8));
        }
        Ok(Self { key })
    }
}

impl SigningKey for RsaSha256Key {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let crypto = |e: openssl::error::ErrorStack| mail_auth::Error::CryptoError(e.to_string());
        let mut data = SignedBytes(Vec::with_capacity(1024));
        input.write(&mut data);
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).map_err(crypto)?;
        signer.update(&data.0).map_err(crypto)?;
        signer.sign_to_vec().map_err(crypto)
    }

    /// The body hash (`bh=`) of the DKIM signature and of the ARC-Message-Signature: the same
    /// SHA-256 as mail-auth's own, fed through [`BufferedSha256`].
    fn hash(&self, data: impl Writable) -> HashOutput {
        let mut hasher = BufferedSha256::new();
        data.write(&mut hasher);
        hasher.finish()
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}

/// What an RSA signature covers (the canonicalized header fields), collected for OpenSSL.
/// Relaxed canonicalization writes it a byte at a time: a push each, where `Vec<u8>`'s own
/// `Writer` calls memcpy for every byte.
struct SignedBytes(Vec<u8>);

impl Writer for SignedBytes {
    #[inline]
    fn write(&mut self, data: &[u8]) {
        if let [byte] = data {
            self.0.push(*byte);
        } else {
            self.0.extend_from_slice(data);
        }
    }
}

/// SHA-256 that takes its input in blocks.
///
/// mail-auth's relaxed body canonicalization hands the hasher the body one byte at a time,
/// and each `ring::digest::Context::update` call has a fixed cost: with 32 KB bodies, `perf`
/// put 0.17 ms per forward in `update` alone (two body hashes: DKIM and ARC). Collected here
/// and passed on in 4 KB blocks, the bytes cost a store each.
struct BufferedSha256 {
    context: ring::digest::Context,
    pending: Vec<u8>,
}

impl BufferedSha256 {
    /// How much is collected before it is hashed.
    const BLOCK: usize = 4096;

    /// An empty hash.
    fn new() -> Self {
        Self { context: ring::digest::Context::new(&ring::digest::SHA256), pending: Vec::with_capacity(Self::BLOCK) }
    }

    /// The digest of everything written.
    fn finish(mut self) -> HashOutput {
        self.context.update(&self.pending);
        HashOutput::Ring(self.context.finish())
    }

    /// Writes `data` that is not a single byte to go into a non-full block.
    fn write_block(&mut self, data: &[u8]) {
        if self.pending.len() + data.len() > Self::BLOCK {
            self.context.update(&self.pending);
            self.pending.clear();
        }
        if data.len() >= Self::BLOCK {
            self.context.update(data);
        } else {
            self.pending.extend_from_slice(data);
        }
    }
}

impl Writer for BufferedSha256 {
    #[inline]
    fn write(&mut self, data: &[u8]) {
        // The common case, one byte: a push, not a call to memcpy.
        if let [byte] = data
            && self.pending.len() < Self::BLOCK
        {
            self.pending.push(*byte);
            return;
        }
        self.write_block(data);
    }
}

/// The associated data a DKIM private key is sealed with, binding it to its row.
pub fn seal_context(domain: &str, selector: &str, algorithm: DkimAlgorithm) -> String {
    format!("dkim:{domain}:{selector}:{algorithm}")
}

/// The selector used when none is given: `smtpy<YYYYMM>`, so a rotation a month later gets a
/// new name without the operator choosing one.
pub fn default_selector(now: DateTime<Utc>) -> String {
    format!("smtpy{}", now.format("%Y%m"))
}

/// The selector for the Ed25519 key generated next to the RSA key `selector`: one selector
/// cannot publish both, since its TXT record must be unique (RFC 6376 §3.6.2.2).
pub fn ed25519_selector(selector: &str) -> String {
    format!("{selector}-ed25519")
}

/// Lower-cases `selector` and checks that it is one DNS label (as the table's CHECK does).
pub fn normalize_selector(selector: &str) -> Result<String, DkimKeyError> {
    let s = selector.trim().to_ascii_lowercase();
    let bytes = s.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-');
    if valid { Ok(s) } else { Err(DkimKeyError::InvalidSelector(selector.to_owned())) }
}

/// Where the key is published: `SELECTOR._domainkey.DOMAIN` (RFC 6376 §3.6.2.1).
pub fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// The TXT value publishing a public key: `v=DKIM1; k=rsa; p=...`.
pub fn record_value(algorithm: DkimAlgorithm, public_key_b64: &str) -> String {
    format!("v=DKIM1; k={}; p={public_key_b64}", algorithm.key_type())
}

/// `value` cut into TXT character-strings of at most [`TXT_STRING_MAX`] bytes; a verifier
/// joins them back without separators (RFC 6376 §3.6.2.2).
pub fn txt_strings(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while rest.len() > TXT_STRING_MAX {
        let mut cut = TXT_STRING_MAX;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

/// One zone-file line: `NAME. IN TXT "..." "..."`, the value split as [`txt_strings`] does.
pub fn zone_file_line(name: &str, value: &str) -> String {
    let strings: Vec<String> = txt_strings(value)
        .into_iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{name}. IN TXT {}", strings.join(" "))
}

/// A resolver cache holding the one TXT record under test, so verification needs no DNS.
struct OneRecord {
    name: String,
    txt: Txt,
}

impl ResolverCache<String, Txt> for OneRecord {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        (self.name.borrow() == name).then(|| self.txt.clone())
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: String, _: Txt, _: Instant) {}
}

/// Signs a small message with `private_pkcs8_der` and verifies it as a receiver would, with
/// `record` (a TXT value) served for `SELECTOR._domainkey.DOMAIN`: proof that the stored key
/// and the published record belong together before anyone publishes it.
pub async fn check_key_pair(
    algorithm: DkimAlgorithm,
    private_pkcs8_der: &[u8],
    record: &str,
    domain: &str,
    selector: &str,
) -> Result<(), DkimKeyError> {
    let message = format!(
        "From: <dkim-check@{domain}>\r\nTo: <postmaster@{domain}>\r\nSubject: DKIM key check\r\n\
         Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <dkim-check@{domain}>\r\n\r\nHello.\r\n"
    );
    let header = signing_key(algorithm, private_pkcs8_der)?.sign(domain, selector, message.as_bytes())?;
    let signed = format!("{header}{message}").into_bytes();
    let parsed = AuthenticatedMessage::parse(&signed)
        .ok_or_else(|| DkimKeyError::CheckFailed("the signed test message does not parse".to_owned()))?;
    let key = DomainKey::parse(record.as_bytes())
        .map_err(|e| DkimKeyError::CheckFailed(format!("the DNS record does not parse: {e}")))?;
    let cache = OneRecord { name: format!("{}.", record_name(selector, domain)), txt: Txt::from(key) };
    // No name servers: everything must come from the cache above.
    let authenticator = MessageAuthenticator::new(ResolverConfig::default(), ResolverOpts::default())
        .map_err(|e| DkimKeyError::CheckFailed(format!("cannot build the verifier: {e}")))?;
    let params = mail_auth::Parameters::new(&parsed).with_txt_cache(&cache);
    let results = authenticator.verify_dkim(params).await;
    match results.as_slice() {
        [one] if *one.result() == DkimResult::Pass => Ok(()),
        [one] => Err(DkimKeyError::CheckFailed(format!("verification gave {:?}", one.result()))),
        other => Err(DkimKeyError::CheckFailed(format!("expected one signature result, got {}", other.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(algorithm: DkimAlgorithm) -> GeneratedKey {
        generate(algorithm).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn buffered_sha256_matches_sha256_for_any_split_of_the_input() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expected = ring::digest::digest(&ring::digest::SHA256, &data);
        // Byte by byte (as relaxed canonicalization writes), around the block size, and at once.
        for sizes in [vec![1], vec![4095, 1, 2], vec![4096], vec![4097, 3], vec![100, 9000], vec![20_000]] {
            let mut hasher = BufferedSha256::new();
            let mut rest = data.as_slice();
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                hasher.write(chunk);
                rest = tail;
            }
            assert_eq!(hasher.finish().as_ref(), expected.as_ref(), "chunks of {sizes:?}");
        }
        let empty = ring::digest::digest(&ring::digest::SHA256, b"");
        assert_eq!(BufferedSha256::new().finish().as_ref(), empty.as_ref());
    }

    #[test]
    fn rsa_body_hash_is_mail_auths_sha256_of_the_canonical_body() {
        use mail_auth::{common::crypto::HashImpl, dkim::Canonicalization};
        let key = RsaSha256Key::from_pkcs8_der(&generated(DkimAlgorithm::RsaSha256).private_pkcs8_der)
            .unwrap_or_else(|e| panic!("{e}"));
        let body = b"Hello,  world \r\n\r\n\ttabbed\tline\r\n.dot\r\n\r\n\r\n".repeat(500);
        for c in [Canonicalization::Relaxed, Canonicalization::Simple] {
            let ours = key.hash(c.canonical_body(&body, u64::MAX));
            let mut theirs = <Sha256 as HashImpl>::hasher();
            c.canonical_body(&body, u64::MAX).write(&mut theirs);
            assert_eq!(ours.as_ref(), mail_auth::common::crypto::HashContext::complete(theirs).as_ref(), "{c:?}");
        }
    }

    #[tokio::test]
    async fn generated_keys_sign_and_verify_against_their_record() {
        for algorithm in [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256] {
            let key = generated(algorithm);
            check_key_pair(algorithm, &key.private_pkcs8_der, &key.record_value(), "example.org", "sel")
                .await
                .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        }
    }

    #[tokio::test]
    async fn a_record_of_another_key_fails_the_check() {
        let (a, b) = (generated(DkimAlgorithm::Ed25519Sha256), generated(DkimAlgorithm::Ed25519Sha256));
        let checked =
            check_key_pair(DkimAlgorithm::Ed25519Sha256, &a.private_pkcs8_der, &b.record_value(), "example.org", "s")
                .await;
        assert!(matches!(checked, Err(DkimKeyError::CheckFailed(_))), "{checked:?}");
    }

    #[test]
    fn key_shapes_are_as_published() {
        let ed = generated(DkimAlgorithm::Ed25519Sha256);
        assert_eq!(BASE64.decode(ed.public_key_b64.as_bytes()).map(|k| k.len()).ok(), Some(32));
        assert!(ed.record_value().starts_with("v=DKIM1; k=ed25519; p="));
        let rsa = generated(DkimAlgorithm::RsaSha256);
        // SubjectPublicKeyInfo of a 2048-bit key: 294 bytes, 392 base64 characters.
        assert_eq!(rsa.public_key_b64.len(), 392, "{}", rsa.public_key_b64);
        assert!(rsa.record_value().starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
        assert!(!format!("{rsa:?}").contains(&BASE64.encode(&rsa.private_pkcs8_der)[..40]));
    }

    #[test]
    fn sealed_private_key_opens_only_in_its_place() {
        let seal = SealKey::from_bytes(&[5; 32]).unwrap_or_else(|e| panic!("{e}"));
        let key = generated(DkimAlgorithm::Ed25519Sha256);
        let sealed = key.seal(&seal, "example.org", "sel").unwrap_or_else(|e| panic!("{e}"));
        let context = seal_context("example.org", "sel", DkimAlgorithm::Ed25519Sha256);
        assert_eq!(context, "dkim:example.org:sel:ed25519-sha256");
        let opened = seal.open(&sealed, &context).unwrap_or_else(|e| panic!("{e}"));
        assert!(signing_key(DkimAlgorithm::Ed25519Sha256, &opened).is_ok());
        assert!(seal.open(&sealed, &seal_context("example.net", "sel", DkimAlgorithm::Ed25519Sha256)).is_err());
    }

    #[test]
    fn signing_key_refuses_garbage_and_the_wrong_algorithm() {
        let ed = generated(DkimAlgorithm::Ed25519Sha256);
        assert!(signing_key(DkimAlgorithm::RsaSha256, &ed.private_pkcs8_der).is_err());
        assert!(signing_key(DkimAlgorithm::Ed25519Sha256, b"not a key").is_err());
    }

    #[test]
    fn txt_strings_are_at_most_255_bytes_and_join_back() {
        let value = record_value(DkimAlgorithm::RsaSha256, &"A".repeat(392));
        let strings = txt_strings(&value);
        assert_eq!(strings.len(), 2);
        assert!(strings.iter().all(|s| s.len() <= TXT_STRING_MAX));
        assert_eq!(strings.concat(), value);
        assert_eq!(txt_strings("short"), ["short"]);
        let line = zone_file_line("s._domainkey.example.org", &value);
        assert!(line.starts_with("s._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=A"), "{line}");
        assert_eq!(line.matches('"').count(), 4, "{line}");
    }

    #[test]
    fn selectors() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z").map(|t| t.with_timezone(&Utc));
        assert_eq!(now.map(default_selector).ok().as_deref(), Some("smtpy202611"));
        assert_eq!(normalize_selector(" Mail-2026 ").ok().as_deref(), Some("mail-2026"));
        for bad in ["", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(normalize_selector(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ed25519_selector("smtpy202611"), "smtpy202611-ed25519");
        assert_eq!("ed25519-sha256".parse::<DkimAlgorithm>().ok(), Some(DkimAlgorithm::Ed25519Sha256));
        assert!("rsa-sha1".parse::<DkimAlgorithm>().is_err());
    }
}
