//! `smtpy-admin domain dkim ...`: DKIM keys of a hosted domain.
//!
//! Standard output is a zone-file fragment (comments start with `;`), so it can be pasted
//! into a zone as it is.

use crate::AdminError;
use diesel_async::AsyncConnection;
use smtpy_shared::{
    address::normalize_domain,
    db::{Conn, is_unique_violation},
    dkim_keys::{self, DkimAlgorithm, DkimKeyError, GeneratedKey},
    models::{DkimKey, Domain, NewDkimKey},
    sealed::SealKey,
};
use std::path::Path;

/// One key about to be stored.
struct Planned {
    selector: String,
    key: GeneratedKey,
    sealed: String,
}

pub async fn generate(
    conn: &mut Conn,
    key_file: &Path,
    name: &str,
    selector: Option<&str>,
    ed25519: bool,
) -> Result<(), AdminError> {
    let domain = hosted(conn, name).await?;
    let seal = SealKey::load(key_file)
        .map_err(|e| AdminError::Invalid(format!("{e} (the path is [secrets] key_file, or SMTPY_SECRETS_KEY_FILE)")))?;
    let selector = match selector {
        Some(s) => dkim_keys::normalize_selector(s),
        None => Ok(dkim_keys::default_selector(chrono::Utc::now())),
    }
    .map_err(invalid)?;
    let mut wanted = vec![(DkimAlgorithm::RsaSha256, selector.clone())];
    if ed25519 {
        let ed_selector = dkim_keys::normalize_selector(&dkim_keys::ed25519_selector(&selector)).map_err(invalid)?;
        wanted.push((DkimAlgorithm::Ed25519Sha256, ed_selector));
    }

    let mut planned = Vec::with_capacity(wanted.len());
    for (algorithm, selector) in wanted {
        let key = dkim_keys::generate(algorithm).map_err(internal)?;
        // Refuse to store a key whose record would not verify: better now than in a bounce.
        dkim_keys::check_key_pair(algorithm, &key.private_pkcs8_der, &key.record_value(), &domain.name, &selector)
            .await
            .map_err(internal)?;
        let sealed = key.seal(&seal, &domain.name, &selector).map_err(internal)?;
        planned.push(Planned { selector, key, sealed });
    }

    // All keys or none: a half-stored pair would leave the operator unsure what to publish.
    let stored = conn
        .transaction(async |conn| {
            for p in &planned {
                let new = NewDkimKey {
                    domain_id: domain.id,
                    selector: &p.selector,
                    algorithm: p.key.algorithm.as_str(),
                    private_key_sealed: &p.sealed,
                    public_key: &p.key.public_key_b64,
                };
                DkimKey::create(conn, &new).await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await;
    match stored {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(AdminError::Exists(format!(
                "{} already has a DKIM key with selector {selector}; choose another with --selector",
                domain.name
            )));
        }
        Err(e) => return Err(e.into()),
    }

    println!("; DKIM keys for {} generated and stored sealed; publish these DNS TXT records:", domain.name);
    for p in &planned {
        println!("; {}, selector {}", p.key.algorithm, p.selector);
        let name = dkim_keys::record_name(&p.selector, &domain.name);
        println!("{}", dkim_keys::zone_file_line(&name, &p.key.record_value()));
    }
    Ok(())
}

pub async fn show(conn: &mut Conn, name: &str) -> Result<(), AdminError> {
    let domain = hosted(conn, name).await?;
    let keys = DkimKey::active_for_domain(conn, domain.id).await?;
    if keys.is_empty() {
        println!(
            "; {} has no active DKIM keys (create them with `smtpy-admin domain dkim generate {}`)",
            domain.name, domain.name
        );
        return Ok(());
    }
    println!("; active DKIM keys for {}:", domain.name);
    for key in keys {
        let (record_name, value) = key.dns_record(&domain.name).map_err(internal)?;
        println!("; {}, selector {}, created {}", key.algorithm, key.selector, key.created_at.to_rfc3339());
        println!("{}", dkim_keys::zone_file_line(&record_name, &value));
    }
    Ok(())
}

/// The hosted domain called `name`, or a clear error.
async fn hosted(conn: &mut Conn, name: &str) -> Result<Domain, AdminError> {
    let name = normalize_domain(name)?;
    Domain::by_name(conn, &name).await?.ok_or_else(|| {
        AdminError::NotFound(format!("domain {name} is not hosted here (add it with `smtpy-admin domain add`)"))
    })
}

fn invalid(e: DkimKeyError) -> AdminError {
    AdminError::Invalid(e.to_string())
}

fn internal(e: DkimKeyError) -> AdminError {
    AdminError::Internal(e.to_string())
}
