//! Mail coming back: DSNs to our signed bounce addresses (privacy mode) and bounces to SRS
//! addresses (transparent mode). DESIGN §2, step 1: recorded, never relayed onward (bounce
//! addresses), or reversed to the original sender (SRS).

use crate::App;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use smtpy_shared::{
    Db, DbError,
    address::Address,
    bounce::{BounceError, BounceSigner},
    dsn::parse_dsn,
    schema::{messages, notifications},
    srs::{Srs, SrsError},
};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// How long a bounce address stays valid: longer than any queue lifetime (Postfix: 5 days).
pub const BOUNCE_VALID_DAYS: u64 = 30;

/// A recipient that is a return path of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnPath {
    /// A bounce address naming this message-log row.
    Bounce(Uuid),
    /// An SRS address; bounces go back to this original sender.
    Srs(String),
}

/// What a return-path-looking recipient turned out to be.
pub enum Classified {
    /// Ours and valid.
    Valid(ReturnPath),
    /// Looks like ours but does not verify (forged, tampered or expired): refuse it.
    Invalid(String),
    /// Not a return path at all.
    No,
}

/// Days since the Unix epoch (the clock of bounce and SRS addresses).
pub fn today() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400)
}

/// Tells whether `address` is one of our bounce or SRS addresses.
pub fn classify(bounces: &BounceSigner, srs: &Srs, address: &Address, today: u64) -> Classified {
    let local = address.local();
    if BounceSigner::is_bounce(local) {
        return match bounces.verify(local, address.domain(), today) {
            Ok(id) => Classified::Valid(ReturnPath::Bounce(id)),
            Err(BounceError::Expired { message_id }) => {
                Classified::Invalid(format!("expired bounce address for {message_id}"))
            }
            Err(e) => Classified::Invalid(e.to_string()),
        };
    }
    if Srs::is_srs(local) {
        return match srs.reverse(&address.to_string(), today) {
            Ok(original) => Classified::Valid(ReturnPath::Srs(original)),
            Err(SrsError::NotSrs) => Classified::No,
            Err(e) => Classified::Invalid(e.to_string()),
        };
    }
    Classified::No
}

/// The envelope sender a forward leaves with: our bounce address (privacy mode) or the SRS
/// form of the sender (transparent mode). The null sender stays null.
pub fn forward_sender(app: &App, mode: &str, sender: &str, row: Uuid, alias_domain: &str) -> Option<String> {
    if sender.is_empty() {
        return None;
    }
    let day = today();
    if mode == "transparent" {
        match app.srs.forward(sender, alias_domain, day) {
            Ok(address) => Some(address),
            Err(e) => {
                tracing::warn!("cannot SRS-rewrite {sender}: {e}; using a bounce address");
                Some(app.bounces.address(row, alias_domain, day + BOUNCE_VALID_DAYS))
            }
        }
    } else {
        Some(app.bounces.address(row, alias_domain, day + BOUNCE_VALID_DAYS))
    }
}

/// Records a DSN that came back to the bounce address of message `row`: the row (and any
/// sibling row of the same queue file) becomes `bounced` with the reported status, and the
/// owner gets a notification. Returns false when no such row exists.
pub async fn record_bounce(db: &Db, row: Uuid, dsn: &[u8]) -> Result<bool, DbError> {
    let report = parse_dsn(dsn);
    let failure = report.as_ref().and_then(|r| r.failures().next().cloned());
    let status = failure.as_ref().map_or_else(|| "5.0.0".to_owned(), |f| f.status.clone());
    let diagnostic = failure
        .as_ref()
        .and_then(|f| f.diagnostic_code.clone())
        .or_else(|| report.is_none().then(|| "the bounce was not a delivery status notification".to_owned()));
    let final_recipient = failure.as_ref().map(|f| f.final_recipient.clone());
    db.bounded(async {
        let mut conn = db.conn().await?;
        let found = conn
            .transaction(async |conn| {
                let target: Option<(Uuid, Option<String>, String)> = messages::table
                    .find(row)
                    .select((messages::owner_id, messages::queue_id, messages::recipient))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((owner_id, queue_id, alias)) = target else {
                    return Ok::<_, diesel::result::Error>(false);
                };
                let siblings = messages::table.filter(
                    messages::id.eq(row).or(messages::queue_id.eq(queue_id).and(messages::queue_id.is_not_null())),
                );
                diesel::update(siblings)
                    .set((
                        messages::status.eq("bounced"),
                        messages::bounce_status.eq(&status),
                        messages::bounce_diagnostic.eq(&diagnostic),
                        messages::bounced_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)
                    .await?;
                let body = format!(
                    "A message forwarded from {alias} to {} bounced with status {status}{}.",
                    final_recipient.as_deref().unwrap_or("your mailbox"),
                    diagnostic.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
                );
                diesel::insert_into(notifications::table)
                    .values((
                        notifications::user_id.eq(owner_id),
                        notifications::kind.eq("bounce"),
                        notifications::title.eq(format!("Forward from {alias} bounced")),
                        notifications::body.eq(body),
                        notifications::message_id.eq(row),
                    ))
                    .execute(conn)
                    .await?;
                Ok(true)
            })
            .await?;
        Ok(found)
    })
    .await
}
