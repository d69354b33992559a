//! `contacts`: external senders of an alias, each with the reverse alias the owner replies
//! through (DESIGN §2, privacy mode).

use crate::schema::{aliases, contacts};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The local-part prefix of every reverse alias; alias creation refuses it.
pub const REVERSE_PREFIX: &str = "ra+";

/// A contact of an alias.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    /// Primary key.
    pub id: Uuid,
    /// The alias owner.
    pub owner_id: Uuid,
    /// The alias the contact wrote to.
    pub alias_id: Uuid,
    /// The contact's address, lower-cased.
    pub address: String,
    /// The display name the contact last used.
    pub display_name: Option<String>,
    /// `ra+...@alias-domain`.
    pub reverse_address: String,
    /// A blocked contact's mail is refused or dropped.
    pub blocked: bool,
    /// `reject` or `discard`.
    pub block_action: String,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Whether a local part is reserved for reverse aliases.
pub fn is_reverse_local(local: &str) -> bool {
    local.starts_with(REVERSE_PREFIX)
}

/// A fresh, unguessable reverse alias at `domain` (128 random bits from the OS).
pub fn new_reverse_address(domain: &str) -> String {
    let random = Uuid::new_v4();
    let token = data_encoding::BASE32_NOPAD.encode(random.as_bytes()).to_ascii_lowercase();
    format!("{REVERSE_PREFIX}{token}@{domain}")
}

impl Contact {
    /// The contact for (`alias_id`, `address`), created with a new reverse alias at
    /// `alias_domain` on first sight. A known contact is only read (an update would announce
    /// a routing change to every milter).
    pub async fn get_or_create(
        conn: &mut AsyncPgConnection,
        owner_id: Uuid,
        alias_id: Uuid,
        address: &str,
        display_name: Option<&str>,
        alias_domain: &str,
    ) -> QueryResult<Self> {
        let existing = || {
            contacts::table
                .filter(contacts::alias_id.eq(alias_id))
                .filter(contacts::address.eq(address))
                .select(Self::as_select())
        };
        if let Some(found) = existing().first(conn).await.optional()? {
            return Ok(found);
        }
        let inserted = diesel::insert_into(contacts::table)
            .values((
                contacts::owner_id.eq(owner_id),
                contacts::alias_id.eq(alias_id),
                contacts::address.eq(address),
                contacts::display_name.eq(display_name),
                contacts::reverse_address.eq(new_reverse_address(alias_domain)),
            ))
            .on_conflict((contacts::alias_id, contacts::address))
            .do_nothing()
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match inserted {
            Some(contact) => Ok(contact),
            // Another milter created it between our read and our insert.
            None => existing().first(conn).await,
        }
    }

    /// The contact owning `reverse_address`, with its alias's address and enabled flag.
    pub async fn by_reverse_address(
        conn: &mut AsyncPgConnection,
        reverse_address: &str,
    ) -> QueryResult<Option<(Self, String, bool)>> {
        contacts::table
            .inner_join(aliases::table)
            .filter(contacts::reverse_address.eq(reverse_address))
            .select((Self::as_select(), aliases::address, aliases::enabled))
            .first(conn)
            .await
            .optional()
    }
}
