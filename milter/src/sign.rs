//! Signing forwards: DKIM with the alias domain's keys (RSA-2048, plus Ed25519 when the
//! domain has one) and an ARC set that records what we saw (DESIGN §2).
//!
//! Keys are loaded per domain on first use and kept until a routing change (the `dkim_keys`
//! table notifies the same channel as the alias tables), decrypted with the `[secrets]` key.

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
    sync::{Arc, Mutex},
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

/// A domain's signers (None: no active key) and the routing generation they were loaded at.
type Entry = (u64, Option<Arc<DomainSigners>>);

/// Per-domain signers, reloaded after routing changes.
pub struct KeyStore {
    seal: SealKey,
    entries: Mutex<HashMap<String, Entry>>,
}

impl KeyStore {
    /// A store that opens private keys with `seal`.
    pub fn new(seal: SealKey) -> Self {
        Self { seal, entries: Mutex::new(HashMap::new()) }
    }

    /// The signers of `domain`, or None when it has no active RSA key.
    pub async fn signers(
        &self,
        db: &Db,
        cache: &RoutingCache,
        domain: &str,
    ) -> Result<Option<Arc<DomainSigners>>, SignError> {
        let generation = cache.generation();
        let cached = self.lock().get(domain).filter(|(at, _)| *at == generation && cache.is_live()).cloned();
        if let Some((_, signers)) = cached {
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
        let signers = self.build(domain, &keys)?.map(Arc::new);
        self.lock().insert(domain.to_owned(), (generation, signers.clone()));
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
        // Each signer owns its key (mail-auth's keys cannot be cloned), so the RSA key is
        // opened twice: once for DKIM, once for ARC.
        let rsa = DkimSigner::from_key(rsa_key()?).domain(domain).selector(&rsa_row.selector).headers(SIGNED_HEADERS);
        let mut arc_headers: Vec<&str> = SIGNED_HEADERS.to_vec();
        arc_headers.push("DKIM-Signature");
        let arc = ArcSealer::from_key(rsa_key()?).domain(domain).selector(&rsa_row.selector).headers(arc_headers);
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

impl DomainSigners {
    /// The header fields to prepend to `message` (which already carries our
    /// `Authentication-Results`), top first: the ARC set, then the DKIM signatures.
    ///
    /// `inbound` is the ARC chain as received and `results` what we found; when the chain
    /// arrived broken (cv=fail) no ARC set can be added, and the message is only DKIM-signed.
    pub fn sign(
        &self,
        message: &[u8],
        results: &AuthenticationResults<'_>,
        inbound: Option<&ArcOutput<'_>>,
    ) -> Result<Vec<(String, String)>, SignError> {
        let failed = |e: mail_auth::Error| SignError::Sign(e.to_string());
        let mut dkim = String::new();
        if let Some(ed) = &self.ed25519 {
            dkim.push_str(&ed.sign(message).map_err(failed)?.to_header());
        }
        dkim.push_str(&self.rsa.sign(message).map_err(failed)?.to_header());
        let mut headers = split_headers(&dkim);
        if let Some(arc) = inbound.filter(|a| a.can_be_sealed()) {
            // The seal covers the message as it leaves: with the DKIM signatures on top.
            let mut signed = dkim.into_bytes();
            signed.extend_from_slice(message);
            let parsed = AuthenticatedMessage::parse(&signed)
                .ok_or_else(|| SignError::Sign("the signed message cannot be parsed".to_owned()))?;
            let set = self.arc.seal(&parsed, results, arc).map_err(failed)?;
            let mut all = split_headers(&set.to_header());
            all.append(&mut headers);
            headers = all;
        }
        Ok(headers)
    }
}
