//! `dkim_keys`: the DKIM key pairs of hosted domains, private halves sealed.

use crate::{
    dkim_keys::{self as keys, DkimAlgorithm, DkimKeyError, DkimSigningKey},
    schema::{dkim_keys, domains},
    sealed::SealKey,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// One key pair of a domain.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = dkim_keys)]
pub struct DkimKey {
    /// Primary key.
    pub id: Uuid,
    /// The hosted domain the key signs for.
    pub domain_id: Uuid,
    /// The DNS label under `_domainkey` where the public key is published.
    pub selector: String,
    /// `rsa-sha256` or `ed25519-sha256`.
    pub algorithm: String,
    /// The PKCS#8 DER private key, sealed with [`keys::seal_context`].
    pub private_key_sealed: String,
    /// Base64 public key as it appears in the record's `p=` tag.
    pub public_key: String,
    /// Only active keys are loaded for signing.
    pub active: bool,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sealed, but still no business in a log line.
        f.debug_struct("DkimKey")
            .field("id", &self.id)
            .field("domain_id", &self.domain_id)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Insert form for [`DkimKey`].
#[derive(Debug, Insertable)]
#[diesel(table_name = dkim_keys)]
pub struct NewDkimKey<'a> {
    /// The hosted domain.
    pub domain_id: Uuid,
    /// Lower-cased DNS label.
    pub selector: &'a str,
    /// `rsa-sha256` or `ed25519-sha256`.
    pub algorithm: &'a str,
    /// The sealed private key ([`keys::GeneratedKey::seal`]).
    pub private_key_sealed: &'a str,
    /// Base64 public key for `p=`.
    pub public_key: &'a str,
}

/// An active key with its domain's name, as the milter loads them.
#[derive(Clone, Debug)]
pub struct DomainDkimKey {
    /// The domain's (lower-cased) name, the signature's `d=`.
    pub domain: String,
    /// The key.
    pub key: DkimKey,
}

impl DkimKey {
    /// Inserts a key.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewDkimKey<'_>) -> QueryResult<Self> {
        diesel::insert_into(dkim_keys::table).values(new).returning(Self::as_returning()).get_result(conn).await
    }

    /// The domain's active keys, oldest first.
    pub async fn active_for_domain(conn: &mut AsyncPgConnection, domain_id: Uuid) -> QueryResult<Vec<Self>> {
        dkim_keys::table
            .filter(dkim_keys::domain_id.eq(domain_id))
            .filter(dkim_keys::active.eq(true))
            .order((dkim_keys::created_at, dkim_keys::selector, dkim_keys::algorithm))
            .select(Self::as_select())
            .load(conn)
            .await
    }

    /// Every active key with its domain's name, by domain then age.
    pub async fn all_active(conn: &mut AsyncPgConnection) -> QueryResult<Vec<DomainDkimKey>> {
        let rows: Vec<(String, Self)> = dkim_keys::table
            .inner_join(domains::table)
            .filter(dkim_keys::active.eq(true))
            .order((domains::name, dkim_keys::created_at, dkim_keys::selector))
            .select((domains::name, Self::as_select()))
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(|(domain, key)| DomainDkimKey { domain, key }).collect())
    }

    /// Stops signing with a key (its record may stay published for mail in flight).
    pub async fn deactivate(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
        diesel::update(dkim_keys::table.find(id)).set(dkim_keys::active.eq(false)).execute(conn).await.map(|n| n > 0)
    }

    /// The stored algorithm.
    pub fn algorithm(&self) -> Result<DkimAlgorithm, DkimKeyError> {
        self.algorithm.parse()
    }

    /// The TXT record publishing this key for `domain`: (`SELECTOR._domainkey.DOMAIN`,
    /// `v=DKIM1; k=...; p=...`).
    pub fn dns_record(&self, domain: &str) -> Result<(String, String), DkimKeyError> {
        Ok((keys::record_name(&self.selector, domain), keys::record_value(self.algorithm()?, &self.public_key)))
    }

    /// The private key (PKCS#8 DER), opened with the `[secrets]` key.
    pub fn open_private_key(&self, seal: &SealKey, domain: &str) -> Result<Vec<u8>, DkimKeyError> {
        let context = keys::seal_context(domain, &self.selector, self.algorithm()?);
        Ok(seal.open(&self.private_key_sealed, &context)?)
    }

    /// The key ready for signing as `domain`.
    pub fn signing_key(&self, seal: &SealKey, domain: &str) -> Result<DkimSigningKey, DkimKeyError> {
        keys::signing_key(self.algorithm()?, &self.open_private_key(seal, domain)?)
    }
}
