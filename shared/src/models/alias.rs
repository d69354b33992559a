//! `aliases` and `alias_mailboxes`: addresses we receive for and where each forwards.

use crate::schema::{alias_mailboxes, aliases, mailboxes};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{fmt, str::FromStr};
use uuid::Uuid;

/// How a forward treats the headers (DESIGN §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AliasMode {
    /// `From`/`Reply-To` rewritten to reverse aliases, so replies route through us.
    #[default]
    Privacy,
    /// Headers untouched, envelope sender rewritten with SRS.
    Transparent,
}

impl AliasMode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privacy => "privacy",
            Self::Transparent => "transparent",
        }
    }
}

impl fmt::Display for AliasMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AliasMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privacy" => Ok(Self::Privacy),
            "transparent" => Ok(Self::Transparent),
            other => Err(format!("unknown mode '{other}' (expected privacy or transparent)")),
        }
    }
}

/// An alias row.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = aliases)]
pub struct Alias {
    /// Primary key.
    pub id: Uuid,
    /// The owning user.
    pub owner_id: Uuid,
    /// The hosted domain.
    pub domain_id: Uuid,
    /// Lower-cased local part; `*` for the domain's catch-all.
    pub local_part: String,
    /// `local_part@domain`, lower-cased.
    pub address: String,
    /// A disabled alias is answered `550 5.1.1`.
    pub enabled: bool,
    /// `privacy` or `transparent`.
    pub mode: String,
    /// The owner's note.
    pub note: Option<String>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form for [`Alias`].
#[derive(Debug, Insertable)]
#[diesel(table_name = aliases)]
pub struct NewAlias<'a> {
    /// The owning user.
    pub owner_id: Uuid,
    /// The hosted domain.
    pub domain_id: Uuid,
    /// Lower-cased local part or `*`.
    pub local_part: &'a str,
    /// `local_part@domain`.
    pub address: &'a str,
    /// `privacy` or `transparent`.
    pub mode: &'a str,
    /// The owner's note.
    pub note: Option<&'a str>,
}

/// An alias with the addresses of its target mailboxes.
#[derive(Clone, Debug)]
pub struct AliasWithTargets {
    /// The alias.
    pub alias: Alias,
    /// Target mailbox addresses, sorted.
    pub targets: Vec<String>,
}

impl Alias {
    /// Inserts an alias and its targets in one transaction.
    pub async fn create_with_targets(
        conn: &mut AsyncPgConnection,
        new: &NewAlias<'_>,
        mailbox_ids: &[Uuid],
    ) -> QueryResult<Self> {
        conn.transaction(async |conn| {
            let alias: Alias = diesel::insert_into(aliases::table)
                .values(new)
                .returning(Alias::as_returning())
                .get_result(conn)
                .await?;
            let rows: Vec<_> = mailbox_ids
                .iter()
                .map(|m| (alias_mailboxes::alias_id.eq(alias.id), alias_mailboxes::mailbox_id.eq(*m)))
                .collect();
            diesel::insert_into(alias_mailboxes::table).values(&rows).execute(conn).await?;
            Ok(alias)
        })
        .await
    }

    /// Every alias with its targets, by address (a sysadmin view; owners' views filter by owner).
    pub async fn list_with_targets(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AliasWithTargets>> {
        let all: Vec<Alias> = aliases::table.order(aliases::address).select(Alias::as_select()).load(conn).await?;
        let links: Vec<(Uuid, String)> = alias_mailboxes::table
            .inner_join(mailboxes::table)
            .select((alias_mailboxes::alias_id, mailboxes::address))
            .order(mailboxes::address)
            .load(conn)
            .await?;
        let mut by_alias: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
        for (alias_id, mailbox) in links {
            by_alias.entry(alias_id).or_default().push(mailbox);
        }
        Ok(all
            .into_iter()
            .map(|alias| {
                let targets = by_alias.remove(&alias.id).unwrap_or_default();
                AliasWithTargets { alias, targets }
            })
            .collect())
    }

    /// Enables or disables the alias with this address; returns whether it existed.
    pub async fn set_enabled(conn: &mut AsyncPgConnection, address: &str, enabled: bool) -> QueryResult<bool> {
        diesel::update(aliases::table.filter(aliases::address.eq(address)))
            .set(aliases::enabled.eq(enabled))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Deletes the alias with this address; returns whether it existed.
    pub async fn delete_by_address(conn: &mut AsyncPgConnection, address: &str) -> QueryResult<bool> {
        diesel::delete(aliases::table.filter(aliases::address.eq(address))).execute(conn).await.map(|n| n > 0)
    }
}
