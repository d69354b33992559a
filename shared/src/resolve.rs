//! Recipient resolution: what an RCPT TO address means to us (DESIGN §2, step 3).

use crate::{
    address::Address,
    schema::{alias_mailboxes, aliases, domains, mailboxes, users},
};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::sync::Arc;
use uuid::Uuid;

/// The verdict for one recipient address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The domain is not hosted here: none of our business.
    NotHosted,
    /// A hosted domain but no alias (or catch-all) takes it, or the domain is unverified.
    Unknown,
    /// The alias exists but its owner switched it off (or the account is disabled).
    Disabled,
    /// The alias exists but has no verified mailbox to forward to.
    NoTarget,
    /// Forward to the alias's mailboxes.
    Forward(Arc<Route>),
}

/// Where an alias forwards, as the milter needs it at end of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The alias that matched (the catch-all's own id for a catch-all match).
    pub alias_id: Uuid,
    /// Its owner, for the message log.
    pub owner_id: Uuid,
    /// The matched alias address (`*@domain` for a catch-all match).
    pub alias_address: String,
    /// Verified target mailboxes, sorted.
    pub targets: Vec<String>,
    /// `privacy` or `transparent`.
    pub mode: String,
}

/// Resolves `address` with the database: the exact alias first, then the domain's catch-all.
pub async fn resolve_recipient(conn: &mut AsyncPgConnection, address: &Address) -> QueryResult<Resolution> {
    let domain: Option<(Uuid, bool)> = domains::table
        .filter(domains::name.eq(address.domain()))
        .select((domains::id, domains::verified))
        .first(conn)
        .await
        .optional()?;
    let Some((domain_id, verified)) = domain else {
        return Ok(Resolution::NotHosted);
    };
    if !verified {
        return Ok(Resolution::Unknown);
    }
    // Exact local part before `*`: ORDER BY (local_part = '*') puts false first.
    let candidate: Option<(Uuid, Uuid, String, bool, bool, String)> = aliases::table
        .inner_join(users::table)
        .filter(aliases::domain_id.eq(domain_id))
        .filter(aliases::local_part.eq(address.local()).or(aliases::local_part.eq("*")))
        .order(aliases::local_part.eq("*"))
        .select((aliases::id, aliases::owner_id, aliases::address, aliases::enabled, users::disabled, aliases::mode))
        .first(conn)
        .await
        .optional()?;
    let Some((alias_id, owner_id, alias_address, enabled, owner_disabled, mode)) = candidate else {
        return Ok(Resolution::Unknown);
    };
    if !enabled || owner_disabled {
        return Ok(Resolution::Disabled);
    }
    let targets: Vec<String> = alias_mailboxes::table
        .inner_join(mailboxes::table)
        .filter(alias_mailboxes::alias_id.eq(alias_id))
        .filter(mailboxes::verified.eq(true))
        .select(mailboxes::address)
        .order(mailboxes::address)
        .load(conn)
        .await?;
    if targets.is_empty() {
        return Ok(Resolution::NoTarget);
    }
    Ok(Resolution::Forward(Arc::new(Route { alias_id, owner_id, alias_address, targets, mode })))
}
