//! Signing forwards: DKIM with the alias domain's keys (RSA-2048, plus Ed25519 when the
//! domain has one) and an ARC set that records what we saw (DESIGN §2).
//!
//! Keys are loaded per domain on first use, decrypted with the `[secrets]` key. After a routing
//! change (the `dkim_keys` table notifies the same channel as the alias tables) the domain's
//! active key rows are read again, and opened again only if they changed: opening an RSA key
//! checks it (`RSA_check_key`, about 30 ms of CPU on the runtime thread), and any alias edit
//! anywhere is a routing change.

use crate::auth::split_headers;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults,
    arc::ArcSealer,
    common::{crypto::Ed25519Key, headers::HeaderWriter},
    dkim::{DkimSigner, Done},
};
use smtpy_shared::{
    Db, DbError,
    dkim_keys::{DkimAlgorithm, DkimSigningKey, RsaSha256Key, SIGNED_HEADERS},
    models::DkimKey,
    routing_cache::RoutingCache,
    schema::{dkim_keys, domains},
    sealed::SealKey,
};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// The ready-to-use signers of one domain.
pub struct DomainSigners {
    rsa: DkimSigner<RsaSha256Key, Done>,
    ed25519: Option<DkimSigner<Ed25519Key, Done>>,
    arc: ArcSealer<RsaSha256Key, Done>,
}

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Loading the keys failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored key cannot be opened or used.
    #[error("DKIM key of {domain}: {reason}")]
    Key {
        /// The domain.
        domain: String,
        /// What is wrong.
        reason: String,
    },
    /// mail-auth refused to sign.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A domain's signers (None: no active key), the routing generation they were last confirmed
/// at, and the key rows they were built from (id and last change, in µs, of each).
struct Entry {
    generation: u64,
    rows: Vec<(uuid::Uuid, i64)>,
    signers: Option<Arc<DomainSigners>>,
}

/// Per-domain signers, confirmed after routing changes.
pub struct KeyStore {
    seal: SealKey,
    entries: Mutex<HashMap<String, Entry>>,
    /// Times a domain's keys were opened (counted at `/metrics`).
    loads: AtomicU64,
}

impl KeyStore {
    /// A store that opens private keys with `seal`.
    pub fn new(seal: SealKey) -> Self {
        Self { seal, entries: Mutex::new(HashMap::new()), loads: AtomicU64::new(0) }
    }

    /// How many times a domain's keys were opened.
    pub fn loads(&self) -> u64 {
        // (Not `self.loads.load(..)`: diesel's `RunQueryDsl::load` is in scope.)
        AtomicU64::load(&self.loads, Ordering::Relaxed)
    }

    /// The signers of `domain`, or None when it has no active RSA key.
    pub async fn signers(
        &self,
        db: &Db,
        cache: &RoutingCache,
        domain: &str,
    ) -> Result<Option<Arc<DomainSigners>>, SignError> {
        let generation = cache.generation();
        let cached = self
            .lock()
            .get(domain)
            .filter(|e| e.generation == generation && cache.is_live())
            .map(|e| e.signers.clone());
        if let Some(signers) = cached {
            return Ok(signers);
        }
        let keys: Vec<DkimKey> = db
            .bounded(async {
                let mut conn = db.conn().await?;
                Ok(dkim_keys::table
                    .inner_join(domains::table)
                    .filter(domains::name.eq(domain))
                    .filter(dkim_keys::active.eq(true))
                    .order(dkim_keys::created_at.desc())
                    .select(DkimKey::as_select())
                    .load(&mut conn)
                    .await?)
            })
            .await?;
        let rows: Vec<_> = keys.iter().map(|k| (k.id, k.updated_at.timestamp_micros())).collect();
        let unchanged = self.lock().get_mut(domain).filter(|e| e.rows == rows).map(|e| {
            e.generation = generation;
            e.signers.clone()
        });
        if let Some(signers) = unchanged {
            return Ok(signers);
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let signers = self.build(domain, &keys)?.map(Arc::new);
        self.lock().insert(domain.to_owned(), Entry { generation, rows, signers: signers.clone() });
        Ok(signers)
    }

    fn build(&self, domain: &str, keys: &[DkimKey]) -> Result<Option<DomainSigners>, SignError> {
        let bad = |reason: String| SignError::Key { domain: domain.to_owned(), reason };
        let newest = |alg: DkimAlgorithm| keys.iter().find(|k| k.algorithm == alg.as_str());
        let Some(rsa_row) = newest(DkimAlgorithm::RsaSha256) else {
            return Ok(None);
        };
        let rsa_key = || match rsa_row.signing_key(&self.seal, domain) {
            Ok(DkimSigningKey::Rsa(key)) => Ok(key),
            Ok(DkimSigningKey::Ed25519(_)) => Err(bad("an rsa-sha256 row holds another key type".to_owned())),
            Err(e) => Err(bad(e.to_string())),
        };
        // Each signer owns its key; the clone shares the one opened (and checked) OpenSSL key.
        let key = rsa_key()?;
        let arc = ArcSealer::from_key(key.clone()).domain(domain).selector(&rsa_row.selector).headers(SIGNED_HEADERS);
        let rsa = DkimSigner::from_key(key).domain(domain).selector(&rsa_row.selector).headers(SIGNED_HEADERS);
        let ed25519 = match newest(DkimAlgorithm::Ed25519Sha256) {
            Some(row) => match row.signing_key(&self.seal, domain) {
                Ok(DkimSigningKey::Ed25519(key)) => {
                    Some(DkimSigner::from_key(key).domain(domain).selector(&row.selector).headers(SIGNED_HEADERS))
                }
                Ok(DkimSigningKey::Rsa(_)) => return Err(bad("an ed25519-sha256 row holds an RSA key".to_owned())),
                Err(e) => return Err(bad(e.to_string())),
            },
            None => None,
        };
        Ok(Some(DomainSigners { rsa, ed25519, arc }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// DKIM signatures, begun as soon as the header edits are known.
pub enum PendingDkim {
    /// Being made on a blocking thread, beside the checks and the ARC set.
    Parallel(tokio::task::JoinHandle<Result<String, SignError>>),
    /// To be made in line by [`DomainSigners::finish`], for this message.
    Inline(Arc<Vec<u8>>),
}

impl DomainSigners {
    /// Starts the DKIM signatures of `message`: on a blocking thread when `parallel`, else
    /// they are made in line by [`finish`](Self::finish) (see `busy` for the choice).
    ///
    /// They cover only [`SIGNED_HEADERS`] and the body, so `message` need not carry the fields
    /// that go on top (`Authentication-Results`, quarantine mark): the signatures can start as
    /// soon as the header edits are known, while the inbound checks still run.
    pub fn start_dkim(self: &Arc<Self>, message: Arc<Vec<u8>>, parallel: bool) -> PendingDkim {
        if !parallel {
            return PendingDkim::Inline(message);
        }
        let signers = self.clone();
        PendingDkim::Parallel(tokio::task::spawn_blocking(move || signers.dkim(&message)))
    }

    /// The header fields to prepend to `message` (which already carries our
    /// `Authentication-Results`), top first: the ARC set, then the DKIM signatures `dkim`
    /// started for the same message.
    ///
    /// `inbound` is the ARC chain as received and `results` what we found; when the chain
    /// arrived broken (cv=fail) no ARC set can be added, and the message is only DKIM-signed.
    ///
    /// The AMS covers the same fields as the DKIM signature and not the DKIM-Signature itself
    /// (as Mail::DKIM and OpenARC sign by default), so the two do not depend on each other: the
    /// ARC set is made on this thread while the DKIM signatures are made on another, and a
    /// forward waits for two RSA signatures in a row instead of three. (When `dkim` was started
    /// in line, they are made here after the ARC set.)
    pub async fn finish(
        &self,
        dkim: PendingDkim,
        message: &[u8],
        results: &AuthenticationResults<'_>,
        inbound: Option<&ArcOutput<'_>>,
    ) -> Result<Vec<(String, String)>, SignError> {
        let arc = match inbound.filter(|a| a.can_be_sealed()) {
            Some(chain) => {
                let parsed = AuthenticatedMessage::parse(message)
                    .ok_or_else(|| SignError::Sign("the message cannot be parsed".to_owned()))?;
                Some(self.arc.seal(&parsed, results, chain).map_err(failed)?.to_header())
            }
            None => None,
        };
        let dkim = match dkim {
            PendingDkim::Inline(message) => self.dkim(&message)?,
            PendingDkim::Parallel(handle) => match handle.await {
                Ok(signed) => signed?,
                // A panic on the signing thread is a panic of end of message: answered 451 and
                // counted, like any other (`callbacks::guarded`), not passed off as unsigned mail.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => return Err(SignError::Sign(format!("the DKIM signer stopped: {e}"))),
            },
        };
        let mut headers = arc.as_deref().map(split_headers).unwrap_or_default();
        headers.append(&mut split_headers(&dkim));
        Ok(headers)
    }

    /// The DKIM-Signature fields for `message`: Ed25519 (when the domain has a key) on top of
    /// RSA.
    fn dkim(&self, message: &[u8]) -> Result<String, SignError> {
        let mut dkim = String::new();
        if let Some(ed) = &self.ed25519 {
            dkim.push_str(&ed.sign(message).map_err(failed)?.to_header());
        }
        dkim.push_str(&self.rsa.sign(message).map_err(failed)?.to_header());
        Ok(dkim)
    }
}

fn failed(e: mail_auth::Error) -> SignError {
    SignError::Sign(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpy_shared::dkim_keys::generate;

    const MESSAGE: &[u8] = b"From: <a@example.com>\r\nTo: <b@example.org>\r\nSubject: hi\r\n\r\nHello.\r\n";

    fn signers() -> Arc<DomainSigners> {
        let key = generate(DkimAlgorithm::RsaSha256).unwrap_or_else(|e| panic!("{e}"));
        let rsa = || RsaSha256Key::from_pkcs8_der(&key.private_pkcs8_der).unwrap_or_else(|e| panic!("{e}"));
        Arc::new(DomainSigners {
            rsa: DkimSigner::from_key(rsa()).domain("example.org").selector("s").headers(SIGNED_HEADERS),
            ed25519: None,
            arc: ArcSealer::from_key(rsa()).domain("example.org").selector("s").headers(SIGNED_HEADERS),
        })
    }

    /// The milter's own runtime flavour: one thread, plus blocking threads for DKIM.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().max_blocking_threads(2).build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Signs `MESSAGE` as end of message does, with the DKIM signatures made on a blocking
    /// thread (`parallel`) or in line.
    fn sign(inbound: Option<&ArcOutput<'_>>, parallel: bool) -> Vec<(String, String)> {
        let runtime = runtime();
        let results = AuthenticationResults::new("mx.example.org");
        let signers = signers();
        runtime
            .block_on(async {
                let dkim = signers.start_dkim(Arc::new(MESSAGE.to_vec()), parallel);
                signers.finish(dkim, MESSAGE, &results, inbound).await
            })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn tag<'a>(value: &'a str, name: &str) -> &'a str {
        value.split(';').map(str::trim).find_map(|t| t.strip_prefix(name)?.strip_prefix('=')).unwrap_or_default()
    }

    #[test]
    fn a_forward_gets_an_arc_set_on_top_of_a_dkim_signature_it_does_not_cover() {
        for parallel in [true, false] {
            a_forward_is_sealed_and_signed(parallel);
        }
    }

    fn a_forward_is_sealed_and_signed(parallel: bool) {
        let fields = sign(Some(&ArcOutput::default()), parallel);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "DKIM-Signature"]);
        let (ams, dkim) = (&fields[1].1, &fields[3].1);
        // Made side by side, so the AMS cannot cover the DKIM signature; it covers what DKIM does.
        assert!(!tag(ams, "h").to_ascii_lowercase().contains("dkim-signature"), "{ams}");
        assert_eq!(tag(ams, "h").to_ascii_lowercase(), tag(dkim, "h").to_ascii_lowercase());
        assert_eq!(tag(ams, "bh"), tag(dkim, "bh"), "both hash the same body");
        assert!(!tag(dkim, "b").is_empty() && !tag(ams, "b").is_empty());
        assert_eq!(tag(&fields[0].1, "cv"), "none");
    }

    #[test]
    fn a_panic_on_the_signing_thread_reaches_end_of_message_as_a_panic() {
        let runtime = runtime();
        let results = AuthenticationResults::new("mx.example.org");
        let signers = signers();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async {
                let broken = PendingDkim::Parallel(tokio::task::spawn_blocking(|| -> Result<String, SignError> {
                    panic!("signer bug")
                }));
                signers.finish(broken, MESSAGE, &results, None).await
            })
        }));
        let payload = outcome.err().unwrap_or_else(|| panic!("the panic was swallowed"));
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"signer bug"));
    }

    #[test]
    fn without_a_chain_to_seal_only_the_dkim_signature_is_added() {
        let fields = sign(None, true);
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].0, "DKIM-Signature");
        assert_eq!(tag(&fields[0].1, "d"), "example.org");
    }
}
